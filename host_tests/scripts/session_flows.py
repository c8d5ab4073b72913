"""Sans-IO session: every packet flow of issue #4 against a fake server (no sockets)."""

import mqtt5.session as S
import mqtt5.properties as P
from mqtt5.errors import MQTTError
from session_fake import (connected, out, feed, events, kinds, types, eq, raises, run_tests,
    connack, publish, ack, suback, disconnect, CONNECT, PUBLISH,
    PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, UNSUBSCRIBE,
    DISCONNECT)


def test_connect_fields_and_props():
    will = make_will()
    s = S.Session("node-1", keepalive=30, clean_start=False, session_expiry=3600,
                  receive_maximum=8, max_packet_size=1024, topic_alias_maximum=4,
                  request_response_info=True, request_problem_info=False,
                  user_properties=[("fw", "1.0")], username="u", password=b"pw",
                  will=will, rx_size=2048)
    eq(s.state, S.CLOSED, "initial state")
    s.connect(0)
    eq(s.state, S.CONNECTING, "state")
    pkts = out(s)
    eq(types(pkts), [CONNECT], "queued")
    c = pkts[0][1]
    eq(c.client_id, "node-1", "client id")
    eq(bool(c.clean_start), False, "clean start")
    eq(c.keepalive, 30, "keepalive")
    eq(c.username, "u", "username")
    eq(bytes(c.password), b"pw", "password")
    pr = c.props
    eq(pr[P.SESSION_EXPIRY_INTERVAL], 3600, "session expiry")
    eq(pr[P.RECEIVE_MAXIMUM], 8, "receive maximum")
    eq(pr[P.MAXIMUM_PACKET_SIZE], 1023, "maximum packet size, less the extra length byte")
    eq(pr[P.TOPIC_ALIAS_MAXIMUM], 4, "topic alias maximum")
    eq(pr[P.REQUEST_RESPONSE_INFORMATION], 1, "request response info")
    eq(pr[P.REQUEST_PROBLEM_INFORMATION], 0, "request problem info")
    eq([tuple(x) for x in pr[P.USER_PROPERTY]], [("fw", "1.0")], "user props")
    check_will(c.will)


def test_connect_defaults_minimal_props():
    s = S.Session("n", rx_size=512)
    s.connect(0)
    c = out(s)[0][1]
    eq(bool(c.clean_start), True, "clean start")
    eq(c.keepalive, 60, "keepalive")
    eq(c.username, None, "no username")
    eq(c.will, None, "no will")
    pr = c.props
    eq(pr[P.MAXIMUM_PACKET_SIZE], 511, "max packet size defaults to rx_size (less a byte)")
    eq(P.SESSION_EXPIRY_INTERVAL in pr, False, "no session expiry property")
    eq(P.REQUEST_PROBLEM_INFORMATION in pr, False, "default problem info not sent")


