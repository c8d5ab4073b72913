"""Codec byte-exact checks, runtime neutral. Prints one JSON summary record
{"script": "codec_vectors", "ok": N, "failures": [...]}."""
import json

import mqtt5.packets as P
import mqtt5.properties as pr
import mqtt5.reason_codes as rc
import mqtt5.wire as wire
from mqtt5.errors import ProtocolError
from mqtt5.packets.publish import encode_publish, publish_size, encode_ack
from codec_cases import VECTORS, VBI, h, fields

ok = 0
failures = []


def check(cond, what):
    global ok
    if cond:
        ok += 1
    else:
        failures.append(what)


def raises(fn, exc, code=None):
    try:
        fn()
    except exc as e:
        return code is None or e.reason_code == code
    except Exception as e:  # noqa: BLE001 - report the wrong type
        failures.append("wrong exception %r" % (e,))
        return False
    return False


# Every packet vector: encode is byte exact, decode gives the same fields,
# decode -> encode reproduces the bytes, and encode into a caller's buffer.
for name, make, hx in VECTORS:
    exp = h(hx)
    check(P.encode(make()) == exp, "encode " + name)
    try:
        d = P.decode(memoryview(exp))
        check(fields(d) == fields(make()), "decode fields " + name)
        check(P.encode(d) == exp, "re-encode " + name)
    except ProtocolError as e:
        failures.append("decode %s: %s" % (name, e))
    buf = bytearray(len(exp) + 5)
    n = P.encode(make(), buf)
    check(n == len(exp) and bytes(buf[:n]) == exp, "encode into buf " + name)
    check(raises(lambda: P.encode(make(), bytearray(len(exp) - 1)), ProtocolError, 0x95),
          "too small buf " + name)
    # framing: every prefix answers "need more" or the total, never raises
    for k in range(len(exp) + 1):
        t = wire.frame(exp, 0, k, 1000)
        hdr = 1 + wire.vbi_size(len(exp) - 1 - wire.vbi_size(len(exp) - 2))
        if k < 2 or (k < hdr):
            check(t < 0 and k - t <= hdr, "frame need %s %d" % (name, k))
        else:
            check(t == len(exp), "frame total %s %d" % (name, k))
    check(raises(lambda: wire.frame(exp, 0, len(exp), len(exp) - 1), ProtocolError, 0x95),
          "frame max size " + name)

# The hot-path encoders give the same bytes as the generic encoder.
for name, make, hx in VECTORS:
    pkt = make()
    exp = h(hx)
    buf = bytearray(300)
    if pkt.type == P.PUBLISH:
        n = encode_publish(buf, pkt.topic, pkt.payload, pkt.qos, pkt.retain, pkt.dup,
                           pkt.packet_id, pkt.props)
        check(bytes(buf[:n]) == exp, "encode_publish " + name)
        n = encode_publish(buf, pkt.topic.encode(), memoryview(pkt.payload), pkt.qos,
                           pkt.retain, pkt.dup, pkt.packet_id, pkt.props)
        check(bytes(buf[:n]) == exp, "encode_publish bytes topic " + name)
        check(publish_size(pkt.topic, pkt.payload, pkt.qos, pkt.props) == len(exp),
              "publish_size " + name)
    elif P.PUBACK <= pkt.type <= P.PUBCOMP:
        n = encode_ack(buf, pkt.type, pkt.packet_id, pkt.reason_code, pkt.props)
        check(bytes(buf[:n]) == exp, "encode_ack " + name)

# Variable Byte Integer boundaries (spec 1.5.5).
for value, hx in VBI:
    buf = bytearray(4)
    n = wire.encode_vbi(buf, 0, value)
    check(bytes(buf[:n]) == h(hx), "encode_vbi %d" % value)
    check(wire.vbi_size(value) == n, "vbi_size %d" % value)
    check(wire.decode_vbi(h(hx), 0, n) == value, "decode_vbi %d" % value)
    # frame() on a PUBLISH header with that Remaining Length: no allocation
    hdr = b"\x30" + h(hx)
    check(wire.frame(hdr, 0, len(hdr), None) == 1 + n + value, "frame vbi %d" % value)
    check(wire.frame(hdr, 0, len(hdr) - 1, None) == -1 if n > 1 else True,
          "frame partial vbi %d" % value)
check(raises(lambda: wire.encode_vbi(bytearray(5), 0, 268435456), ValueError),
      "encode_vbi over max")
