"""Heap bytes allocated per message through the session (MicroPython gc.mem_alloc).

Each scenario is what an adapter does per message: publish + data_to_send/sent, or
recv_buffer/received + next_event until None.  GC is disabled while measuring so the
delta is what was allocated.  Under CPython the records say bytes_per_msg None.
"""

import gc
import json

import mqtt5.session as S
import mqtt5.properties as P
from session_fake import (connected, out, publish, ack, PUBACK)

N = 40
TOPIC = "fieldnode/v1/node-1/state/temp"
PAYLOAD = b"\x01\x00\x2a" + b"\x00" * 13


def write_all(s):
    mv = s.data_to_send()
    if mv is not None:
        s.sent(len(mv))


def read(s, data):
    mv = s.recv_buffer()
    n = len(data)
    mv[:n] = data
    s.received(n, 0)
    while s.next_event() is not None:
        pass


def measure(step, s):
    step(s, 0)  # warm up (first-use allocations)
    if not hasattr(gc, "mem_alloc"):
        return None
    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    for i in range(N):
        step(s, i)
    m1 = gc.mem_alloc()
    gc.enable()
    return (m1 - m0) // N


def pub_qos0(s, i):
    s.publish(TOPIC, PAYLOAD, 0)
    write_all(s)


TOPIC_B = TOPIC.encode()


def pub_qos0_bytes_topic(s, i):
    s.publish(TOPIC_B, PAYLOAD, 0)  # a bytes topic spares the codec's UTF-8 encode
    write_all(s)


PUBACKS = [ack(PUBACK, pid) for pid in range(1, N + 3)]


def pub_qos1(s, i):
    pid = s.publish(TOPIC, PAYLOAD, 1)
    write_all(s)
    read(s, PUBACKS[pid - 1])


IN_QOS0 = publish(TOPIC, PAYLOAD, 0)
IN_QOS1 = publish(TOPIC, PAYLOAD, 1, pid=9)


def in_qos0(s, i):
    read(s, IN_QOS0)


def in_qos1(s, i):
    read(s, IN_QOS1)
    write_all(s)


def idle_tick(s, i):
    s.tick(i)


def construct(**kw):
    """Heap bytes one Session holds (buffers, slots, event), measured once."""
    if not hasattr(gc, "mem_alloc"):
        return None
    gc.collect()
    m0 = gc.mem_alloc()
    s = S.Session("node-1", **kw)
    gc.collect()
    n = gc.mem_alloc() - m0
    del s
    return n


ALIASES = {P.TOPIC_ALIAS_MAXIMUM: 10}


def main():
    for name, kw in (("session_default", {}),
                     ("session_small", {"rx_size": 512, "tx_size": 512, "max_inflight": 4,
                                        "receive_maximum": 4})):
        print(json.dumps({"test": name, "ok": True, "bytes": construct(**kw)}))
    for name, step, ck in (("publish_qos0", pub_qos0, None),
                           ("publish_qos0_bytes_topic", pub_qos0_bytes_topic, None),
                           ("publish_qos1_puback", pub_qos1, None),
                           # the server allows topic aliases: repeats go out alias-only
                           ("publish_qos0_alias", pub_qos0, ALIASES),
                           ("publish_qos1_puback_alias", pub_qos1, ALIASES),
                           ("inbound_qos0", in_qos0, None),
                           ("inbound_qos1_puback", in_qos1, None),
                           ("tick", idle_tick, None)):
        s = connected(keepalive=3600, max_inflight=4, connack_props=ck,
                      topic_alias_out=8 if ck else 0)
        out(s)
        rec = {"test": name, "ok": True, "bytes_per_msg": None}
        try:
            rec["bytes_per_msg"] = measure(step, s)
        except Exception as e:  # noqa: BLE001
            rec["ok"] = False
            rec["error"] = "%s: %s" % (type(e).__name__, e)
        print(json.dumps(rec))


main()