def test_connack_server_limits():
    s = S.Session("", keepalive=60)
    s.connect(0)
    out(s)
    props = {P.ASSIGNED_CLIENT_IDENTIFIER: "auto-1", P.SERVER_KEEP_ALIVE: 20,
             P.RECEIVE_MAXIMUM: 5, P.MAXIMUM_QOS: 1, P.RETAIN_AVAILABLE: 0,
             P.MAXIMUM_PACKET_SIZE: 300, P.TOPIC_ALIAS_MAXIMUM: 7,
             P.WILDCARD_SUBSCRIPTION_AVAILABLE: 0, P.SUBSCRIPTION_IDENTIFIER_AVAILABLE: 0,
             P.SHARED_SUBSCRIPTION_AVAILABLE: 0, P.REASON_STRING: "welcome",
             P.RESPONSE_INFORMATION: "resp/", P.SERVER_REFERENCE: "other:1883",
             P.SESSION_EXPIRY_INTERVAL: 30}
    evs = feed(s, connack(props=props))
    eq(kinds(evs), [S.CONNECTED], "events")
    eq(evs[0]["session_present"], False, "session present")
    eq(s.is_connected, True, "connected")
    eq(s.state, S.ESTABLISHED, "state")
    eq(s.assigned_client_id, "auto-1", "assigned id")
    eq(s.client_id, "auto-1", "assigned id reused")
    eq(s.server_keepalive, 20, "server keepalive")
    eq(s.keepalive_s, 20, "server keepalive overrides ours")
    eq(s.receive_maximum_out, 5, "receive maximum")
    eq(s.maximum_qos, 1, "maximum qos")
    eq(s.retain_available, False, "retain")
    eq(s.server_max_packet_size, 300, "max packet size")
    eq(s.server_topic_alias_maximum, 7, "topic alias max")
    eq((s.wildcard_available, s.sub_id_available, s.shared_available),
       (False, False, False), "availability")
    eq(s.reason_string, "welcome", "reason string")
    eq((s.response_information, s.server_reference, s.session_expiry_granted),
       ("resp/", "other:1883", 30), "response info, server reference, expiry")
    raises(MQTTError, s.publish, "t", b"x", 2)  # above Maximum QoS
    raises(MQTTError, s.publish, "t", b"x", 0, True)  # retain not available
    raises(MQTTError, s.publish, "t", b"x" * 400)  # over server Maximum Packet Size
    eq(s.publish("t", b"x", 1), 1, "QoS 1 allowed; failed attempts used no packet id")


def test_connack_defaults():
    s = connected()
    eq((s.maximum_qos, s.retain_available, s.receive_maximum_out, s.server_keepalive),
       (2, True, 65535, None), "defaults")
    eq(s.keepalive_s, 60, "own keepalive kept")


def test_connack_refused_names_code():
    s = S.Session("x")
    s.connect(0)
    out(s)
    evs = feed(s, connack(reason_code=0x87, props={P.REASON_STRING: "no"}))
    eq(kinds(evs), [S.ERROR], "events")
    e = evs[0]
    eq(e["reason_code"], 0x87, "code")
    msg = str(e["error"])
    assert "0x87" in msg and "Not authorized" in msg, msg
    eq(e["error"].reason_code, 0x87, "error code")
    eq(s.state, S.CLOSED, "closed")
    eq(s.reason_string, "no", "reason string")
    raises(MQTTError, s.publish, "t", b"")


def test_publish_qos0():
    s = connected()
    eq(s.publish("a/b", b"hello", 0, True, {P.CONTENT_TYPE: "t"}), 0, "pid")
    (t, p), = out(s)
    eq(t, PUBLISH, "type")
    eq((p.topic, bytes(p.payload), p.qos, bool(p.retain), bool(p.dup)),
       ("a/b", b"hello", 0, True, False), "fields")
    eq(p.props[P.CONTENT_TYPE], "t", "props")
    eq(events(s), [], "no event for QoS 0")


def test_publish_qos1_puback():
    s = connected()
    pid = s.publish("a", b"1", 1)
    eq(pid, 1, "first packet id")
    (t, p), = out(s)
    eq((t, p.qos, p.packet_id), (PUBLISH, 1, pid), "sent")
    eq(s.inflight_count, 1, "in flight")
    evs = feed(s, ack(PUBACK, pid))
    eq(kinds(evs), [S.PUBLISH_DONE], "done")
    eq((evs[0]["packet_id"], evs[0]["reason_code"], evs[0]["error"]), (pid, 0, None), "ok")
    eq(s.inflight_count, 0, "freed")


