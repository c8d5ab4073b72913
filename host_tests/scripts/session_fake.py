"""Fake-server helpers for the sans-IO session tests (both runtimes).

Server packets are built with the codec; what the session queues is split with
wire.frame and decoded, so tests assert on packet objects, not bytes.
"""

import json
import sys

import mqtt5.packets as packets
import mqtt5.session as S
from mqtt5.packets.publish import encode_publish, encode_ack
from mqtt5.wire import frame

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14
PINGRESP_BYTES = b"\xd0\x00"


# ---- server -> client bytes ---------------------------------------------------------

def connack(session_present=False, reason_code=0, props=None):
    return bytes(packets.encode(packets.Connack(
        session_present=session_present, reason_code=reason_code, props=props)))


def publish(topic, payload, qos=0, pid=0, dup=False, retain=False, props=None):
    buf = bytearray(64 + len(topic) + len(payload))
    n = encode_publish(buf, topic, payload, qos, retain, dup, pid, props)
    return bytes(buf[:n])


def ack(ptype, pid, reason_code=0, props=None):
    buf = bytearray(64)
    n = encode_ack(buf, ptype, pid, reason_code, props)
    return bytes(buf[:n])


def suback(pid, codes, props=None, unsub=False):
    cls = packets.Unsuback if unsub else packets.Suback
    return bytes(packets.encode(cls(packet_id=pid, reason_codes=codes, props=props)))


def disconnect(reason_code=0, props=None):
    return bytes(packets.encode(packets.Disconnect(reason_code=reason_code, props=props)))


# ---- client -> server: what the session queued --------------------------------------

def out(s, now=None):
    """Take everything queued (marking it sent); list of (type, decoded packet)."""
    mv = s.data_to_send()
    if mv is None:
        return []
    data = bytes(mv)
    s.sent(len(data), now)
    return split(data)


def split(data):
    res = []
    mv = memoryview(data)
    i = 0
    while i < len(data):
        n = frame(mv, i, len(data), 1 << 20)
        assert n > 0 and i + n <= len(data), "partial packet queued"
        res.append((data[i] >> 4, packets.decode(mv[i:i + n])))
        i += n
    return res


def types(pkts):
    return [t for t, _ in pkts]


# ---- events ---------------------------------------------------------------------------

def snap(ev):
    """Copy of the reused Event (payload copied while it is valid)."""
    d = {"kind": ev.kind, "packet_id": ev.packet_id, "reason_code": ev.reason_code,
         "reason_codes": list(ev.reason_codes) if ev.reason_codes is not None else None,
         "props": ev.props, "session_present": ev.session_present,
         "by_server": ev.by_server, "error": ev.error, "packet": ev.packet}
    if ev.kind == S.MESSAGE:
        p = ev.packet
        d["topic"] = p.topic
        d["payload"] = bytes(p.payload)
        d["qos"], d["retain"], d["dup"] = p.qos, p.retain, p.dup
    return d


def events(s):
    res = []
    ev = s.next_event()
    while ev is not None:
        res.append(snap(ev))
        ev = s.next_event()
    return res


def kinds(evs):
    return [e["kind"] for e in evs]


def feed(s, data, now=0):
    """Feed all of data (draining events when the buffer is full); returns events."""
    evs = []
    while data:
        n = s.feed(data, now)
        data = data[n:]
        evs.extend(events(s))
    return evs


def resumed(s, props=None):
    """Cut the link, connect(clean_start=False), CONNECT taken out; the events of a
    CONNACK with Session Present 1 and `props`."""
    s.connection_lost()
    s.connect(0, clean_start=False)
    out(s)
    return feed(s, connack(session_present=True, props=props))


def connected(now=0, connack_props=None, **kw):
    """A session past CONNACK; its CONNECT already taken from the transmit buffer."""
    s = S.Session(**kw)
    s.connect(now)
    out(s, now)
    evs = feed(s, connack(props=connack_props), now)
    assert kinds(evs) == [S.CONNECTED], evs
    return s


# ---- runner ---------------------------------------------------------------------------

def eq(a, b, what=""):
    if a != b:
        raise AssertionError("%s: %r != %r" % (what, a, b))


def raises(exc, fn, *args, **kw):
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError("%s not raised" % exc.__name__)


def run_tests(ns):
    """Run every test_* function of namespace ns; one JSON record per test."""
    names = sorted(k for k in ns if k.startswith("test_"))
    failed = 0
    for name in names:
        rec = {"test": name, "ok": True}
        try:
            extra = ns[name]()
            if isinstance(extra, dict):
                rec.update(extra)
        except Exception as e:  # noqa: BLE001 - every failure is reported by name
            failed += 1
            rec["ok"] = False
            rec["error"] = "%s: %s" % (type(e).__name__, e)
            if hasattr(sys, "print_exception"):
                sys.print_exception(e, sys.stderr)
            else:
                import traceback
                traceback.print_exc()
        print(json.dumps(rec))
    print(json.dumps({"summary": True, "tests": len(names), "failed": failed}))
