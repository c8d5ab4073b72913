"""Sans-IO session: Maximum Packet Size both ways [MQTT-3.1.2-24] [MQTT-3.2.2-15] and
Receive Maximum both ways [MQTT-3.3.4-7] [MQTT-3.3.4-9], against a fake server."""

import mqtt5.session as S
import mqtt5.properties as P
from mqtt5.errors import MQTTError
from session_fake import (connected, out, feed, kinds, types, eq, raises, run_tests,
    connack, publish, ack, resumed, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, DISCONNECT)


def expect_disconnect(s, evs, code):
    eq((kinds(evs), evs[0]["reason_code"]), ([S.ERROR], code), "error event")
    eq(evs[0]["error"].reason_code, code, "error carries the code")
    eq([(t, d.reason_code) for t, d in out(s)][-1:], [(DISCONNECT, code)], "DISCONNECT")
    eq(s.state, S.CLOSED, "closed")


# ---- Maximum Packet Size, inbound ------------------------------------------------------

def test_connect_announces_max_packet_size():
    s = S.Session("x", rx_size=512, max_packet_size=300)
    s.connect(0)
    eq(out(s)[0][1].props[P.MAXIMUM_PACKET_SIZE], 299, "ours, less a byte")
    s = S.Session("x", rx_size=512, max_packet_size=4096)
    s.connect(0)
    eq(out(s)[0][1].props[P.MAXIMUM_PACKET_SIZE], 511, "never above the buffer")


def test_inbound_oversize_refused_from_its_header():
    # only the fixed header has arrived: refused before the body is read or stored
    s = connected(rx_size=512, max_packet_size=300)
    expect_disconnect(s, feed(s, b"\x30\xae\x02"), 0x95)  # PUBLISH of 305 bytes


def test_inbound_at_the_limit_accepted():
    s = connected(rx_size=512, max_packet_size=300)
    data = publish("t", b"x" * 200, 0)
    pad = 300 - len(data)
    data = publish("t", b"x" * (200 + pad), 0)
    eq(len(data), 300, "exactly the maximum")
    eq(kinds(feed(s, data)), [S.MESSAGE], "accepted")
    expect_disconnect(s, feed(s, publish("t", b"x" * (201 + pad), 0)), 0x95)


# ---- Maximum Packet Size, outbound -----------------------------------------------------

def limited(n=100, **kw):
    return connected(connack_props={P.MAXIMUM_PACKET_SIZE: n}, **kw)


def check_refused(s, fn, *args):
    before = (s.pending_bytes(), s.inflight_count)
    e = raises(MQTTError, fn, *args)
    assert not isinstance(e, S.BufferFull), e
    eq(e.reason_code, 0x95, "reason code")
    assert "0x95" in str(e) and "Maximum Packet Size" in str(e), str(e)
    eq((s.pending_bytes(), s.inflight_count), before, "nothing queued, no slot held")
    return e


def test_publish_over_server_maximum_refused():
    s = limited(100)
    for qos in (0, 1, 2):
        check_refused(s, s.publish, "t", b"x" * 100, qos)
    eq(s.publish("t", b"x" * 50, 1), 1, "packet id 1 still unused")
    eq(types(out(s)), [PUBLISH], "the one that fits")


def test_publish_over_server_maximum_and_tx_buffer():
    s = limited(100, tx_size=128)
    s.publish("t", b"x" * 60, 0)  # tail partly used
    check_refused(s, s.publish, "t", b"x" * 300, 1)  # 0x95, not BufferFull


def test_publish_over_tx_size_names_the_room_kept_for_acks():
    # a 113-byte PUBLISH (2 + topic 3 + id 2 + properties 1 + 105) fits a 128-byte
    # tx_size, not with the 32 B kept for acks
    s = connected(tx_size=128)
    e = raises(MQTTError, s.publish, "t", b"x" * 105, 1)
    assert not isinstance(e, S.BufferFull), e
    eq(str(e), "packet of 113 bytes exceeds tx_size 128 (32 B kept for acks)", "text")
    eq((s.pending_bytes(), s.inflight_count), (0, 0), "nothing queued, no slot held")


def test_subscribe_over_server_maximum_refused():
    s = limited(40)
    check_refused(s, s.subscribe, [("a/very/long/filter/" + "x" * 30, 1)])