def test_puback_without_properties_is_acted_on_in_place():
    # "40 02 pid" (Success) and "40 03 pid rc" (a reason code, no properties) are
    # completed from the receive buffer: no packet object, ev.packet None
    s = connected()
    a, b, c = s.publish("a", b"1", 1), s.publish("a", b"2", 1), s.publish("a", b"3", 1)
    out(s)
    evs = feed(s, b"\x40\x02\x00\x63" + bytes([0x40, 2, 0, a]))  # 99: not ours, ignored
    eq([(e["kind"], e["packet_id"], e["reason_code"], e["packet"]) for e in evs],
       [(S.PUBLISH_DONE, a, 0, None)], "bare PUBACK, unknown id ignored")
    evs = feed(s, bytes([0x40, 3, 0, b, 0x10]))
    eq([(e["kind"], e["packet_id"], e["reason_code"], e["packet"], e["error"]) for e in evs],
       [(S.PUBLISH_DONE, b, 0x10, None, None)], "0x10 No matching subscribers in place")
    evs = feed(s, bytes([0x40, 3, 0, c, 0x87]))
    eq((evs[0]["reason_code"], evs[0]["packet"]), (0x87, None), "0x87 in place")
    assert "0x87 Not authorized" in str(evs[0]["error"]), evs[0]["error"]
    eq(s.inflight_count, 0, "all freed")
    d = s.publish("a", b"4", 1)
    out(s)
    evs = feed(s, bytes([0x40, 3, 0, d, 0x82]))  # no PUBACK code: decoded, refused
    eq((kinds(evs), evs[0]["reason_code"]), ([S.ERROR], 0x82), "code not valid in PUBACK")
    s = connected()
    evs = feed(s, b"\x40\x02\x00\x00")  # packet id 0 [MQTT-2.2.1-3]
    eq((kinds(evs), evs[0]["reason_code"]), ([S.ERROR], 0x82), "packet id 0 refused")


def test_puback_no_matching_subscribers_is_success():
    s = connected()
    pid = s.publish("a", b"1", 1)
    evs = feed(s, ack(PUBACK, pid, 0x10, {P.REASON_STRING: "nobody"}))
    eq((evs[0]["reason_code"], evs[0]["error"]), (0x10, None), "0x10 success")
    eq(evs[0]["props"][P.REASON_STRING], "nobody", "props surfaced")


def test_puback_not_authorized_is_error():
    s = connected()
    pid = s.publish("a", b"1", 1)
    evs = feed(s, ack(PUBACK, pid, 0x87))
    e = evs[0]
    eq(e["reason_code"], 0x87, "code")
    assert "0x87" in str(e["error"]) and "Not authorized" in str(e["error"]), e["error"]
    eq(s.inflight_count, 0, "freed")


def test_publish_qos2_flow():
    s = connected()
    pid = s.publish("a", b"2", 2)
    eq(types(out(s)), [PUBLISH], "publish")
    eq(feed(s, ack(PUBREC, pid, 0x10)), [], "no event on PUBREC")
    (t, rel), = out(s)
    eq((t, rel.packet_id, rel.reason_code), (PUBREL, pid, 0), "PUBREL")
    eq(s.inflight_count, 1, "still in flight until PUBCOMP")
    evs = feed(s, ack(PUBCOMP, pid))
    eq(kinds(evs), [S.PUBLISH_DONE], "done")
    eq((evs[0]["packet_id"], evs[0]["reason_code"], evs[0]["error"]),
       (pid, 0x10, None), "PUBREC's 0x10 reported")
    eq(s.inflight_count, 0, "freed")


def test_publish_qos2_pubrec_error_ends_flow():
    s = connected()
    pid = s.publish("a", b"2", 2)
    out(s)
    evs = feed(s, ack(PUBREC, pid, 0x87))
    eq(kinds(evs), [S.PUBLISH_DONE], "done")
    assert "0x87" in str(evs[0]["error"]), evs[0]["error"]
    eq(out(s), [], "no PUBREL after a failing PUBREC")  # [MQTT-4.3.3-4]
    eq(s.inflight_count, 0, "freed")


def test_unknown_id_answers_0x92():
    s = connected()
    feed(s, ack(PUBREC, 99) + ack(PUBREL, 3))
    eq([(t, p.packet_id, p.reason_code) for t, p in out(s)],
       [(PUBREL, 99, 0x92), (PUBCOMP, 3, 0x92)], "Packet Identifier not found")


