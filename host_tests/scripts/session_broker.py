"""The sans-IO session driven by a plain blocking socket against a real Mosquitto:
proves the bytes it produces and accepts interoperate (both runtimes).

usage: session_broker.py PORT CLIENT_ID
Prints one JSON record per check ({"test": ..., "ok": ...}).
"""

import json
import socket
import sys
import time

import mqtt5.session as S
import mqtt5.properties as P
from mqtt5.packets import Will

PORT = int(sys.argv[1])
CID = sys.argv[2]
T = "fieldnode/test/%s/" % CID


def now_ms():
    if hasattr(time, "ticks_ms"):
        return time.ticks_ms()  # test runs are far shorter than the wrap period
    return int(time.monotonic() * 1000)


class Link:
    """A blocking socket pumping one Session; collects events as dicts."""

    def __init__(self, s):
        self.s = s
        self.sock = socket.socket()
        self.sock.connect(socket.getaddrinfo("127.0.0.1", PORT)[0][-1])
        self.sock.settimeout(0.05)
        # CPython reads straight into the session's buffer; the unix port's
        # socket.readinto() waits for the whole buffer, so recv() + feed() there
        self.read_into = getattr(self.sock, "recv_into", None)
        self.events = []

    def pump(self, until, timeout_ms=3000):
        """Write, read and tick until until(events) is true; returns the events."""
        s = self.s
        end = now_ms() + timeout_ms
        while True:
            ev = s.next_event()
            while ev is not None:
                d = {"kind": ev.kind, "pid": ev.packet_id, "rc": ev.reason_code,
                     "codes": list(ev.reason_codes) if ev.reason_codes else None}
                if ev.kind == S.MESSAGE:
                    p = ev.packet
                    d.update(topic=p.topic, payload=bytes(p.payload), qos=p.qos,
                             retain=bool(p.retain), props=p.props)
                self.events.append(d)
                ev = s.next_event()
            if until(self.events):
                return self.events
            if now_ms() > end:
                raise AssertionError("timeout; events so far: %r" % self.events)
            out = s.data_to_send()
            if out is not None:
                self.sock.send(bytes(out))
                s.sent(len(out), now_ms())
            try:
                if self.read_into:
                    n = self.read_into(s.recv_buffer())
                    if n:
                        s.received(n, now_ms())
                else:
                    data = self.sock.recv(len(s.recv_buffer()))
                    n = len(data)
                    s.feed(data, now_ms())
            except OSError:
                n = None  # timeout: nothing to read
            if n == 0:
                raise AssertionError("closed by the broker; events: %r" % self.events)
            s.tick(now_ms())

    def close(self):
        out = self.s.data_to_send()
        if out is not None:
            self.sock.send(bytes(out))
            self.s.sent(len(out))
        self.sock.close()


def kinds(evs, k):
    return [e for e in evs if e["kind"] == k]


def main():
    checks = []

    def check(name, cond, detail=""):
        checks.append(bool(cond))
        print(json.dumps({"test": name, "ok": bool(cond), "error": "" if cond else detail}))

    will = Will(T + "status", b"offline", qos=1, retain=False,
                props={P.WILL_DELAY_INTERVAL: 0, P.CONTENT_TYPE: "text/plain"})
    # keep alive 2 s, not 1: Mosquitto 2.0 counts whole seconds and drops a client
    # when now - last packet > keepalive * 3 // 2, which for 1 s is one tick of its
    # clock, so pings every ~1.05 s were sometimes too late (a CI run saw it)
    s = S.Session(CID, keepalive=2, session_expiry=0, receive_maximum=8,
                  user_properties=[("node", "test")], will=will, rx_size=1024,
                  tx_size=1024, max_inflight=8)
    s.connect(now_ms())
    link = Link(s)
    evs = link.pump(lambda e: kinds(e, S.CONNECTED))
    check("connack", s.is_connected and s.maximum_qos == 2, repr(evs))

    pid = s.subscribe([(T + "#", 2 | S.NO_LOCAL), (T + "x/+", 1)])
    evs = link.pump(lambda e: kinds(e, S.SUBSCRIBED))
    sub = kinds(evs, S.SUBSCRIBED)[0]
    # No Local: our own publications are not sent back to us, so subscribe a second
    # session for delivery below; here check the SUBACK codes
    check("suback", sub["pid"] == pid and sub["codes"] == [2, 1], repr(sub))

    rx = S.Session(CID + "-rx", keepalive=30)
    rx.connect(now_ms())
    rlink = Link(rx)
    rlink.pump(lambda e: kinds(e, S.CONNECTED))
    rx.subscribe([(T + "data/#", 2)])
    rlink.pump(lambda e: kinds(e, S.SUBSCRIBED))

    pids = [s.publish(T + "data/q%d" % q, b"payload-%d" % q, q,
                      props={P.CONTENT_TYPE: "x/y"}) for q in (0, 1, 2)]
    evs = link.pump(lambda e: len(kinds(e, S.PUBLISH_DONE)) == 2)
    done = kinds(evs, S.PUBLISH_DONE)
    check("publish_done_qos1_qos2", sorted(d["pid"] for d in done) == pids[1:] and
          all(d["rc"] in (0, 0x10) for d in done), repr(done))
    check("inflight_freed", s.inflight_count == 0, str(s.inflight_count))

    evs = rlink.pump(lambda e: len(kinds(e, S.MESSAGE)) == 3)
    msgs = sorted((m["qos"], m["payload"], m["props"].get(P.CONTENT_TYPE))
                  for m in kinds(evs, S.MESSAGE))
    check("messages_all_qos", msgs == [(0, b"payload-0", "x/y"), (1, b"payload-1", "x/y"),
                                       (2, b"payload-2", "x/y")], repr(msgs))

    # keep alive 2 s: PINGREQ after 2 s idle; without PINGRESPs the session would
    # call the link dead 3 s after the last packet in, so idle 4.5 s needs them
    t0 = now_ms()
    link.pump(lambda e: now_ms() - t0 > 4500, timeout_ms=6000)
    check("keepalive_ping", s.is_connected and not kinds(link.events, S.LINK_DEAD))

    pid = s.unsubscribe([T + "#", T + "never"])
    evs = link.pump(lambda e: kinds(e, S.UNSUBSCRIBED))
    un = kinds(evs, S.UNSUBSCRIBED)[0]
    check("unsuback", un["pid"] == pid and un["codes"] == [0, 0x11], repr(un))

    s.disconnect(0, {P.REASON_STRING: "bye"})
    link.pump(lambda e: kinds(e, S.DISCONNECTED))
    link.close()
    rx.disconnect()
    rlink.pump(lambda e: kinds(e, S.DISCONNECTED))
    rlink.close()
    check("disconnect", s.state == S.CLOSED and rx.state == S.CLOSED)
    print(json.dumps({"summary": True, "tests": len(checks),
                      "failed": checks.count(False)}))


if __name__ == "__main__":
    main()
