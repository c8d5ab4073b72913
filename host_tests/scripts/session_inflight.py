"""Sans-IO session: packet ids, in-flight slots, quotas, buffers, session loss."""

import mqtt5.session as S
import mqtt5.properties as P
from mqtt5.errors import MQTTError
from session_fake import (connected, out, feed, events, kinds, types, eq, raises, run_tests,
    connack, publish, ack, suback, CONNECT, PUBLISH, PUBACK, PUBREC,
    PUBREL, PUBCOMP, SUBSCRIBE)


def test_several_packets_one_write():
    s = connected()
    s.publish("a", b"1", 0)
    s.publish("b", b"2", 1)
    s.subscribe([("c", 1)])
    mv = s.data_to_send()
    n = len(mv)
    eq(types(out(s)), [PUBLISH, PUBLISH, SUBSCRIBE], "batched")
    assert n > 0


def test_partial_write_keeps_packets_whole():
    s = connected()
    s.publish("a", b"1" * 10, 0)
    mv = s.data_to_send()
    first = bytes(mv[:5])
    s.sent(5)
    s.publish("b", b"2", 0)  # queued while part of the first is unsent
    rest = bytes(s.data_to_send())
    s.sent(len(rest))
    from session_fake import split
    eq(types(split(first + rest)), [PUBLISH, PUBLISH], "stream intact")


def test_transmit_buffer_full():
    s = connected(tx_size=128)
    pids = []
    err = None
    for i in range(20):
        try:
            pids.append(s.publish("t", b"x" * 20, 1))
        except S.BufferFull as e:
            err = e
            break
    assert err is not None and pids, "BufferFull raised after some publishes"
    eq(s.inflight_count, len(pids), "failed publish holds no slot")
    out(s)
    eq(s.publish("t", b"x" * 20, 1), pids[-1] + 1, "room again after sent()")
    raises(MQTTError, s.publish, "t", b"x" * 200, 0)  # can never fit


def test_no_free_slot_and_receive_maximum_quota():
    s = connected(max_inflight=3, connack_props={P.RECEIVE_MAXIMUM: 2})
    a = s.publish("t", b"", 1)
    s.publish("t", b"", 2)
    raises(MQTTError, s.publish, "t", b"", 1)  # server Receive Maximum [MQTT-3.3.4-7]
    s.publish("t", b"", 0)  # QoS 0 is not counted
    s.subscribe([("x", 0)])  # SUBSCRIBE is not counted, uses the third slot
    raises(MQTTError, s.subscribe, [("y", 0)])  # no free slot left
    feed(s, ack(PUBACK, a))
    eq(s.publish("t", b"", 1), 4, "quota and slot back after PUBACK")


def test_slots_made_on_demand_and_reused():
    s = connected(max_inflight=3)
    fl = s._inflight  # [pid, state, order, topic, ...] (inflight.py)
    eq(len(fl[0]), 0, "no slot before the first QoS 1 publish")
    a = s.publish("t", b"", 1)
    feed(s, ack(PUBACK, a))
    s.publish("t", b"", 1)
    eq(len(fl[0]), 1, "the freed slot is reused, none made")
    s.publish("t", b"", 1)
    s.subscribe([("x", 0)])
    eq(len(fl[0]), 3, "one more each time all are busy")
    raises(MQTTError, s.publish, "t", b"", 1)
    eq((len(fl[0]), len(fl[1]), len(fl[3]), len(fl[0]) - fl[0].count(0)), (3, 3, 3, 3),
       "never more than max_inflight")


def test_packet_ids_reused_only_after_completion():
    s = connected(max_inflight=4)
    a, b, c = s.publish("t", b"", 1), s.publish("t", b"", 2), s.subscribe([("x", 0)])
    eq((a, b, c), (1, 2, 3), "sequential")
    feed(s, ack(PUBACK, a))
    eq(s.publish("t", b"", 1), 4, "completed id not reused at once")
    s._inflight[8] = 65534  # force the wrap (the last id handed out: inflight.py)
    feed(s, suback(c, [0]))
    eq(s.unsubscribe(["x"]), 65535, "last id")
    feed(s, ack(PUBACK, 4))
    eq(s.publish("t", b"", 1), 1, "wrapped to 1 (free again)")
    feed(s, ack(PUBREC, b))
    eq(s.publish("t", b"", 1), 3, "2 skipped: in use until PUBCOMP")
    feed(s, ack(PUBCOMP, b))
    feed(s, ack(PUBACK, 3))
    s._inflight[8] = 1
    eq(s.publish("t", b"", 1), 2, "2 reused after PUBCOMP")