def test_inbound_qos0():
    s = connected()
    evs = feed(s, publish("x/y", b"abc", 0, props={P.USER_PROPERTY: [("k", "v")]}))
    eq(kinds(evs), [S.MESSAGE], "message")
    m = evs[0]
    eq((m["topic"], m["payload"], m["qos"], m["dup"]), ("x/y", b"abc", 0, False), "fields")
    eq([tuple(x) for x in m["props"][P.USER_PROPERTY]], [("k", "v")], "props")
    eq(out(s), [], "no ack")


def test_inbound_message_payload_is_view_into_buffer():
    s = connected()
    s.feed(publish("t", b"payload", 0, retain=True), 0)
    ev = s.next_event()
    assert isinstance(ev.packet.payload, memoryview), type(ev.packet.payload)
    eq(bytes(ev.packet.payload), b"payload", "payload")
    eq(bool(ev.packet.retain), True, "retain")


def test_inbound_qos1_puback():
    s = connected()
    evs = feed(s, publish("t", b"1", 1, pid=5))
    eq(kinds(evs), [S.MESSAGE], "delivered")
    (t, a), = out(s)
    eq((t, a.packet_id, a.reason_code), (PUBACK, 5, 0), "PUBACK")


def test_inbound_qos2_exactly_once_across_resend():
    s = connected()
    evs = feed(s, publish("t", b"once", 2, pid=7))
    eq(kinds(evs), [S.MESSAGE], "delivered")
    eq([(t, a.packet_id) for t, a in out(s)], [(PUBREC, 7)], "PUBREC")
    # the server re-sends before our PUBREC arrived: acknowledged, not delivered again
    eq(feed(s, publish("t", b"once", 2, pid=7, dup=True)), [], "not delivered twice")
    eq([(t, a.packet_id) for t, a in out(s)], [(PUBREC, 7)], "PUBREC again")
    eq(feed(s, ack(PUBREL, 7)), [], "no event on PUBREL")
    (t, c), = out(s)
    eq((t, c.packet_id, c.reason_code), (PUBCOMP, 7, 0), "PUBCOMP")
    # after PUBCOMP the id starts a new message [MQTT-4.3.3-12]
    evs = feed(s, publish("t", b"next", 2, pid=7))
    eq([e["payload"] for e in evs], [b"next"], "new message with the same id")


def test_subscribe_options_and_suback_codes():
    s = connected()
    topics = [("a/#", 1 | S.NO_LOCAL), ("b", 2 | S.RETAIN_AS_PUBLISHED),
              ("c/+", 0 | (2 << S.RETAIN_HANDLING_SHIFT))]
    pid = s.subscribe(topics, {P.SUBSCRIPTION_IDENTIFIER: 9})
    (t, p), = out(s)
    eq(t, SUBSCRIBE, "type")
    eq(p.packet_id, pid, "pid")
    eq([(f, o) for f, o in p.topics], [("a/#", 0x05), ("b", 0x0A), ("c/+", 0x20)], "options")
    eq(p.props[P.SUBSCRIPTION_IDENTIFIER], 9, "sub id")
    evs = feed(s, suback(pid, [1, 2, 0x87]))
    eq(kinds(evs), [S.SUBSCRIBED], "event")
    e = evs[0]
    eq((e["packet_id"], e["reason_codes"]), (pid, [1, 2, 0x87]), "codes per filter")
    assert "0x87" in str(e["error"]), e["error"]
    ok = s.subscribe([("d", 1)])
    out(s)
    evs = feed(s, suback(ok, [1]))
    eq((evs[0]["reason_codes"], evs[0]["error"]), ([1], None), "all granted")


def test_unsubscribe_unsuback():
    s = connected()
    pid = s.unsubscribe(["a/#", "never"])
    (t, p), = out(s)
    eq((t, p.packet_id, list(p.topics)), (UNSUBSCRIBE, pid, ["a/#", "never"]), "sent")
    evs = feed(s, suback(pid, [0, 0x11], unsub=True))
    eq(kinds(evs), [S.UNSUBSCRIBED], "event")
    eq((evs[0]["reason_codes"], evs[0]["error"]), ([0, 0x11], None), "0x11 is success")


