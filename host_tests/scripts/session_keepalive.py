"""Sans-IO session: keep-alive timing with a fake clock (ms)."""

import mqtt5.session as S
import mqtt5.properties as P
from session_fake import (connected, out, feed, events, kinds, types, eq, run_tests, connack,
    publish, ack, suback, raises, PINGREQ, PINGRESP_BYTES, PUBLISH, PUBACK, PUBREC, PUBCOMP)


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


# ---- ack_timeout_ms: nothing acknowledged while something waits -----------------------

def test_ack_timeout_ends_a_link_that_answers_pings_but_acks_nothing():
    s = connected(keepalive=10, ack_timeout_ms=30000, session_expiry=60)
    pid = s.publish("t", b"x", 1)
    out(s, 1000)  # written at 1 s: the wait starts
    for t in range(10000, 31000, 10000):  # pings answered: keep alive is content
        s.tick(t)
        out(s, t)
        feed(s, PINGRESP_BYTES, t + 5)
    eq(s.tick(30999), 1, "1 ms to go")
    eq(events(s), [], "alive at 30.999 s")
    eq(s.tick(31000), 0, "tick again at once")
    evs = events(s)
    eq(kinds(evs), [S.LINK_DEAD], "no PUBACK for 30 s")
    eq(str(evs[0]["error"]), "ack timeout: nothing acknowledged for 30000 ms", "says why")
    eq(s.state, S.CLOSED, "closed")
    s.connect(40000, clean_start=False)  # the slot is kept and resent [MQTT-4.4.0-1]
    out(s, 40000)
    feed(s, connack(session_present=True), 40010)
    pkts = out(s, 40020)
    eq([(t, p.packet_id, p.dup) for t, p in pkts], [(PUBLISH, pid, True)], "resent with DUP")
    eq(s.tick(40020), 9990, "the resend's wait: 30 s, after keep alive's 10")
    eq(kinds(feed(s, ack(PUBACK, pid), 40030)), [S.PUBLISH_DONE], "acked at last")


def test_ack_timeout_counts_from_the_last_ack():
    s = connected(keepalive=0, ack_timeout_ms=5000)
    a = s.publish("t", b"a", 1)
    out(s, 0)
    b = s.publish("t", b"b", 1)
    out(s, 4000)
    eq(s.tick(4000), 1000, "counted from the first write")
    feed(s, ack(PUBACK, a), 4500)
    eq(s.tick(4500), 5000, "an ack came: 5 s from it")
    eq(s.tick(9499), 1, "b waits on")
    feed(s, ack(PUBACK, b), 9499)
    eq(s.tick(9499), 3600000, "nothing awaited: idle")
    s.publish("t", b"c", 1)
    out(s, 20000)  # a new wait, after a quiet spell: counted from its write
    eq(s.tick(24999), 1, "5 s from the write at 20 s")
    eq(events(s), [], "no event yet")
    s.tick(25000)
    eq(kinds(events(s)), [S.LINK_DEAD], "c unacknowledged for 5 s")


def test_ack_timeout_waits_for_subscribe_and_qos2_acks_too():
    s = connected(keepalive=0, ack_timeout_ms=5000)
    sid = s.subscribe([("a/#", 1)])
    out(s, 0)
    eq(s.tick(4999), 1, "a SUBACK is awaited")
    feed(s, suback(sid, [1]), 4999)
    eq(s.tick(4999), 3600000, "SUBACK came")
    pid = s.publish("t", b"x", 2)
    out(s, 10000)
    feed(s, ack(PUBREC, pid), 14000)
    out(s, 14000)  # our PUBREL
    eq(s.tick(14000), 5000, "PUBREC counts: now the PUBCOMP is awaited")
    feed(s, ack(PUBCOMP, pid), 18000)
    eq(s.tick(18000), 3600000, "flow complete")
    eq(kinds(events(s)), [], "no timeout")


def test_ack_timeout_not_while_unsent_or_off():
    s = connected(keepalive=0, ack_timeout_ms=5000)
    s.publish("t", b"x", 1)  # queued, never written: nothing is awaited from the server
    eq(s.tick(60000), 3600000, "not written: no wait")
    s = connected(keepalive=0)  # off by default
    s.publish("t", b"x", 1)
    out(s, 0)
    s.tick(10 ** 7)
    eq(events(s), [], "off: waits for good")


def test_ack_timeout_checked():
    for bad in (-1, 86400001):
        e = raises(ValueError, S.Session, "x", ack_timeout_ms=bad)
        eq("ack_timeout_ms must be 0..86400000" in str(e), True, "%d refused" % bad)
    S.Session("x", ack_timeout_ms=86400000)  # a day: within ticks_diff()'s range


run_tests(globals())
