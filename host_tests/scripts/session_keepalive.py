"""Sans-IO session: keep-alive timing with a fake clock (ms)."""

import mqtt5.session as S
import mqtt5.properties as P
from session_fake import (connected, out, feed, events, kinds, types, eq, run_tests, connack,
    publish, PINGREQ, PINGRESP_BYTES, PUBLISH)


def pings(s, now):
    return types(out(s, now)).count(PINGREQ)


def test_pingreq_after_keepalive_idle():
    s = connected(keepalive=10)
    eq(s.tick(0), 10000, "first deadline")
    eq(s.tick(9999), 1, "1 ms to go")
    eq(pings(s, 9999), 0, "not yet")
    s.tick(10000)
    eq(pings(s, 10000), 1, "PINGREQ at keep alive")
    eq(events(s), [], "no event")


def test_sending_and_receiving_postpone_ping():
    s = connected(keepalive=10)
    s.publish("t", b"", 0)
    out(s, 6000)  # written at 6 s
    feed(s, publish("t", b"", 0), 7000)  # something arrived at 7 s
    events(s)
    eq(s.tick(7000), 9000, "next: 10 s after the last write")
    s.tick(15999)
    eq(pings(s, 15999), 0, "no ping before 16 s")
    s.tick(16000)
    eq(pings(s, 16000), 1, "ping 10 s after the last write")


def test_only_sending_still_pings_on_receive_silence():
    # a QoS 0 publisher would never hear from a dead server otherwise
    s = connected(keepalive=10)
    for t in range(1000, 10000, 1000):
        s.publish("t", b"", 0)
        out(s, t)
        s.tick(t)
    s.tick(10000)
    eq(pings(s, 10000), 1, "ping after 10 s without anything received")


def test_one_ping_outstanding():
    s = connected(keepalive=10)
    s.tick(10000)
    eq(pings(s, 10000), 1, "first")
    s.tick(12000)
    s.tick(14000)
    eq(pings(s, 14000), 0, "no second ping while one is outstanding")


def test_link_dead_after_one_and_a_half_keepalive():
    s = connected(keepalive=10)
    s.tick(10000)
    out(s, 10000)
    eq(s.tick(14999), 1, "1 ms to dead")
    eq(events(s), [], "alive at 14.999 s")
    eq(s.tick(15000), 0, "tick again at once")
    evs = events(s)
    eq(kinds(evs), [S.LINK_DEAD], "dead")
    eq(s.state, S.CLOSED, "closed")
    eq(s.tick(20000), 3600000, "closed: nothing to do")
    eq(events(s), [], "reported once")


def test_pingresp_keeps_link_alive():
    s = connected(keepalive=10)
    s.tick(10000)
    out(s, 10000)
    eq(feed(s, PINGRESP_BYTES, 10050), [], "PINGRESP gives no event")
    s.tick(15000)
    s.tick(19999)
    eq(events(s), [], "alive")
    eq(pings(s, 19999), 0, "no ping yet")
    s.tick(20000)
    eq(pings(s, 20000), 1, "next ping 10 s after the last one")
    s.tick(25049)
    eq(events(s), [], "alive until 1.5 x after the PINGRESP")
    s.tick(25050)
    eq(kinds(events(s)), [S.LINK_DEAD], "dead without the second PINGRESP")


def test_any_packet_counts_as_alive():
    s = connected(keepalive=10)
    s.tick(10000)
    out(s, 10000)
    feed(s, publish("t", b"x", 0), 14000)
    events(s)
    s.tick(18000)
    eq(events(s), [], "alive: a PUBLISH arrived at 14 s")


def test_server_keepalive_overrides():
    s = connected(keepalive=60, connack_props={P.SERVER_KEEP_ALIVE: 2})
    eq(s.tick(0), 2000, "server's 2 s")
    s.tick(2000)
    eq(pings(s, 2000), 1, "ping at 2 s")
    s.tick(3000)
    eq(kinds(events(s)), [S.LINK_DEAD], "dead at 3 s")


def test_keepalive_zero_never_pings():
    s = connected(keepalive=0)
    eq(s.tick(10 ** 7), 3600000, "idle")
    eq(pings(s, 10 ** 7), 0, "no ping")
    eq(events(s), [], "never dead")


def test_no_ping_before_connack_but_dead_detection():
    s = S.Session("x", keepalive=10)
    s.connect(0)
    out(s, 0)
    s.tick(10000)
    eq(pings(s, 10000), 0, "no PINGREQ while waiting for CONNACK")
    s.tick(15000)
    eq(kinds(events(s)), [S.LINK_DEAD], "no CONNACK within 1.5 x keep alive")


def test_ping_rides_with_queued_data():
    s = connected(keepalive=10)
    s.publish("t", b"", 0)  # queued, not written yet
    s.tick(10000)
    eq(types(out(s, 10000)), [PUBLISH, PINGREQ], "ping queued behind the data")


def test_connect_resets_deadlines():
    s = connected(keepalive=10)
    s.connection_lost()
    s.connect(50000)
    out(s, 50000)
    feed(s, connack(), 50010)
    eq(kinds(events(s)), [], "drained in feed")
    eq(s.tick(50010), 9990, "new deadlines")


run_tests(globals())