def test_client_disconnect():
    s = connected()
    s.disconnect(0x04, {P.REASON_STRING: "bye"})
    (t, d), = out(s)
    eq((t, d.reason_code, d.props[P.REASON_STRING]), (DISCONNECT, 4, "bye"), "sent")
    eq(s.state, S.CLOSED, "closed")
    evs = events(s)
    eq(kinds(evs), [S.DISCONNECTED], "event")
    eq((evs[0]["reason_code"], evs[0]["by_server"]), (4, False), "ours")
    raises(MQTTError, s.publish, "t", b"")


def test_server_disconnect_reported():
    s = connected()
    evs = feed(s, disconnect(0x8B, {P.REASON_STRING: "maintenance"}))
    eq(kinds(evs), [S.DISCONNECTED], "event")
    e = evs[0]
    eq((e["reason_code"], e["by_server"]), (0x8B, True), "server's")
    eq(e["props"][P.REASON_STRING], "maintenance", "reason string")
    assert "0x8B" in str(e["error"]), e["error"]
    eq(s.state, S.CLOSED, "closed")
    eq(out(s), [], "nothing sent back")  # [MQTT-3.14.4-1]


def test_server_disconnect_short_forms():
    # Remaining Length 0: 0x00, no properties; 1: the reason code alone (3.14.2.1,
    # 3.14.2.2.1); decoded into the event itself, no packet class loaded
    for data, code in ((b"\xe0\x00", 0), (b"\xe0\x01\x8e", 0x8E), (b"\xe0\x02\x04\x00", 4)):
        s = connected()
        e, = feed(s, data)
        eq((e["kind"], e["reason_code"], e["by_server"], e["props"]),
           (S.DISCONNECTED, code, True, None), "server's %r" % data)
        eq(e["packet"] is s._ev, True, "the event is the packet")
        eq(e["error"] is None, code < 0x80, "error only for a failure code")
        eq(s.state, S.CLOSED, "closed")


def make_will():
    from mqtt5.packets import Will
    return Will("n/status", b"offline", qos=1, retain=True,
                props={P.WILL_DELAY_INTERVAL: 5, P.MESSAGE_EXPIRY_INTERVAL: 600,
                       P.CONTENT_TYPE: "text/plain", P.RESPONSE_TOPIC: "r/t",
                       P.CORRELATION_DATA: b"cd", P.USER_PROPERTY: [("a", "b")]})


def check_will(w):
    eq((w.topic, bytes(w.payload), w.qos, bool(w.retain)),
       ("n/status", b"offline", 1, True), "will")
    pr = w.props
    eq((pr[P.WILL_DELAY_INTERVAL], pr[P.MESSAGE_EXPIRY_INTERVAL], pr[P.CONTENT_TYPE],
        pr[P.RESPONSE_TOPIC], bytes(pr[P.CORRELATION_DATA])),
       (5, 600, "text/plain", "r/t", b"cd"), "will props")
    eq([tuple(x) for x in pr[P.USER_PROPERTY]], [("a", "b")], "will user props")


def test_inbound_topic_alias():
    s = connected(topic_alias_maximum=2)
    evs = feed(s, publish("a/long/topic", b"1", 0, props={P.TOPIC_ALIAS: 2}) +
               publish("", b"2", 0, props={P.TOPIC_ALIAS: 2}))
    eq([(e["topic"], e["payload"]) for e in evs],
       [("a/long/topic", b"1"), ("a/long/topic", b"2")], "alias resolved")
    s.connection_lost()
    s.connect(0)
    out(s)
    feed(s, connack())
    evs = feed(s, publish("", b"3", 0, props={P.TOPIC_ALIAS: 2}))
    # an alias never mapped on this connection: 0x94 Topic Alias invalid
    eq((kinds(evs), evs[0]["reason_code"]), ([S.ERROR], 0x94), "not kept across links")


run_tests(globals())
