"""gc.mem_free() around one full sans-IO session run (issue 10, run on every runtime;
the qemu figure is the one guarded): connect, subscribe, 200 QoS 0 + 50 QoS 1
publishes (each acked), one inbound QoS 2 exchange, disconnect. Prints one record:
free before the session exists, after the run with the session still held, and after
it is released (gc.collect() before each reading; None under CPython)."""

import gc
import json

import mqtt5.session as S
from session_fake import (connack, suback, publish, ack, feed, out, types, kinds,
                          PUBACK, PUBREL, PUBREC, PUBCOMP, DISCONNECT)

TOPIC = "fieldnode/v1/node-1/state/temp"
PAYLOAD = b"\x01\x00\x2a" + b"\x00" * 13


def free():
    gc.collect()
    return gc.mem_free() if hasattr(gc, "mem_free") else None


def write_all(s):
    mv = s.data_to_send()
    if mv is not None:
        s.sent(len(mv))


def session_run():
    s = S.Session(client_id="heap-run")
    s.connect(0)
    out(s)
    assert kinds(feed(s, connack())) == [S.CONNECTED]
    pid = s.subscribe([("fieldnode/v1/node-1/cmd/#", 2)])
    assert types(out(s)) == [8]
    assert kinds(feed(s, suback(pid, [2]))) == [S.SUBSCRIBED]
    for _ in range(200):
        s.publish(TOPIC, PAYLOAD, 0)
        write_all(s)
    done = 0
    for _ in range(50):
        pid = s.publish(TOPIC, PAYLOAD, 1)
        write_all(s)
        done += kinds(feed(s, ack(PUBACK, pid))).count(S.PUBLISH_DONE)
    assert done == 50, done
    evs = feed(s, publish("fieldnode/v1/node-1/cmd/led", b"on", qos=2, pid=7))
    assert kinds(evs) == [S.MESSAGE] and evs[0]["payload"] == b"on", evs
    assert types(out(s)) == [PUBREC]
    feed(s, ack(PUBREL, 7))
    assert types(out(s)) == [PUBCOMP]
    s.disconnect()
    assert types(out(s)) == [DISCONNECT]
    assert not s.is_connected
    return s


before = free()
session = session_run()
held = free()
del session
released = free()
print(json.dumps({"step": "heap_run", "before": before, "held": held, "released": released}))