def test_ids_in_use_never_handed_out():
    s = connected(max_inflight=8)
    used = set()
    for i in range(300):
        pid = s.publish("t", b"", 1)
        assert pid not in used, pid
        used.add(pid)
        if len(used) == 8:
            done = min(used)
            feed(s, ack(PUBACK, done))
            used.discard(done)
        out(s)


def resume(present):
    """A QoS 1 PUBLISH in flight, the link lost, CONNACK with Session Present."""
    s = connected(session_expiry=60)
    pid = s.publish("t", b"", 1)
    s.connection_lost()
    s.connect(0, clean_start=False)
    out(s)
    return s, pid, feed(s, connack(session_present=present))


def test_session_not_present_fails_inflight():
    s, pid, evs = resume(False)
    eq(kinds(evs), [S.CONNECTED, S.PUBLISH_DONE], "lost message reported")
    eq((evs[1]["packet_id"], evs[1]["reason_code"]), (pid, 0x80), "failed")
    eq(s.inflight_count, 0, "freed")


def test_session_present_keeps_inflight():
    s, pid, evs = resume(True)
    eq(kinds(evs), [S.CONNECTED], "connected")
    eq(evs[0]["session_present"], True, "present")
    eq(s.inflight_count, 1, "kept for resumption")
    eq(kinds(feed(s, ack(PUBACK, pid))), [S.PUBLISH_DONE], "completes")


def test_acks_wait_for_transmit_room():
    s = connected(tx_size=64)
    while True:  # fill the buffer up to the ack reserve
        try:
            s.publish("t", b"", 0)
        except S.BufferFull:
            break
    data = b"".join(publish("in", b"", 1, pid=i) for i in range(1, 13))
    s.feed(data, 0)
    got = events(s)
    assert 0 < len(got) < 12, len(got)  # paused: no room for more PUBACKs
    sent = out(s)
    got += events(s)
    sent += out(s)
    eq(len(got), 12, "all delivered once room was made")
    eq([p.packet_id for t, p in sent if t == PUBACK], list(range(1, 13)), "every PUBACK")


def test_repeated_pubrec_gets_pubrel_again():
    s = connected()
    pid = s.publish("t", b"", 2)
    out(s)
    feed(s, ack(PUBREC, pid))
    feed(s, ack(PUBREC, pid))
    eq([(t, p.packet_id, p.reason_code) for t, p in out(s)],
       [(PUBREL, pid, 0), (PUBREL, pid, 0)], "PUBREL again, not 0x92")
    eq(kinds(feed(s, ack(PUBCOMP, pid))), [S.PUBLISH_DONE], "completes once")


def test_publish_before_connack():
    s = S.Session("x")
    s.connect(0)
    pid = s.publish("t", b"early", 1)
    eq(types(out(s)), [CONNECT, PUBLISH], "queued behind CONNECT")
    evs = feed(s, connack(session_present=False) + ack(PUBACK, pid))
    eq(kinds(evs), [S.CONNECTED, S.PUBLISH_DONE], "completes")


def test_feed_larger_than_buffer():
    s = connected(rx_size=128)
    data = b"".join(publish("t", b"%03d" % i, 0) for i in range(50))
    evs = feed(s, data)
    eq([e["payload"] for e in evs], [b"%03d" % i for i in range(50)], "all, in order")


def test_inbound_qos2_exactly_once_across_reconnect():
    s = connected(session_expiry=60)
    eq(kinds(feed(s, publish("t", b"x", 2, pid=5))), [S.MESSAGE], "delivered")
    s.connection_lost()  # our PUBREC may never have arrived
    s.connect(0, clean_start=False)
    out(s)
    feed(s, connack(session_present=True))
    eq(feed(s, publish("t", b"x", 2, pid=5, dup=True)), [], "re-sent: not delivered")
    eq([(t, p.packet_id) for t, p in out(s)], [(PUBREC, 5)], "PUBREC again")
    feed(s, ack(PUBREL, 5))
    eq([(t, p.packet_id, p.reason_code) for t, p in out(s)], [(PUBCOMP, 5, 0)], "PUBCOMP")


run_tests(globals())
