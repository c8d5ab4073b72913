"""Sans-IO session: the Message Expiry Interval of what was in flight when the link
went [MQTT-3.3.2-5] [MQTT-3.3.2-6].

A QoS 1/2 PUBLISH waiting to go again after a cut ages by the time the link was down
(from the session's last sight of the old link to the new connect()): resent with
what is left, or, once that ran out, given up (QoS 1) rather than delivered late.
"""

import mqtt5.session as S
from mqtt5.errors import MQTTError
from session_fake import (connected, out, feed, kinds, eq, run_tests, connack, events,
                          PUBLISH, PUBACK, PUBREC, ack)

EXPIRY = 0x02  # Message Expiry Interval


def cut_and_resume(s, down_ms, present=True, last_seen=1000):
    """The link last seen at `last_seen` ms, down for `down_ms`: (events, sent)."""
    s.tick(last_seen)
    s.connection_lost()
    s.connect(last_seen + down_ms, clean_start=False)
    out(s, last_seen + down_ms)
    evs = feed(s, connack(session_present=present), last_seen + down_ms)
    return evs, out(s, last_seen + down_ms)


def in_flight(qos=1, expiry=60, topic="ev"):
    s = connected(session_expiry=600)
    props = {EXPIRY: expiry} if expiry is not None else None
    pid = s.publish(topic, b"e", qos, False, props)
    out(s, 500)
    return s, pid, props


def test_resent_with_the_time_it_waited_offline_taken_off():
    s, pid, props = in_flight()
    evs, sent = cut_and_resume(s, 30500)
    eq(kinds(evs), [S.CONNECTED], "resumed")
    eq([(t, p.packet_id, bool(p.dup), p.props) for t, p in sent],
       [(PUBLISH, pid, True, {EXPIRY: 30})], "30 whole seconds taken off 60")
    eq(props, {EXPIRY: 60}, "the caller's dict as it was")


def test_two_outages_add_up():
    s, pid, _ = in_flight()
    cut_and_resume(s, 20000)
    evs, sent = cut_and_resume(s, 25000, last_seen=30000)
    eq([p.props for _, p in sent], [{EXPIRY: 15}], "60 - 20 - 25")
    feed(s, ack(PUBACK, pid), 56000)
    eq(s.inflight_count, 0, "acked")


def test_expired_qos1_given_up_not_sent_late():
    for present in (True, False):
        s, pid, _ = in_flight()
        evs, sent = cut_and_resume(s, 61000, present)
        eq(kinds(evs), [S.CONNECTED, S.PUBLISH_DONE], "an error event (present %s)" % present)
        e = evs[1]
        eq((e["packet_id"], e["reason_code"], e["packet"]), (pid, 0x80, None), "given up")
        eq(isinstance(e["error"], MQTTError) and "expired" in str(e["error"]), True,
           "says why: %r" % (e["error"],))
        eq(sent, [], "nothing sent late")
        eq(s.inflight_count, 0, "its slot freed")
        pid2 = s.publish("ev", b"f", 1)  # the table still works
        eq([t for t, _ in out(s)], [PUBLISH], "a new one goes")
        eq(pid2 > 0, True, "with a packet id")


def test_expired_qos2_still_goes_with_a_second_left():
    # the server may hold its packet id awaiting PUBREL (spec 4.3.3): it must go again
    s, pid, _ = in_flight(qos=2)
    evs, sent = cut_and_resume(s, 90000)
    eq([(t, p.packet_id, bool(p.dup), p.props) for t, p in sent],
       [(PUBLISH, pid, True, {EXPIRY: 1})], "resent with 1 s")
    feed(s, ack(PUBREC, pid), 91000)
    eq([t for t, _ in out(s)], [6], "PUBREL")
    # the server lost the session: it holds no packet id, so the message is given up
    s, pid, _ = in_flight(qos=2)
    evs, sent = cut_and_resume(s, 90000, present=False)
    eq(kinds(evs), [S.CONNECTED, S.PUBLISH_DONE], "an error event")
    eq((evs[1]["packet_id"], evs[1]["packet"], sent), (pid, None, []), "given up, nothing sent")
    eq("expired" in str(evs[1]["error"]), True, "says why")


def test_attempts_under_a_second_apart_age_it_too():
    # each connect that got no CONNACK threw the part of a second away: attempts 900 ms
    # apart never aged the message, which went out with its whole interval
    s, pid, _ = in_flight(expiry=2)
    s.tick(1000)
    s.connection_lost()
    for k in range(1, 11):  # ten attempts, none answered
        s.connect(1000 + 900 * k, clean_start=False)
        out(s, 1000 + 900 * k)
        s.connection_lost()
    s.connect(10900, clean_start=False)
    out(s, 10900)
    evs = feed(s, connack(session_present=True), 10900)
    eq(kinds(evs), [S.CONNECTED, S.PUBLISH_DONE], "given up: 9.9 s down, 2 s to live")
    eq(out(s, 10900), [], "nothing sent late")


def test_an_expired_qos2_that_never_went_out_is_given_up():
    # queued behind a resend backlog (the transmit buffer full of the resends), never
    # sent, then the link went for longer than its expiry: it went out with 1 s left,
    # though no server held its packet id
    s = connected(session_expiry=600, tx_size=128)
    a1 = s.publish("t", b"x" * 80, 1)
    out(s, 500)
    a2 = s.publish("t", b"x" * 80, 1)
    out(s, 500)
    s.tick(1000)
    s.connection_lost()
    s.connect(2000, clean_start=False)
    out(s, 2000)
    feed(s, connack(session_present=True), 2000)  # a1's resend queued, a2 waits for room
    b = s.publish("u", b"y", 2, False, {EXPIRY: 2})  # behind them: queued, not sent
    s.tick(3000)
    s.connection_lost()
    s.connect(8000, clean_start=False)
    out(s, 8000)
    feed(s, connack(session_present=True), 8000)
    sent, evs = [], []
    for _ in range(4):  # (room made by each write lets the next resend go)
        sent += [(t, p.packet_id) for t, p in out(s, 8000)]
        evs += [(e["kind"], e["packet_id"]) for e in events(s)]
    eq(sent, [(PUBLISH, a1), (PUBLISH, a2)], "the two QoS 1 resends, not it")
    eq(evs, [(S.PUBLISH_DONE, b)], "given up")


def test_no_expiry_and_short_gaps_untouched():
    s, pid, _ = in_flight(expiry=None)
    evs, sent = cut_and_resume(s, 10 ** 6)
    eq([(p.packet_id, p.props) for _, p in sent], [(pid, None)], "no expiry: as it was")
    s, pid, props = in_flight()
    evs, sent = cut_and_resume(s, 999)
    eq([p.props for _, p in sent], [{EXPIRY: 60}], "under a second: nothing taken off")


run_tests(globals())