def test_disconnect_refuses_server_codes_and_a_session_expiry_connect_lacked():
    s = limited(100)
    for rc in (0x87, 0x8B, 0x8E, 0x9C, 0x9D, 0x05):  # the server's (spec 3.14.2.1), none
        e = raises(ValueError, s.disconnect, rc)
        assert "0x%02X: a client sends" % rc in str(e), e
    # CONNECT's Session Expiry Interval was 0: a DISCONNECT may not set one
    # (spec 3.14.2.2.2: the server takes it as a Protocol Error, and sends the Will)
    e = raises(ValueError, s.disconnect, 0, {P.SESSION_EXPIRY_INTERVAL: 60})
    assert "3.14.2.2.2" in str(e), e
    eq((s.pending_bytes(), s.is_connected), (0, True), "nothing sent, still connected")
    s.disconnect(0, {P.SESSION_EXPIRY_INTERVAL: 0})  # 0 is allowed
    eq(types(out(s)), [DISCONNECT], "then a valid one goes")
    s = limited(100, session_expiry=30)
    s.disconnect(0x04, {P.SESSION_EXPIRY_INTERVAL: 60})  # a non-zero CONNECT: allowed
    eq(out(s)[0][1].props, {P.SESSION_EXPIRY_INTERVAL: 60}, "changed at disconnect")


def test_disconnect_drops_reason_string_and_user_property():
    s = limited(30, session_expiry=10)
    s.disconnect(0x80, {P.REASON_STRING: "r" * 40, P.USER_PROPERTY: [("k", "v")],
                        P.SESSION_EXPIRY_INTERVAL: 5})
    pk = out(s)
    eq(types(pk), [DISCONNECT], "sent anyway")
    eq((pk[0][1].reason_code, pk[0][1].props), (0x80, {P.SESSION_EXPIRY_INTERVAL: 5}),
       "reason string and user property dropped [MQTT-3.14.2-3]")


def test_disconnect_keeps_reason_string_that_fits():
    s = limited(100)
    s.disconnect(0, {P.REASON_STRING: "bye"})
    eq(out(s)[0][1].props, {P.REASON_STRING: "bye"}, "kept")


def test_acks_have_no_properties():
    # our PUBACK/PUBREC/PUBREL/PUBCOMP carry no Reason String or User Property, so they
    # are at most 4 bytes: within any Maximum Packet Size
    s = limited(16)
    feed(s, publish("t", b"", 1, pid=1) + publish("t", b"", 2, pid=2) + ack(PUBREL, 2))
    mv = bytes(s.data_to_send())
    eq(len(mv), 12, "three 4-byte acks")


def test_queued_resend_over_new_limit_fails_its_slot():
    s = connected(session_expiry=60)
    pid = s.publish("t", b"x" * 80, 1)
    out(s)
    evs = resumed(s, {P.MAXIMUM_PACKET_SIZE: 50})
    eq([(e["kind"], e["packet_id"], e["reason_code"]) for e in evs],
       [(S.CONNECTED, 0, 0), (S.PUBLISH_DONE, pid, 0x95)], "cannot be resent: failed")
    eq(out(s), [], "nothing sent")
    eq(s.inflight_count, 0, "slot freed")


def test_resend_the_resumed_server_no_longer_allows_fails_its_slot():
    # the server lowered its Maximum QoS or took Retain Available away while the
    # session was kept: resending would break [MQTT-3.2.2-11] / [MQTT-3.2.2-14] (the
    # server disconnects with 0x9B / 0x9A, and again at every reconnect). A plain QoS 1
    # publish beside it goes out again, unless QoS 1 is gone too.
    for qos, retain, props, rc in ((2, False, {P.MAXIMUM_QOS: 1}, 0x9B),
                                   (1, True, {P.RETAIN_AVAILABLE: 0}, 0x9A),
                                   (1, False, {P.MAXIMUM_QOS: 0}, 0x9B)):
        s = connected(session_expiry=60)
        pid = s.publish("t", b"x", qos, retain)
        other = s.publish("u", b"y", 1)
        out(s)
        s.connection_lost()
        s.connect(0, clean_start=False)
        out(s)
        evs = feed(s, connack(session_present=True, props=props))
        failed = [pid] if props.get(P.MAXIMUM_QOS) != 0 else [pid, other]
        eq([(e["kind"], e["packet_id"], e["reason_code"]) for e in evs],
           [(S.CONNECTED, 0, 0)] + [(S.PUBLISH_DONE, p, rc) for p in failed],
           "not sent again: failed")
        resent = [] if other in failed else [(PUBLISH, other, True)]
        eq([(t, p.packet_id, p.dup) for t, p in out(s)], resent, "only the allowed one resent")
        eq(s.inflight_count, len(resent), "the failed slots freed")


