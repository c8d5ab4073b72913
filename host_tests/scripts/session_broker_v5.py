"""The sans-IO session against a real Mosquitto (both runtimes): session resumption
after a cut, outbound topic aliases, send quota, and (second mode) the broker's Maximum
Packet Size.

usage: session_broker_v5.py PORT CLIENT_ID MODE     MODE: resume | maxsize
Prints one JSON record per check ({"test": ..., "ok": ...}).
"""

import json
import sys
import time

import mqtt5.session as S
from mqtt5.errors import MQTTError
from session_broker import Link, kinds, now_ms

CID = sys.argv[2]
MODE = sys.argv[3]
T = "fieldnode/test/%s/" % CID
checks = []


def check(name, cond, detail=""):
    checks.append(bool(cond))
    print(json.dumps({"test": name, "ok": bool(cond), "error": "" if cond else detail}))


def receiver():
    rx = S.Session(CID + "-rx", keepalive=30, topic_alias_maximum=4)
    rx.connect(now_ms())
    rl = Link(rx)
    rl.pump(lambda e: kinds(e, S.CONNECTED))
    rx.subscribe([(T + "data/#", 2)])
    rl.pump(lambda e: kinds(e, S.SUBSCRIBED))
    return rx, rl


def cut(link, s):
    """Write what is queued, give the broker time to act on it, close the socket
    without reading its answers: our acks are lost, theirs too."""
    out = s.data_to_send()
    if out is not None:
        link.sock.send(bytes(out))
        s.sent(len(out), now_ms())
    time.sleep(0.3)
    link.sock.close()
    s.connection_lost(now_ms())


def resume():
    rx, rl = receiver()
    s = S.Session(CID, keepalive=30, session_expiry=300, rx_size=1024, tx_size=1024,
                  max_inflight=8, topic_alias_out=4)
    s.connect(now_ms())
    link = Link(s)
    link.pump(lambda e: kinds(e, S.CONNECTED))
    check("send_quota_from_broker", s.send_quota() == s.receive_maximum_out > 0,
          "%r %r" % (s.send_quota(), s.receive_maximum_out))
    check("broker_allows_aliases", s.server_topic_alias_maximum > 0,
          str(s.server_topic_alias_maximum))

    # aliases: the same topic three times, the second and third alias-only (their
    # PUBLISH shorter by the topic's bytes, less the alias property's 3)
    sizes = []
    for i in range(3):
        before = s.pending_bytes()
        s.publish(T + "data/alias", b"a%d" % i, 0)
        sizes.append(s.pending_bytes() - before)
    n = len((T + "data/alias").encode())
    check("aliases_sent_without_the_topic", sizes[1] == sizes[2] == sizes[0] - n,
          "%r, topic %d B" % (sizes, n))
    link.pump(lambda e: s.data_to_send() is None)
    evs = rl.pump(lambda e: len(kinds(e, S.MESSAGE)) == 3)
    got = [(m["topic"], m["payload"]) for m in kinds(evs, S.MESSAGE)]
    check("aliases_delivered_with_full_topic",
          got == [(T + "data/alias", b"a%d" % i) for i in range(3)], repr(got))
    rl.events[:] = []

    # QoS 1 and 2 in flight, the link cut before any ack is read
    p1 = s.publish(T + "data/q1", b"one", 1)
    p2 = s.publish(T + "data/q2", b"two", 2)
    cut(link, s)
    s.connect(now_ms(), clean_start=False)
    link = Link(s)
    evs = link.pump(lambda e: len(kinds(e, S.PUBLISH_DONE)) == 2)
    con = kinds(evs, S.CONNECTED)
    check("session_present", con and s.session_present, repr(con))
    done = kinds(evs, S.PUBLISH_DONE)
    check("resent_and_done_for_original_ids",
          sorted(d["pid"] for d in done) == [p1, p2] and all(d["rc"] < 0x80 for d in done),
          repr(done))
    # until both arrived (the QoS 1 one may come twice first: at least once)
    evs = rl.pump(lambda e: set(m["topic"][len(T):] for m in kinds(e, S.MESSAGE))
                  >= {"data/q1", "data/q2"}, timeout_ms=3000)
    got = sorted((m["topic"][len(T):], m["payload"]) for m in kinds(evs, S.MESSAGE))
    q2 = [g for g in got if g[0] == "data/q2"]
    check("qos2_exactly_once_qos1_at_least_once",
          q2 == [("data/q2", b"two")] and ("data/q1", b"one") in got, repr(got))
    rl.events[:] = []

    # QoS 1 in flight, then a clean start: the broker drops the session
    p3 = s.publish(T + "data/lost", b"three", 1)
    cut(link, s)
    s.connect(now_ms(), clean_start=True)
    link = Link(s)
    evs = link.pump(lambda e: kinds(e, S.PUBLISH_DONE))
    lost = kinds(evs, S.PUBLISH_DONE)
    check("session_lost_reported", [(d["pid"], d["rc"]) for d in lost] == [(p3, 0x80)]
          and not s.session_present and isinstance(s._ev.error, S.SessionLost),
          repr(lost))
    s.disconnect()
    link.close()
    rx.disconnect()
    rl.close()


def maxsize():
    s = S.Session(CID, keepalive=30, rx_size=1024, tx_size=1024)
    s.connect(now_ms())
    link = Link(s)
    link.pump(lambda e: kinds(e, S.CONNECTED))
    check("broker_max_packet_size", s.server_max_packet_size == 200,
          str(s.server_max_packet_size))
    try:
        s.publish(T + "data/big", b"x" * 300, 1)
        err = None
    except MQTTError as e:
        err = e
    check("oversize_refused_locally", err is not None and
          getattr(err, "reason_code", 0) == 0x95 and s.inflight_count == 0, repr(err))
    pid = s.publish(T + "data/small", b"x" * 50, 1)
    evs = link.pump(lambda e: kinds(e, S.PUBLISH_DONE))
    check("connection_kept", kinds(evs, S.PUBLISH_DONE)[0]["pid"] == pid and
          s.is_connected)
    s.disconnect()
    link.close()


(resume if MODE == "resume" else maxsize)()
print(json.dumps({"summary": True, "tests": len(checks), "failed": checks.count(False)}))
