"""Interop oracle (CPython): our codec against paho-mqtt 2.2's own property
and packet code.

What paho can and cannot do, and so what is covered here:
- Properties (paho.mqtt.properties.Properties pack/unpack) exist for every
  packet type including AUTH and the Will: every property of 0x01..0x2A is
  checked in both directions, on every packet type that may carry it.
- paho *consumes* (paho.mqtt._packet.decode_* and its Client's reader):
  CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK,
  DISCONNECT, and PINGREQ/PINGRESP (length check in the Client). It has no
  decoder for CONNECT, SUBSCRIBE, UNSUBSCRIBE (server side) or AUTH.
- paho *produces* (its Client writing to a fake socket): CONNECT (with Will,
  credentials, properties), PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP (short
  forms only), SUBSCRIBE, UNSUBSCRIBE, PINGREQ, PINGRESP, DISCONNECT. It never
  produces CONNACK, SUBACK, UNSUBACK or AUTH.
"""

import pytest
from hypothesis import HealthCheck, given, settings

import paho.mqtt.client as mqtt
from paho.mqtt import _packet
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

import test_codec_hypothesis as hyp  # sys.path set up there (lib/, scripts/)
import mqtt5.packets as P
import mqtt5.properties as pr
import mqtt5.reason_codes as rc
import mqtt5.wire as wire
from codec_cases import VECTORS, fields, h

V5 = mqtt.MQTTv5
_NAMES = Properties(PacketTypes.CONNECT).names  # "Payload Format Indicator": 1, ...
ID_TO_ATTR = {i: n.replace(" ", "") for n, i in _NAMES.items()}
PTYPES = [pr.WILL] + [t for t in range(1, 16) if t not in (P.PINGREQ, P.PINGRESP)]


def paho_type(t):
    return PacketTypes.WILLMESSAGE if t == pr.WILL else t


SAMPLE = {pr.BYTE: 1, pr.U16: 0x1234, pr.U32: 0x89ABCDEF, pr.VBI: 268435455,
          pr.STRING: "h\u00e9llo/\U0001F600", pr.BINARY: b"\x00\xff\x10",
          pr.PAIR: [("k\u00fc", "v1"), ("k\u00fc", "v2"), ("a", "")]}


def sample(pid, ptype):
    v = SAMPLE[pr.wire_type(pid)]
    if pid == pr.SUBSCRIPTION_IDENTIFIER and ptype == P.PUBLISH:
        v = [1, 128, 268435455]
    if pid == pr.MAXIMUM_PACKET_SIZE:
        v = 268435455  # paho refuses larger values on assignment (the spec allows any u32)
    return v


def from_paho(p, ptype):
    """paho Properties -> our props dict shape (None when empty)."""
    if p is None or p.isEmpty():
        return None
    out = {}
    for i, attr in ID_TO_ATTR.items():
        if hasattr(p, attr):
            v = getattr(p, attr)
            if i == pr.USER_PROPERTY:
                v = [tuple(x) for x in v]
            elif i == pr.SUBSCRIPTION_IDENTIFIER and ptype != P.PUBLISH:
                assert len(v) == 1
                v = v[0]
            out[i] = v
    return out


def to_paho(props, ptype):
    p = Properties(paho_type(ptype))
    for i, v in (props or {}).items():
        if isinstance(v, list):
            for x in v:
                setattr(p, ID_TO_ATTR[i], x)
        else:
            setattr(p, ID_TO_ATTR[i], v)
    return p


def ours_pack(props, ptype):
    n = pr.size(props, ptype)
    buf = bytearray(wire.vbi_size(n) + n)
    assert pr.encode(buf, 0, props, ptype, n) == len(buf)
    return bytes(buf)


class _Holder:
    props = None


def ours_unpack(data, ptype):
    o = _Holder()
    assert pr.decode(o, memoryview(data), 0, len(data), ptype) == len(data)
    return o.props


def both_ways(props, ptype):
    data = ours_pack(props, ptype)
    got, n = Properties(paho_type(ptype)).unpack(data)
    assert n == len(data)
    assert from_paho(got, ptype) == props
    theirs = to_paho(props, ptype).pack()
    assert ours_unpack(theirs, ptype) == props


CASES = [(t, i) for t in PTYPES for i in range(1, 0x2B) if pr.allowed(i, t)]


def test_every_property_is_covered():
    assert {i for _, i in CASES} == set(ID_TO_ATTR)
    assert len(ID_TO_ATTR) == 27