# ---- Receive Maximum, inbound ----------------------------------------------------------

def test_inbound_qos1_over_receive_maximum_is_0x93():
    for start in (0, 0x3FFFFFF8):  # also across the wrap of the stream position
        over_receive_maximum(start)


def at(start, **kw):
    """A connected session whose transmit stream position starts at start."""
    s = connected(**kw)
    s._tx[5] = start  # (the stream position: txbuf.py)
    return s


def over_receive_maximum(start):
    s = at(start, receive_maximum=3)
    data = b"".join(publish("t", b"", 1, pid=i) for i in range(1, 5))
    evs = feed(s, data)  # 4 PUBLISH, none of our PUBACKs written in between
    eq(kinds(evs), [S.MESSAGE] * 3 + [S.ERROR], "fourth refused")
    eq(evs[3]["reason_code"], 0x93, "Receive Maximum exceeded")
    pk = out(s)
    eq([(t, getattr(p, "packet_id", None)) for t, p in pk][-1:], [(DISCONNECT, None)],
       "DISCONNECT last")
    eq(pk[-1][1].reason_code, 0x93, "with 0x93")


def test_inbound_qos1_over_receive_maximum_tolerated_when_not_strict():
    s = at(0, receive_maximum=3, strict_receive_maximum=False)
    data = b"".join(publish("t", b"", 1, pid=i) for i in range(1, 6))
    evs = feed(s, data)  # 5 PUBLISH, none of our PUBACKs written in between
    eq(kinds(evs), [S.MESSAGE] * 5, "all delivered")
    eq(s.receive_maximum_exceeded, 2, "two over the quota, counted")
    eq(len(s._rx[9]), 3, "unwritten acks: a table of at most receive_maximum")  # pos
    eq([(t, p.packet_id) for t, p in out(s)], [(PUBACK, i) for i in range(1, 6)],
       "each acked")
    out(s)  # the PUBACKs written: only held QoS 2 ids count from here
    # QoS 2 over the quota: tolerated too, while the held ids stay within
    # receive_maximum + 512 (mqtt5.qos2 _SLACK); each PUBREC written as it goes
    for i in range(6, 6 + 3 + 512):
        evs = feed(s, publish("t", b"", 2, pid=i))
        if kinds(evs) != [S.MESSAGE]:
            eq(kinds(evs), [S.MESSAGE], "QoS 2 message %d within the bound" % i)
        out(s)
    eq((s._rx[8], s.receive_maximum_exceeded), (515, 2 + 512), "held, counted")  # count
    evs = feed(s, publish("t", b"", 2, pid=6 + 515))
    eq((kinds(evs)[-1], evs[-1]["reason_code"]), (S.ERROR, 0x93), "past the bound: 0x93")


def test_inbound_within_receive_maximum_when_acks_written():
    for start in (0, 0x3FFFFFF0):  # also across the wrap of the stream position
        within_receive_maximum(start)


def within_receive_maximum(start):
    s = at(start, receive_maximum=2)
    for i in range(1, 20):
        qos = 2 if i % 2 == 0 else 1
        eq(kinds(feed(s, publish("t", b"", qos, pid=i))), [S.MESSAGE], "msg %d" % i)
        out(s)  # PUBACK / PUBREC written
        if i % 2:
            continue
        feed(s, ack(PUBREL, i))
        out(s)  # PUBCOMP written
    eq(s.state, S.ESTABLISHED, "never exceeded")
    eq((len(s._rx[9]), len(s._rx[7])), (1, 1), "entries reused, none made")  # pos, ids


