"""Sans-IO session: topic aliases, outbound (automatic, LRU, per connection) and
inbound (invalid aliases are 0x94), against a fake server."""

import mqtt5.session as S
import mqtt5.properties as P
from mqtt5.errors import MQTTError
from session_fake import (connected, out, feed, kinds, eq, raises, run_tests, connack,
    publish, resumed, PUBLISH, DISCONNECT)

TOPIC = "fieldnode/v1/node-1/state/temp"


def aliased(tam=3, topic_alias_out=8, **kw):
    return connected(connack_props={P.TOPIC_ALIAS_MAXIMUM: tam},
                     topic_alias_out=topic_alias_out, **kw)


def sent(s):
    """[(topic, alias or None)] of the PUBLISH packets queued."""
    return [(p.topic, (p.props or {}).get(P.TOPIC_ALIAS)) for t, p in out(s)
            if t == PUBLISH]


def test_repeated_topic_goes_out_as_alias_only():
    s = aliased()
    s.publish(TOPIC, b"1", 0)
    first = bytes(s.data_to_send())
    out(s)
    s.publish(TOPIC, b"1", 0)
    second = bytes(s.data_to_send())
    eq(sent(s), [("", 1)], "empty Topic Name + alias")
    # topic field: 2 length bytes + 0, Property Length 3: Topic Alias (1 + 2 bytes)
    eq(len(first) - len(second), len(TOPIC), "only the topic name saved")
    eq(second[2:4], b"\x00\x00", "zero-length Topic Name")
    eq(second[4:8], b"\x03\x23\x00\x01", "props: Topic Alias 1 (3 bytes)")


def test_aliases_assigned_lru_within_server_maximum():
    s = aliased(tam=2)  # ours is 8: the server's 2 rules [MQTT-3.3.2-9]
    for t in ("a", "b", "a", "c", "a", "b"):
        s.publish(t, b"", 0)
    eq(sent(s), [("a", 1), ("b", 2), ("", 1), ("c", 2), ("", 1), ("b", 2)],
       "c replaced b (least recently used), then b replaced c")


def test_our_table_size_bounds_aliases():
    s = aliased(tam=100, topic_alias_out=1)
    for t in ("a", "a", "b", "b"):
        s.publish(t, b"", 1)
    eq(sent(s), [("a", 1), ("", 1), ("b", 1), ("", 1)], "one entry, remapped")


def test_no_aliases_when_server_allows_none():
    s = connected(topic_alias_out=8)  # CONNACK without Topic Alias Maximum: 0
    s.publish("a", b"", 0)
    s.publish("a", b"", 0)
    eq(sent(s), [("a", None), ("a", None)], "never [MQTT-3.3.2-9]")
    s = aliased(tam=5, topic_alias_out=0)
    s.publish("a", b"", 0)
    s.publish("a", b"", 0)
    eq(sent(s), [("a", None), ("a", None)], "topic_alias_out=0: off")
    s = connected(connack_props={P.TOPIC_ALIAS_MAXIMUM: 5})
    s.publish("a", b"", 0)
    s.publish("a", b"", 0)
    eq(sent(s), [("a", None), ("a", None)], "off by default")


def test_opt_out_per_publish():
    s = aliased()
    s.publish("a", b"", 0, alias=False)
    s.publish("a", b"", 0)
    s.publish("a", b"", 0, alias=False)
    s.publish("a", b"", 0)
    eq(sent(s), [("a", None), ("a", 1), ("a", None), ("", 1)], "alias=False: full topic")


def test_caller_props_kept_and_not_mutated():
    s = aliased()
    props = {P.CONTENT_TYPE: "x/y", P.USER_PROPERTY: [("k", "v")]}
    s.publish("a", b"", 1, props=props)
    s.publish("a", b"", 1, props=props)
    pk = [p for t, p in out(s)]
    eq([(p.topic, p.props[P.TOPIC_ALIAS], p.props[P.CONTENT_TYPE]) for p in pk],
       [("a", 1, "x/y"), ("", 1, "x/y")], "alias added to the caller's props")
    eq(props, {P.CONTENT_TYPE: "x/y", P.USER_PROPERTY: [("k", "v")]}, "unchanged")
    e = raises(ValueError, s.publish, "a", b"", 0, props={P.TOPIC_ALIAS: 1})
    assert "alias" in str(e), e
    s.publish("b", b"", 0, props={P.TOPIC_ALIAS: 3}, alias=False)  # caller's own alias
    eq(sent(s), [("b", 3)], "passed through with alias=False")