check(raises(lambda: wire.frame(b"\x30\xff\xff\xff\xff\x01", 0, 6, None), ProtocolError, 0x81),
      "frame 5-byte vbi")
check(raises(lambda: wire.frame(b"\x30\x80\x00", 0, 3, None), ProtocolError, 0x81),
      "frame overlong vbi")
check(wire.frame(b"", 0, 0, 10) == -2 and wire.frame(b"\x30", 0, 1, 10) == -1,
      "frame empty")
check(wire.frame(b"xx\x30\x02ab", 2, 6, 10) == 4, "frame offset start")
check(raises(lambda: wire.frame(b"\x30\xff\xff\xff\x7f", 0, 5, 100000), ProtocolError, 0x95),
      "frame 268435460 over max")

# Whole packets across the 1/2/3-byte Remaining Length boundaries: topic "t"
# (3) + property length (1) + payload, so payload = RL - 4.
for rl, hdr in ((127, "307F"), (128, "308001"), (16383, "30FF7F"), (16384, "30808001")):
    data = P.encode(P.Publish("t", b"\x55" * (rl - 4)))
    check(data[:len(hdr) // 2] == h(hdr) and len(data) == len(hdr) // 2 + rl,
          "publish RL %d header" % rl)
    d = P.decode(data)
    check(len(d.payload) == rl - 4 and d.payload[0] == 0x55, "publish RL %d decode" % rl)

# Decoded PUBLISH payload is a view into the input, not a copy.
rx = bytearray(h("30 08 0003 612F62 00 6869"))
d = P.decode(memoryview(rx))
rx[-1] = 0x21
check(isinstance(d.payload, memoryview) and bytes(d.payload) == b"h!", "payload is a view")
check(P.decode(h("30 08 0003 612F62 00 6869")).packet_id is None, "QoS 0 packet_id None")

# A Response Topic with a wildcard is refused when sent [MQTT-3.3.2-14] (encode, below)
# but decodes: its sender broke the rule, and a broker that forwards it would resend
# it after every reconnect if the client dropped the link over it.
for data, rt in (("30 0B 0001 61 05 08 0002 722B 6869", "r+"), ("30 09 0001 61 03 08 0000 6869", "")):
    d = P.decode(h(data))
    check(d.props[pr.RESPONSE_TOPIC] == rt and bytes(d.payload) == b"hi",
          "Response Topic %r decodes" % rt)

# Non-ASCII UTF-8 (2, 3 and 4 byte sequences) round trips; a BOM is kept as
# U+FEFF, not stripped [MQTT-1.5.4-3].
for t in ("t/\u00e9t\u00e9", "\u20ac/\U0001F600", "\ufeffbom"):
    d = P.decode(P.encode(P.Publish(t, b"x", props={pr.USER_PROPERTY: [(t, t)]})))
    check(d.topic == t and d.props[pr.USER_PROPERTY] == [(t, t)], "utf-8 round trip %r" % t)
check(P.encode(P.Publish("\ufeffbom", b""))[4:7] == b"\xef\xbb\xbf", "BOM encoded as is")

# Encode-side validation: ValueError for invalid contents.
bad = [
    lambda: P.encode(P.Publish("a/+", b"")),
    lambda: P.encode(P.Publish("a/#", b"")),
    lambda: P.encode(P.Publish(b"a/+", b"")),  # bytes topics: checked as bytes
    lambda: P.encode(P.Publish(bytearray(b"#"), b"")),
    lambda: P.encode(P.Publish(memoryview(b"a/#"), b"")),
    lambda: P.encode(P.Publish("", b"")),
    lambda: P.encode(P.Publish("a", b"", 3, packet_id=1)),
    lambda: P.encode(P.Publish("a", b"", 1, packet_id=0)),
    lambda: P.encode(P.Publish("a", b"", 1)),
    lambda: P.encode(P.Publish("a", b"", 0, dup=True)),
    lambda: P.encode(P.Publish("a\x00b", b"")),
    lambda: P.encode(P.Publish(b"\xc0\x80", b"")),
    lambda: P.encode(P.Publish("a", b"", props={pr.SESSION_EXPIRY_INTERVAL: 1})),
    lambda: P.encode(P.Publish("a", b"", props={pr.TOPIC_ALIAS: 0})),
    lambda: P.encode(P.Publish("a", b"", props={pr.PAYLOAD_FORMAT_INDICATOR: 2})),
    lambda: P.encode(P.Publish("a", b"", props={0x04: 1})),
    lambda: P.encode(P.Publish("a", b"", props={pr.MESSAGE_EXPIRY_INTERVAL: -1})),
    lambda: P.encode(P.Publish("a", b"", props={pr.CORRELATION_DATA: "str"})),
    lambda: P.encode(P.Connack(True, 0x80)),
    lambda: P.encode(P.Connack(False, 0x10)),
    lambda: P.encode(P.PubAck(P.PUBREL, 1, 0x10)),
    lambda: P.encode(P.PubAck(P.PUBACK, 0)),
    lambda: P.encode(P.Subscribe(1, [])),
    lambda: P.encode(P.Subscribe(1, ["a"])),
    lambda: P.encode(P.Subscribe(1, [("a/#/b", 0)])),
    lambda: P.encode(P.Subscribe(1, [("a", 3)])),
    lambda: P.encode(P.Subscribe(1, [("a", 0x30)])),
    lambda: P.encode(P.Subscribe(1, [("$share/g/a", 4)])),
    lambda: P.encode(P.Subscribe(1, [("a", 0)], {pr.SUBSCRIPTION_IDENTIFIER: [1, 2]})),
    lambda: P.encode(P.Unsubscribe(1, [])),
    lambda: P.encode(P.Suback(1, [0x11])),
    lambda: P.encode(P.Suback(1, [])),
    lambda: P.encode(P.Disconnect(0x18)),
    lambda: P.encode(P.Auth(0x87)),
    lambda: P.encode(P.Auth(0x18)),
    lambda: P.encode(P.Auth(0, {pr.REASON_STRING: "no method"})),
    lambda: P.encode(P.Connect("c", will=P.Will("a/+", b""))),
    lambda: P.encode(P.Connect("c", will=P.Will("a", b"", 3))),
    lambda: P.encode(P.Connect("c", keepalive=70000)),
    lambda: encode_ack(bytearray(10), P.PUBLISH, 1),
    lambda: P.encode(P.Publish("a", b"", props={pr.RESPONSE_TOPIC: "r/+"})),
    lambda: P.encode(P.Auth(0x18, {pr.AUTHENTICATION_DATA: b"x"})),
]
for i in range(len(bad)):
    check(raises(bad[i], ValueError), "encode rejects #%d" % i)
check(raises(lambda: encode_publish(bytearray(5), "abc", b"xyz"), ProtocolError, 0x95),
      "encode_publish too small")

# Reason code names, including the per-packet names of 0x00.
check(rc.name(0x87) == "Not authorized", "name 0x87")
check(rc.name(0x00) == "Success" and rc.name(0, P.DISCONNECT) == "Normal disconnection"
      and rc.name(0, P.SUBACK) == "Granted QoS 0", "name 0x00 per packet")
check(rc.name(0xA2) == "Wildcard Subscriptions not supported", "name last")
check(rc.name(0x81) == "Malformed Packet" and rc.name(0x95) == "Packet too large", "names")
check(rc.name(0x03).startswith("Unknown"), "name unknown")
check(rc.allowed(0x10, P.PUBACK) and not rc.allowed(0x10, P.PUBREL), "allowed")
e = ProtocolError(0x82, "detail")
check(e.reason_code == 0x82 and "Protocol Error" in str(e) and "detail" in str(e),
      "ProtocolError str")

# Property table: every identifier 0x01..0x2A with its wire type (Table 2-4).
types = {0x01: 1, 0x02: 3, 0x03: 5, 0x08: 5, 0x09: 6, 0x0B: 4, 0x11: 3, 0x12: 5,
         0x13: 2, 0x15: 5, 0x16: 6, 0x17: 1, 0x18: 3, 0x19: 1, 0x1A: 5, 0x1C: 5,
         0x1F: 5, 0x21: 2, 0x22: 2, 0x23: 2, 0x24: 1, 0x25: 1, 0x26: 7, 0x27: 3,
         0x28: 1, 0x29: 1, 0x2A: 1}
for pid in range(0x2C):
    check(pr.wire_type(pid) == types.get(pid, 0), "wire type 0x%02X" % pid)
check(pr.allowed(pr.WILL_DELAY_INTERVAL, pr.WILL) and
      not pr.allowed(pr.WILL_DELAY_INTERVAL, P.CONNECT), "will property placement")

print(json.dumps({"script": "codec_vectors", "ok": ok, "failures": failures}))