def test_inbound_qos2_held_until_pubcomp_written():
    s = connected(receive_maximum=2)
    feed(s, publish("t", b"", 2, pid=1) + publish("t", b"", 2, pid=2))
    out(s)
    feed(s, ack(PUBREL, 1))  # PUBCOMP 1 queued, not written: still unacknowledged
    evs = feed(s, publish("t", b"", 1, pid=3))
    eq((kinds(evs), evs[0]["reason_code"]), ([S.ERROR], 0x93), "2 outstanding already")
    s = connected(receive_maximum=2)
    feed(s, publish("t", b"", 2, pid=1) + publish("t", b"", 2, pid=2))
    out(s)
    feed(s, ack(PUBREL, 1))
    out(s)  # PUBCOMP 1 written
    eq(kinds(feed(s, publish("t", b"", 1, pid=3))), [S.MESSAGE], "room for one")


def test_duplicate_qos2_not_counted_twice():
    s = connected(receive_maximum=1)
    feed(s, publish("t", b"", 2, pid=7))
    eq(feed(s, publish("t", b"", 2, pid=7, dup=True)), [], "re-sent: PUBREC again only")
    eq(s.state, S.ESTABLISHED, "not a violation")


# ---- Receive Maximum, outbound ---------------------------------------------------------

def test_send_quota():
    s = S.Session("x")
    eq(s.send_quota(), 65535, "before CONNACK: the default")
    s = connected(max_inflight=8, connack_props={P.RECEIVE_MAXIMUM: 2})
    eq(s.send_quota(), 2, "server Receive Maximum")
    a = s.publish("t", b"", 1)
    s.publish("t", b"", 0)
    eq(s.send_quota(), 1, "QoS 0 does not count")
    s.publish("t", b"", 2)
    eq(s.send_quota(), 0, "used up")
    e = raises(MQTTError, s.publish, "t", b"", 1)
    assert "Receive Maximum" in str(e), str(e)
    s.subscribe([("x", 0)])  # other packets are not held back [MQTT-3.3.4-8]
    feed(s, ack(PUBACK, a))
    eq(s.send_quota(), 1, "back after PUBACK")


def test_computed_attributes_and_no_property():
    # is_connected and inflight_count are answered by __getattr__, not properties: a
    # class with a property makes MicroPython look the name up in the class at every
    # attribute store and method call on its instances (docs/design.md; the Client's:
    # client_basic.py)
    s = S.Session("x")
    eq((s.is_connected, s.inflight_count), (False, 0), "before CONNECT")
    s = connected(connack_props={P.RECEIVE_MAXIMUM: 2})
    s.publish("t", b"", 1)
    eq((s.is_connected, s.inflight_count, s.send_quota()), (True, 1, 1), "connected")
    eq(hasattr(s, "no_such_name"), False, "other names are no attribute")
    e = raises(AttributeError, getattr, s, "no_such_name")
    assert "no_such_name" in str(e), str(e)
    eq([k for k, v in S.Session.__dict__.items() if type(v) is property], [], "properties")


def test_retained_publishes_count_against_the_quota():
    # RETAIN is a bit of the in-flight slot's state, above its wait kind
    s = connected(max_inflight=8, connack_props={P.RECEIVE_MAXIMUM: 2})
    a = s.publish("t", b"", 1, True)
    eq((s.send_quota(), s.inflight_count), (1, 1), "a retained QoS 1 publish counts")
    b = s.publish("t", b"", 2, True)
    eq((s.send_quota(), s.inflight_count), (0, 2), "a retained QoS 2 publish counts")
    raises(MQTTError, s.publish, "t", b"", 1, True)
    out(s)
    feed(s, ack(PUBACK, a))
    feed(s, ack(PUBREC, b))
    eq((s.send_quota(), s.inflight_count), (1, 1), "QoS 2 held until PUBCOMP")
    out(s)
    feed(s, ack(PUBCOMP, b))
    eq((s.send_quota(), s.inflight_count), (2, 0), "all back")


def test_pubrec_error_frees_quota():
    s = connected(connack_props={P.RECEIVE_MAXIMUM: 1})
    pid = s.publish("t", b"", 2)
    out(s)
    evs = feed(s, ack(PUBREC, pid, 0x87))
    eq((kinds(evs), evs[0]["reason_code"]), ([S.PUBLISH_DONE], 0x87), "failed")
    eq(s.send_quota(), 1, "quota back [MQTT-4.3.3-4]")
    eq([t for t, _ in out(s)], [], "no PUBREL")


run_tests(globals())