def test_refused_publish_does_not_map():
    s = connected(connack_props={P.TOPIC_ALIAS_MAXIMUM: 3, P.MAXIMUM_PACKET_SIZE: 60},
                  topic_alias_out=8)
    raises(MQTTError, s.publish, "a", b"x" * 80, 0)
    s.publish("a", b"", 0)
    eq(sent(s), [("a", 1)], "the server never saw a mapping: the name goes again")


def test_bytes_and_str_topics():
    s = aliased()
    s.publish(b"a/b", b"", 0)
    s.publish(b"a/b", b"", 0)
    s.publish("a/b", b"", 0)
    eq(sent(s), [("a/b", 1), ("", 1), ("a/b", 2)], "bytes topics alias too")


def test_aliases_reset_on_new_connection():
    s = aliased(session_expiry=60)
    s.publish("a", b"", 0)
    s.publish("a", b"", 0)
    out(s)
    s.connection_lost()
    s.connect(0, clean_start=False)
    s.publish("a", b"", 0)  # before CONNACK: the server's maximum is not known
    eq(sent(s)[-1:], [("a", None)], "no alias before CONNACK")
    feed(s, connack(session_present=True, props={P.TOPIC_ALIAS_MAXIMUM: 3}))
    s.publish("a", b"", 0)
    s.publish("a", b"", 0)
    eq(sent(s), [("a", 1), ("", 1)], "mapped afresh [MQTT-3.3.2-7]")


# ---- inbound ---------------------------------------------------------------------------

def expect_0x94(s, data):
    evs = feed(s, data)
    eq((kinds(evs), evs[0]["reason_code"]), ([S.ERROR], 0x94), "Topic Alias invalid")
    eq([(t, d.reason_code) for t, d in out(s)][-1:], [(DISCONNECT, 0x94)], "DISCONNECT")


def test_inbound_alias_zero_is_0x94():
    # Topic Alias 0 is not permitted [MQTT-3.3.2-8]; raw bytes (the codec will not
    # encode it): PUBLISH "t", props 0x23 = 0
    expect_0x94(connected(topic_alias_maximum=4),
                b"\x30\x07\x00\x01t\x03\x23\x00\x00")


def test_inbound_alias_above_our_maximum_is_0x94():
    expect_0x94(connected(topic_alias_maximum=4),
                publish("t", b"", 0, props={P.TOPIC_ALIAS: 5}))


def test_inbound_unknown_alias_is_0x94():
    expect_0x94(connected(topic_alias_maximum=4),
                publish("", b"", 0, props={P.TOPIC_ALIAS: 2}))


def test_inbound_alias_remapped():
    s = connected(topic_alias_maximum=2)
    evs = feed(s, publish("a", b"1", 0, props={P.TOPIC_ALIAS: 1}) +
               publish("b", b"2", 0, props={P.TOPIC_ALIAS: 1}) +
               publish("", b"3", 0, props={P.TOPIC_ALIAS: 1}))
    eq([e["topic"] for e in evs], ["a", "b", "b"], "latest mapping wins")


def test_a_callers_own_alias_is_checked_and_never_resent():
    # A Topic Alias the caller sets itself (aliases off) went out unchecked: above the
    # server's maximum (0x94 from the server), and, after a cut, resent from its
    # props on a new connection where it maps nothing [MQTT-3.3.2-7] (an alias alone,
    # no topic: refused at every reconnect, the link never recovering)
    s = connected(session_expiry=600, connack_props={P.TOPIC_ALIAS_MAXIMUM: 5})
    e = raises(MQTTError, s.publish, "t", b"", 1, props={P.TOPIC_ALIAS: 6})
    assert "Topic Alias Maximum is 5" in str(e), e
    a = s.publish("t", b"1", 1, props={P.TOPIC_ALIAS: 5})  # maps 5 to t
    b = s.publish("", b"2", 1, props={P.TOPIC_ALIAS: 5})  # then the alias alone
    eq(sent(s), [("t", 5), ("", 5)], "as the caller set them")
    evs = resumed(s, {P.TOPIC_ALIAS_MAXIMUM: 5})
    eq([(e["kind"], e["packet_id"], e["reason_code"]) for e in evs],
       [(S.CONNECTED, 0, 0), (S.PUBLISH_DONE, b, 0x94)], "the alias alone given up")
    eq(sent(s), [("t", None)], "the topic whole, without the old alias")
    s = connected(topic_alias_out=0)  # a server that sent no maximum: none allowed
    raises(MQTTError, s.publish, "t", b"", 0, props={P.TOPIC_ALIAS: 1})


run_tests(globals())