@pytest.mark.parametrize("ptype,pid", CASES, ids=["%s-0x%02X" % (t, i) for t, i in CASES])
def test_each_property_both_ways(ptype, pid):
    props = {pid: sample(pid, ptype)}
    if pid == pr.AUTHENTICATION_DATA:  # only valid with a Method (3.1.2.11.10)
        props[pr.AUTHENTICATION_METHOD] = "m"
    both_ways(props, ptype)


@pytest.mark.parametrize("ptype", PTYPES)
def test_all_properties_of_a_packet_together(ptype):
    both_ways({i: sample(i, ptype) for i in range(1, 0x2B) if pr.allowed(i, ptype)}, ptype)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hyp.st.sampled_from(PTYPES).flatmap(lambda t: hyp.props(t).map(lambda p: (t, p))))
def test_random_property_sets_both_ways(case):
    ptype, props = case
    if props is None:
        return
    # paho range-checks on assignment like we do, except that it caps Maximum
    # Packet Size at 268435455 where the spec allows any Four Byte Integer.
    if props.get(pr.MAXIMUM_PACKET_SIZE, 0) > 268435455:
        props[pr.MAXIMUM_PACKET_SIZE] = 268435455
    both_ways(props, ptype)


# Where paho 2.2 departs from the spec's Table 2-6 (we follow the spec):
# it omits 0x99 from CONNACK (3.2.2.2 lists it), and words three names
# differently.
PAHO_MISSING = {(P.CONNACK, 0x99)}
PAHO_WORDING = {0x11: "No subscription found", 0x9E: "Shared subscription not supported",
                0xA2: "Wildcard subscription not supported"}
SPEC_WORDING = {0x11: "No subscription existed", 0x9E: "Shared Subscriptions not supported",
                0xA2: "Wildcard Subscriptions not supported"}


def test_reason_codes_match_paho():
    """Per packet type: the same set of valid reason codes and the same names."""
    for t in (P.CONNACK, P.PUBACK, P.PUBREC, P.PUBREL, P.PUBCOMP, P.SUBACK, P.UNSUBACK,
              P.DISCONNECT, P.AUTH):
        for code in range(256):
            try:
                theirs = ReasonCode(t, identifier=code).getName()
            except (KeyError, ValueError):
                theirs = None
            if (t, code) in PAHO_MISSING:
                assert rc.allowed(code, t) and theirs is None
                continue
            assert rc.allowed(code, t) == (theirs is not None), (t, code)
            if code in SPEC_WORDING and theirs is not None:  # worded apart: each checked
                assert (rc.name(code, t), theirs) == (SPEC_WORDING[code], PAHO_WORDING[code]), \
                    (t, code, rc.name(code, t), theirs)
            elif theirs is not None:
                assert rc.name(code, t).lower() == theirs.lower(), (t, code)


# --- whole packets: paho produces, we decode ------------------------------


class FakeSock:
    def __init__(self, data=b""):
        self.out = bytearray()
        self.inp = bytearray(data)

    def send(self, b):
        self.out += b
        return len(b)

    def recv(self, n):
        if not self.inp:
            raise BlockingIOError
        d = bytes(self.inp[:n])
        del self.inp[:n]
        return d

    def pending(self):
        return 0

    def fileno(self):
        return -1

    def setblocking(self, flag):
        pass

    def close(self):
        pass


def paho_client(data=b""):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-\u00e9", protocol=V5)
    c._sock = c._fake = FakeSock(data)  # paho drops _sock after DISCONNECT
    return c


def sent(c):
    """Every packet paho wrote, decoded by us."""
    out = []
    data = bytes(c._fake.out)
    i = 0
    while i < len(data):
        n = wire.frame(data, i, len(data), None)
        assert n > 0 and i + n <= len(data)
        out.append(P.decode(memoryview(data)[i:i + n]))
        i += n
    return out


