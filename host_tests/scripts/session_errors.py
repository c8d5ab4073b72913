"""Sans-IO session: protocol violations by the server become DISCONNECT + ERROR."""

import mqtt5.session as S
import mqtt5.properties as P
from session_fake import (connected, out, feed, events, kinds, types, eq, run_tests, connack,
    publish, ack, suback, PUBLISH, PUBACK, PUBCOMP, DISCONNECT)


def test_unexpected_session_present_is_protocol_error():
    s = S.Session("x", clean_start=True)
    s.connect(0)
    out(s)
    evs = feed(s, connack(session_present=True))
    eq(kinds(evs), [S.ERROR], "events")
    eq(evs[0]["reason_code"], 0x82, "protocol error")
    pk = out(s)
    eq(types(pk), [DISCONNECT], "DISCONNECT queued")
    eq(pk[0][1].reason_code, 0x82, "with the code")


def test_inbound_qos2_over_receive_maximum_is_0x93():
    s = connected(receive_maximum=2)
    feed(s, publish("t", b"", 2, pid=1) + publish("t", b"", 2, pid=2))
    evs = feed(s, publish("t", b"", 2, pid=3))
    eq(kinds(evs), [S.ERROR], "error")
    eq(evs[0]["reason_code"], 0x93, "receive maximum exceeded")
    eq([t for t, _ in out(s)][-1], DISCONNECT, "DISCONNECT queued")


def test_suback_code_count_mismatch_is_protocol_error():
    s = connected()
    pid = s.subscribe([("a", 0), ("b", 0)])
    out(s)
    evs = feed(s, suback(pid, [0]))
    eq((kinds(evs), evs[0]["reason_code"]), ([S.ERROR], 0x82), "protocol error")


def test_packet_before_connack_is_protocol_error():
    s = S.Session("x")
    s.connect(0)
    out(s)
    evs = feed(s, publish("t", b"", 0))
    eq((kinds(evs), evs[0]["reason_code"]), ([S.ERROR], 0x82), "error")
    eq([(t, d.reason_code) for t, d in out(s)], [(DISCONNECT, 0x82)], "DISCONNECT")


def test_malformed_packet_is_0x81():
    s = connected()
    evs = feed(s, b"\x40\x01\x00")  # PUBACK with a 1-byte packet id
    eq((kinds(evs), evs[0]["reason_code"]), ([S.ERROR], 0x81), "malformed")
    eq([(t, d.reason_code) for t, d in out(s)], [(DISCONNECT, 0x81)], "DISCONNECT")
    eq(s.state, S.CLOSED, "closed")


def test_packet_too_large_is_0x95():
    s = connected(rx_size=256)
    evs = feed(s, b"\x30\xff\x7f")  # PUBLISH announcing 16383 bytes
    eq((kinds(evs), evs[0]["reason_code"]), ([S.ERROR], 0x95), "too large")


def expect_error(s, data, code):
    evs = feed(s, data)
    eq((kinds(evs), evs[0]["reason_code"]), ([S.ERROR], code), "error event")
    eq(evs[0]["error"].reason_code, code, "error carries the code")
    eq([(t, d.reason_code) for t, d in out(s)][-1:], [(DISCONNECT, code)], "DISCONNECT")
    eq(s.state, S.CLOSED, "closed")
    eq(feed(s, ack(PUBACK, 1)), [], "nothing parsed after the error")


def test_malformed_server_disconnect():
    # trailing bytes after the properties 0x81; a code DISCONNECT may not carry
    # (0x10 is PUBACK's and PUBREC's) 0x82 [MQTT-3.14.2-1]; reserved flags 0x81
    # [MQTT-3.14.1-1]; a property length past the end 0x81
    for data, code in ((b"\xe0\x03\x8b\x00\x00", 0x81), (b"\xe0\x01\x10", 0x82),
                       (b"\xe1\x00", 0x81), (b"\xe0\x02\x8b\x05", 0x81)):
        expect_error(connected(), data, code)


def test_second_connack_is_protocol_error():
    expect_error(connected(), connack(), 0x82)


def test_server_subscribe_is_protocol_error():
    import mqtt5.packets as packets
    data = packets.encode(packets.Subscribe(packet_id=1, topics=[("a", 0)]))
    expect_error(connected(), data, 0x82)


def test_a_code_only_a_server_sends_goes_as_0x82():
    # a server's SUBSCRIBE with a filter no filter can be: its decoder says 0x8F Topic
    # Filter invalid, which only a server may put in a DISCONNECT (spec 3.14.2.1)
    s = connected()
    evs = feed(s, b"\x82\x0b\x00\x01\x00\x00\x05a/#/b\x00")
    eq((kinds(evs), evs[0]["reason_code"], evs[0]["error"].reason_code),
       ([S.ERROR], 0x82, 0x8F), "sent 0x82; the error's own code kept")
    eq([(t, d.reason_code) for t, d in out(s)][-1:], [(DISCONNECT, 0x82)], "DISCONNECT")


def test_pingreq_from_server_is_protocol_error():
    expect_error(connected(), b"\xc0\x00", 0x82)


def test_auth_without_method_is_protocol_error():
    expect_error(connected(), b"\xf0\x00", 0x82)


def test_topic_alias_over_our_maximum_is_0x94():
    expect_error(connected(topic_alias_maximum=0),
                 publish("t", b"", 0, props={P.TOPIC_ALIAS: 1}), 0x94)


def test_bad_reason_code_in_puback_is_0x82():
    s = connected()
    s.publish("t", b"", 1)
    out(s)
    expect_error(s, b"\x40\x03\x00\x01\x02", 0x82)  # 0x02 not valid in PUBACK


def test_unknown_puback_is_ignored():
    s = connected()
    eq(feed(s, ack(PUBACK, 77) + ack(PUBCOMP, 78)), [], "ignored")
    eq(s.state, S.ESTABLISHED, "still connected")


def test_authentication_method_in_connack_is_protocol_error():
    s = S.Session("x")
    s.connect(0)
    out(s)
    expect_error(s, connack(props={P.AUTHENTICATION_METHOD: "SCRAM"}), 0x82)


run_tests(globals())