def test_paho_connect_decodes():
    c = paho_client()
    c.username_pw_set("user", "pw\u00e9")
    wp = to_paho({pr.WILL_DELAY_INTERVAL: 5, pr.CONTENT_TYPE: "text",
                  pr.USER_PROPERTY: [("a", "b")]}, pr.WILL)
    c.will_set("w/t", b"gone", 2, True, wp)
    cp = {pr.SESSION_EXPIRY_INTERVAL: 3600, pr.RECEIVE_MAXIMUM: 10,
          pr.MAXIMUM_PACKET_SIZE: 4096, pr.TOPIC_ALIAS_MAXIMUM: 5,
          pr.REQUEST_PROBLEM_INFORMATION: 1, pr.USER_PROPERTY: [("x", "y")]}
    c._connect_properties = to_paho(cp, P.CONNECT)
    c._send_connect(42)
    (pkt,) = sent(c)
    assert (pkt.type, pkt.client_id, pkt.keepalive, pkt.clean_start) == (
        P.CONNECT, "paho-\u00e9", 42, True)
    assert (pkt.username, pkt.password) == ("user", "pw\u00e9".encode())
    assert pkt.props == cp
    w = pkt.will
    assert (w.topic, w.payload, w.qos, w.retain) == ("w/t", b"gone", 2, True)
    assert w.props == {pr.WILL_DELAY_INTERVAL: 5, pr.CONTENT_TYPE: "text",
                       pr.USER_PROPERTY: [("a", "b")]}


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_paho_publish_decodes(qos):
    c = paho_client()
    props = {i: sample(i, P.PUBLISH) for i in range(1, 0x2B) if pr.allowed(i, P.PUBLISH)}
    c._send_publish(77, "s/\u00e9".encode(), b"\x00payload", qos, True, qos > 0,
                    mqtt.MQTTMessageInfo(77),
                    to_paho(props, P.PUBLISH))
    (pkt,) = sent(c)
    assert (pkt.topic, bytes(pkt.payload), pkt.qos, pkt.retain, pkt.dup) == (
        "s/\u00e9", b"\x00payload", qos, True, qos > 0)
    assert pkt.packet_id == (77 if qos else None)
    assert pkt.props == props


@pytest.mark.parametrize("send,ptype", [("_send_puback", P.PUBACK), ("_send_pubrec", P.PUBREC),
                                        ("_send_pubrel", P.PUBREL), ("_send_pubcomp", P.PUBCOMP)])
def test_paho_acks_decode(send, ptype):
    c = paho_client()
    getattr(c, send)(65535)
    (pkt,) = sent(c)
    assert (pkt.type, pkt.packet_id, pkt.reason_code, pkt.props) == (ptype, 65535, 0, None)


def test_paho_subscribe_unsubscribe_decode():
    c = paho_client()
    opts = SubscribeOptions(qos=1, noLocal=True, retainAsPublished=True, retainHandling=2)
    sp = {pr.SUBSCRIPTION_IDENTIFIER: 300, pr.USER_PROPERTY: [("u", "1")]}
    c._send_subscribe(False, [(b"a/+/c", opts), (b"$share/g/#", SubscribeOptions(qos=2))],
                      to_paho(sp, P.SUBSCRIBE))
    c._send_unsubscribe(False, [b"a/+/c", b"x"], to_paho({pr.USER_PROPERTY: [("u", "2")]},
                                                          P.UNSUBSCRIBE))
    sub, unsub = sent(c)
    assert sub.type == P.SUBSCRIBE and sub.topics == [("a/+/c", 0x2D), ("$share/g/#", 2)]
    assert sub.props == sp
    assert unsub.type == P.UNSUBSCRIBE and unsub.topics == ["a/+/c", "x"]
    assert unsub.props == {pr.USER_PROPERTY: [("u", "2")]}
    assert sub.packet_id != unsub.packet_id


def test_paho_ping_and_disconnect_decode():
    c = paho_client()
    c._send_pingreq()
    c._send_pingresp()
    c._send_disconnect()
    c2 = paho_client()
    c2._send_disconnect(ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message"),
                        to_paho({pr.REASON_STRING: "bye", pr.SESSION_EXPIRY_INTERVAL: 0},
                                P.DISCONNECT))
    a, b, d1 = sent(c)
    (d2,) = sent(c2)
    assert (a.type, b.type) == (P.PINGREQ, P.PINGRESP)
    assert (d1.type, d1.reason_code, d1.props) == (P.DISCONNECT, 0, None)
    assert (d2.reason_code, d2.props) == (0x04, {pr.REASON_STRING: "bye",
                                                 pr.SESSION_EXPIRY_INTERVAL: 0})


# --- whole packets: we encode, paho decodes --------------------------------


def split(data):
    n = 1 + wire.vbi_size(wire.decode_vbi(data, 1, len(data)))
    return data[0], data[n:]


def test_connack_decoded_by_paho():
    for name, make, _ in VECTORS:
        pkt = make()
        if pkt.type != P.CONNACK:
            continue
        r = _packet.decode_connack(*split(P.encode(pkt)), V5)
        assert r.flags == int(pkt.session_present) and r.reason.value == pkt.reason_code
        assert from_paho(r.properties, P.CONNACK) == pkt.props, name


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_decoded_by_paho(qos):
    props = {i: sample(i, P.PUBLISH) for i in range(1, 0x2B) if pr.allowed(i, P.PUBLISH)}
    pkt = P.Publish("t/\u00e9", b"\x00\x01data", qos, True, qos > 0, 9 if qos else None, props)
    r = _packet.decode_publish(*split(P.encode(pkt)), V5)
    assert (r.topic, r.qos, r.retain, r.dup, bytes(r.payload)) == (
        "t/\u00e9".encode(), qos, True, qos > 0, b"\x00\x01data")
    assert (r.mid if qos else None) == pkt.packet_id
    assert from_paho(r.properties, P.PUBLISH) == props


@pytest.mark.parametrize("ptype,dec", [(P.PUBACK, _packet.decode_puback),
                                       (P.PUBREC, _packet.decode_pubrec),
                                       (P.PUBREL, _packet.decode_pubrel),
                                       (P.PUBCOMP, _packet.decode_pubcomp)])
def test_acks_decoded_by_paho(ptype, dec):
    for code in range(256):
        if not rc.allowed(code, ptype):
            continue
        for props in (None, {pr.REASON_STRING: "why", pr.USER_PROPERTY: [("a", "b")]}):
            r = dec(*split(P.encode(P.PubAck(ptype, 513, code, props))), V5)
            assert (r.mid, r.reason.value) == (513, code)
            assert from_paho(r.properties, ptype) == props


def test_suback_unsuback_decoded_by_paho():
    props = {pr.REASON_STRING: "r", pr.USER_PROPERTY: [("a", "b")]}
    codes = [c for c in range(256) if rc.allowed(c, P.SUBACK)]
    r = _packet.decode_suback(*split(P.encode(P.Suback(7, codes, props))), V5)
    assert r.mid == 7 and [x.value for x in r.reason_codes] == codes
    assert from_paho(r.properties, P.SUBACK) == props
    codes = [c for c in range(256) if rc.allowed(c, P.UNSUBACK)]
    r = _packet.decode_unsuback(*split(P.encode(P.Unsuback(8, codes, props))), V5)
    assert r.mid == 8 and [x.value for x in r.reason_codes] == codes
    assert from_paho(r.properties, P.UNSUBACK) == props


def test_disconnect_decoded_by_paho():
    for code in range(256):
        if not rc.allowed(code, P.DISCONNECT):
            continue
        for props in (None, {pr.REASON_STRING: "x", pr.SERVER_REFERENCE: "other:1883",
                             pr.SESSION_EXPIRY_INTERVAL: 5}):
            r = _packet.decode_disconnect(*split(P.encode(P.Disconnect(code, props))), V5)
            # paho reports the Remaining Length 0 short form as reason None
            assert (r.reason.value if r.reason is not None else 0) == code
            assert from_paho(r.properties, P.DISCONNECT) == props


def test_paho_client_reader_accepts_our_server_packets():
    """Feed a paho Client (fake socket) with packets we encode, through its
    own reader: PINGREQ (it answers PINGRESP), PINGRESP, and every vector of
    a type it consumes, all without a protocol error."""
    consumed = (P.CONNACK, P.PUBLISH, P.PUBACK, P.PUBREC, P.PUBREL, P.PUBCOMP, P.SUBACK,
                P.UNSUBACK, P.PINGREQ, P.PINGRESP, P.DISCONNECT)
    seen = set()
    for name, make, hx in VECTORS:
        pkt = make()
        if pkt.type not in consumed or (pkt.type == P.PUBLISH and not pkt.topic):
            continue  # paho has no Topic Alias map for an empty-topic PUBLISH
        c = paho_client(P.encode(pkt))
        c.on_message = lambda *a: None
        got = []
        c.on_connect = lambda cl, u, flags, reason, props: got.append(reason.value)
        rc_ = c._packet_read()
        if pkt.type == P.CONNACK:
            assert got == [pkt.reason_code], name
        if pkt.type == P.CONNACK and pkt.reason_code:
            # paho reports a refusal from its reader as an error code
            assert rc_ in (mqtt.MQTT_ERR_PROTOCOL, mqtt.MQTT_ERR_CONN_REFUSED)
        else:
            assert rc_ == mqtt.MQTT_ERR_SUCCESS, name
        seen.add(pkt.type)
        if pkt.type == P.PINGREQ:
            assert [p.type for p in sent(c)] == [P.PINGRESP]
    assert seen == set(consumed)
