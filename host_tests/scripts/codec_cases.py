"""Shared codec test material (CPython and MicroPython): byte-exact vectors
for every packet type with the spec's arithmetic, a malformed corpus, and
helpers to compare packets. Imported by the codec_*.py scripts and by the
CPython-only pytest modules."""
import binascii

import mqtt5.packets as P
import mqtt5.wire as wire
import mqtt5.properties as pr


def h(s):
    """Bytes from spaced hex."""
    return binascii.unhexlify(s.replace(" ", ""))


_ATTRS = ("client_id", "clean_start", "keepalive", "username", "password", "will",
          "session_present", "reason_code", "topic", "payload", "qos", "retain", "dup",
          "packet_id", "topics", "reason_codes", "props")


def reheader(body_first, body):
    """A packet (bytes) with first byte ``body_first`` and a correct Remaining Length."""
    out = bytearray(5 + len(body))
    out[0] = body_first
    off = wire.encode_vbi(out, 1, len(body))
    out[off:off + len(body)] = body
    return bytes(out[:off + len(body)])


def fields(pkt):
    """Comparable view of a packet: public attributes, views/bytearrays as
    bytes, SUBACK reason codes as bytes, Will as a nested dict."""
    out = {"type": pkt.type}
    for k in _ATTRS:
        if not hasattr(pkt, k):
            continue
        v = getattr(pkt, k)
        if isinstance(v, (memoryview, bytearray)):
            v = bytes(v)
        elif k == "reason_codes":
            v = bytes(v)
        elif k == "will" and v is not None:
            v = {"topic": v.topic, "payload": bytes(v.payload), "qos": v.qos,
                 "retain": bool(v.retain), "props": v.props}
        elif k in ("retain", "dup", "clean_start", "session_present"):
            v = bool(v)
        elif k == "topics":
            v = list(v)
        out[k] = v
    return out


def _sub_options(qos, nl=0, rap=0, rh=0):
    return qos | nl << 2 | rap << 3 | rh << 4


# (name, factory, hex). Comments give the Remaining Length arithmetic.
VECTORS = [
    # CONNECT: name 00 04 "MQTT" (6) + level (1) + flags (1) + keepalive (2)
    # + property length (1) = 11; payload client id 00 02 "c1" (4); RL 15.
    ("connect-min", lambda: P.Connect("c1", True, 60),
     "10 0F 0004 4D515454 05 02 003C 00 0002 6331"),
    # flags 0x80 user | 0x40 password | 0x20 will retain | 2<<3 will QoS
    # | 0x04 will = 0xF4. Props 11 FFFFFFFF (5) + 21 0014 (3) + 26 "a" "b" (7)
    # = 15. Variable header 10 + 1 + 15 = 26. Payload: client id 4, will
    # props 1 + 5 = 6, will topic 3, will payload 3, user 3, password 3 = 22.
    # RL 26 + 22 = 48 = 0x30.
    ("connect-full", lambda: P.Connect(
        "id", False, 10, "u", b"p",
        P.Will("w", b"x", 2, True, {pr.WILL_DELAY_INTERVAL: 1}),
        {pr.SESSION_EXPIRY_INTERVAL: 0xFFFFFFFF, pr.RECEIVE_MAXIMUM: 20,
         pr.USER_PROPERTY: [("a", "b")]}),
     "10 30 0004 4D515454 05 F4 000A 0F 11FFFFFFFF 210014 2600016100 0162"
     " 0002 6964 05 1800000001 000177 000178 000175 000170"),
    # CONNECT with every CONNECT-only property: 17 01 (2) + 19 01 (2)
    # + 22 0005 (3) + 27 00010000 (5) + 15 "m" (4) + 16 00 01 AA (4) = 20;
    # RL 10 + 1 + 20 + client id "" (2) = 33 = 0x21.
    ("connect-props", lambda: P.Connect("", True, 0, None, None, None, {
        pr.REQUEST_PROBLEM_INFORMATION: 1, pr.REQUEST_RESPONSE_INFORMATION: 1,
        pr.TOPIC_ALIAS_MAXIMUM: 5, pr.MAXIMUM_PACKET_SIZE: 65536,
        pr.AUTHENTICATION_METHOD: "m", pr.AUTHENTICATION_DATA: b"\xaa"}),
     "10 21 0004 4D515454 05 02 0000 14 1500016D 160001AA 1701 1901 220005"
     " 2700010000 0000"),
    # CONNACK: flags (1) + reason (1) + property length (1) = 3.
    ("connack-min", lambda: P.Connack(False, 0), "20 03 00 00 00"),
    ("connack-refused", lambda: P.Connack(False, 0x87), "20 03 00 87 00"),
    # Properties in id order: 11 (5) 12 (4) 13 (3) 15 (4) 16 (4) 1A (4)
    # 1C (4) 1F (5) 21 (3) 22 (3) 24 (2) 25 (2) 27 (5) 28 (2) 29 (2) 2A (2)
    # = 54 = 0x36; RL 2 + 1 + 54 = 57 = 0x39.
    ("connack-props", lambda: P.Connack(True, 0, {
        pr.SESSION_EXPIRY_INTERVAL: 7, pr.ASSIGNED_CLIENT_IDENTIFIER: "c",
        pr.SERVER_KEEP_ALIVE: 30, pr.AUTHENTICATION_METHOD: "m",
        pr.AUTHENTICATION_DATA: b"\x01", pr.RESPONSE_INFORMATION: "r",
        pr.SERVER_REFERENCE: "s", pr.REASON_STRING: "ok", pr.RECEIVE_MAXIMUM: 5,
        pr.TOPIC_ALIAS_MAXIMUM: 10, pr.MAXIMUM_QOS: 1, pr.RETAIN_AVAILABLE: 0,
        pr.MAXIMUM_PACKET_SIZE: 1024, pr.WILDCARD_SUBSCRIPTION_AVAILABLE: 1,
        pr.SUBSCRIPTION_IDENTIFIER_AVAILABLE: 1, pr.SHARED_SUBSCRIPTION_AVAILABLE: 0}),
     "20 39 01 00 36 1100000007 12000163 13001E 1500016D 16000101 1A000172"
     " 1C000173 1F00026F6B 210005 22000A 2401 2500 2700000400 2801 2901 2A00"),
    # PUBLISH QoS 0: topic 00 03 "a/b" (5) + property length (1) + "hi" (2) = 8.
    ("publish-qos0", lambda: P.Publish("a/b", b"hi"), "30 08 0003 612F62 00 6869"),
    # 0x30 | DUP 0x08 | QoS 1 << 1 | RETAIN 1 = 0x3B. Props 01 (2) 02 (5)
    # 03 (4) 08 (4) 09 (5) 0B 01 (2) 0B FFFFFF7F (5) 23 (3) 26 (7) 26 (7)
    # = 44 = 0x2C; RL topic 3 + id 2 + 1 + 44 = 50 = 0x32.
    ("publish-props", lambda: P.Publish("t", b"", 1, True, True, 10, {
        pr.PAYLOAD_FORMAT_INDICATOR: 1, pr.MESSAGE_EXPIRY_INTERVAL: 60,
        pr.CONTENT_TYPE: "c", pr.RESPONSE_TOPIC: "r", pr.CORRELATION_DATA: b"\x00\x01",
        pr.SUBSCRIPTION_IDENTIFIER: [1, 268435455], pr.TOPIC_ALIAS: 3,
        pr.USER_PROPERTY: [("k", "1"), ("k", "2")]}),
     "3B 32 000174 000A 2C 0101 020000003C 03000163 08000172 0900020001 0B01"
     " 0BFFFFFF7F 230003 2600016B000131 2600016B000132"),
    # QoS 2 (0x34), empty topic allowed with a Topic Alias: topic 2 + id 2
    # + props 1 + 3 + payload 1 = 9.
    ("publish-alias", lambda: P.Publish("", b"\x00", 2, False, False, 65535,
                                        {pr.TOPIC_ALIAS: 1}),
     "34 09 0000 FFFF 03 230001 00"),
    # Acks: packet id (2); short form RL 2 means Success, no properties
    # (3.4.2.1); RL 3 adds the reason code only.
    ("puback-short", lambda: P.PubAck(P.PUBACK, 1), "40 02 0001"),
    ("puback-rc", lambda: P.PubAck(P.PUBACK, 1, 0x10), "40 03 0001 10"),
    # PUBREC: id 2 + reason 1 + property length 1 + 1F "no" (5) = 9.
    ("pubrec-props", lambda: P.PubAck(P.PUBREC, 2, 0x80, {pr.REASON_STRING: "no"}),
     "50 09 0002 80 05 1F00026E6F"),
    ("pubrel", lambda: P.PubAck(P.PUBREL, 3), "62 02 0003"),
    ("pubcomp-rc", lambda: P.PubAck(P.PUBCOMP, 4, 0x92), "70 03 0004 92"),
    # SUBSCRIBE (flags 0010): id 2 + property length 1 + 0B 80 01 (3)
    # + "a/+" (5) + options (1) + "#" (3) + options (1) = 16 = 0x10.
    # Options 0x2D = QoS 1 | No Local 0x04 | Retain As Published 0x08 | RH 2 << 4.
    ("subscribe", lambda: P.Subscribe(1, [("a/+", _sub_options(1, 1, 1, 2)), ("#", 0)],
                                      {pr.SUBSCRIPTION_IDENTIFIER: 128}),
     "82 10 0001 03 0B8001 0003612F2B 2D 000123 00"),
    # SUBACK: id 2 + property length 1 + 4 codes = 7.
    ("suback", lambda: P.Suback(1, [0, 1, 2, 0x80]), "90 07 0001 00 00010280"),
    # UNSUBSCRIBE (flags 0010): 2 + 1 + "a/b" (5) + "c" (3) = 11.
    ("unsubscribe", lambda: P.Unsubscribe(2, ["a/b", "c"]), "A2 0B 0002 00 0003612F62 000163"),
    # UNSUBACK: 2 + 1 + 26 "a" "" (6) + 2 codes = 11.
    ("unsuback", lambda: P.Unsuback(2, [0, 0x11], {pr.USER_PROPERTY: [("a", "")]}),
     "B0 0B 0002 06 260001610000 0011"),
    ("pingreq", lambda: P.Pingreq(), "C0 00"),
    ("pingresp", lambda: P.Pingresp(), "D0 00"),
    # DISCONNECT short forms: RL 0 = Normal disconnection (3.14.2.1), RL 1 =
    # reason only.
    ("disconnect-short", lambda: P.Disconnect(), "E0 00"),
    ("disconnect-will", lambda: P.Disconnect(0x04), "E0 01 04"),
    # reason 1 + property length 1 + 11 (5) + 1C "x" (4) + 1F "bye" (6) = 17.
    ("disconnect-props", lambda: P.Disconnect(0x8B, {
        pr.SESSION_EXPIRY_INTERVAL: 0, pr.REASON_STRING: "bye", pr.SERVER_REFERENCE: "x"}),
     "E0 11 8B 0F 1100000000 1C000178 1F0003627965"),
    ("auth-short", lambda: P.Auth(), "F0 00"),
    # reason 1 + property length 1 + 15 "SCRAM" (8) + 16 0102 (5) = 15.
    ("auth", lambda: P.Auth(0x18, {pr.AUTHENTICATION_METHOD: "SCRAM",
                                   pr.AUTHENTICATION_DATA: b"\x01\x02"}),
     "F0 0F 18 0D 15000553435241 4D 1600020102"),
]

# Variable Byte Integer boundaries (spec 1.5.5 table): value -> encoding.
VBI = [
    (0, "00"), (127, "7F"), (128, "8001"), (16383, "FF7F"), (16384, "808001"),
    (2097151, "FFFF7F"), (2097152, "80808001"), (268435455, "FFFFFF7F"),
]

# (name, hex, reason code expected) for decode(); every one must raise
# ProtocolError with that code.
MALFORMED = [
    ("type 0", "00 00", 0x81),
    ("rl mismatch short", "C0 01", 0x81),
    ("rl mismatch long", "C0 00 00", 0x81),
    ("overlong vbi", "C0 80 00", 0x81),
    ("5 byte vbi", "30 80 80 80 80 01", 0x81),
    ("pingreq flags", "C1 00", 0x81),
    ("pingresp body", "D0 01 00", 0x81),
    ("pubrel flags 0000", "60 02 0001", 0x81),
    ("subscribe flags 0000", "80 06 0001 00 000161 00", 0x81),
    ("unsubscribe flags", "A0 05 0001 00 000161", 0x81),
    ("connack flags", "21 03 00 00 00", 0x81),
    ("disconnect flags", "E8 00", 0x81),
    ("auth flags", "F1 00", 0x81),
    ("publish qos 3", "36 06 000161 0001 00", 0x81),
    ("publish dup qos0", "38 04 000161 00", 0x81),
    ("publish pid 0", "32 06 000161 0000 00", 0x82),
    ("publish wildcard +", "30 04 00012B 00", 0x90),
    ("publish wildcard #", "30 06 0003612F23 00", 0x90),
    ("publish empty topic no alias", "30 03 0000 00", 0x82),
    # Topic Alias 0 is not permitted [MQTT-3.3.2-8]: the specific 0x94 Topic Alias invalid
    ("publish topic alias 0", "30 06 0000 03 230000", 0x94),
    ("utf8 overlong C0 80", "30 05 0002C080 00", 0x81),
    ("utf8 surrogate ED A0 80", "30 06 0003EDA080 00", 0x81),
    ("utf8 F5", "30 04 0001F5 00", 0x81),
    ("utf8 truncated E2 82", "30 05 0002E282 00", 0x81),
    ("utf8 bad continuation", "30 05 0002C341 00", 0x81),
    ("utf8 above U+10FFFF", "30 07 0004F4908080 00", 0x81),
    ("utf8 U+0000", "30 04 000100 00", 0x81),
    ("string longer than packet", "30 04 000561 00", 0x81),
    ("property length beyond packet", "30 05 000161 05 01", 0x81),
    ("duplicate property", "30 08 000161 04 0101 0100", 0x82),
    ("duplicate topic alias", "30 0A 000161 06 230001 230002", 0x82),
    ("duplicate sub id on SUBSCRIBE", "82 0B 0001 04 0B01 0B02 000161 00", 0x82),
    ("property not allowed", "30 09 000161 05 1100000001", 0x81),
    ("unassigned property 0x04", "30 06 000161 02 0400", 0x81),
    ("property id overlong vbi", "30 07 000161 03 810000", 0x81),
    ("payload format 2", "30 06 000161 02 0102", 0x82),
    ("subscription identifier 0", "82 09 0001 02 0B00 000161 00", 0x82),
    ("receive maximum 0", "20 06 00 00 03 210000", 0x82),
    ("maximum packet size 0", "20 08 00 00 05 2700000000", 0x82),
    ("maximum qos 2", "20 05 00 00 02 2402", 0x82),
    ("truncated u32 property", "20 06 00 00 03 270000", 0x81),
    ("user property half", "20 08 00 00 05 2600016100", 0x81),
    ("connack session present with error", "20 03 01 80 00", 0x82),
    ("connack bad reason", "20 03 00 10 00", 0x82),
    ("connack no property length", "20 02 00 00", 0x81),
    ("connack trailing", "20 04 00 00 00 00", 0x81),
    ("puback bad reason", "40 03 0001 92", 0x82),
    ("pubcomp 0x95", "70 03 0001 95", 0x82),  # tolerated only in PUBACK/PUBREC
    ("puback pid 0", "40 02 0000", 0x82),
    ("pubrel bad reason", "62 03 0001 10", 0x82),
    ("ack trailing", "40 05 0001 00 00 00", 0x81),
    ("suback bad reason", "90 04 0001 00 11", 0x82),
    ("unsuback bad reason", "B0 04 0001 00 01", 0x82),
    ("suback without reason codes", "90 03 0001 00", 0x82),
    ("unsuback without reason codes", "B0 03 0001 00", 0x82),
    ("subscribe no filters", "82 03 0001 00", 0x82),
    ("unsubscribe no filters", "A2 03 0001 00", 0x82),
    ("subscribe reserved option bits", "82 07 0001 00 000161 40", 0x81),
    ("subscribe qos 3", "82 07 0001 00 000161 03", 0x82),
    ("subscribe retain handling 3", "82 07 0001 00 000161 30", 0x82),
    ("subscribe no local on shared", "82 10 0001 00 000A 2473686172652F672F61 04", 0x82),
    ("subscribe missing options", "82 06 0001 00 000161", 0x81),
    ("subscribe bad filter a/#/b", "82 0B 0001 00 0005612F232F62 00", 0x8F),
    ("subscribe bad filter a+", "82 08 0001 00 0002612B 00", 0x8F),
    ("subscribe empty filter", "82 06 0001 00 0000 00", 0x8F),
    ("subscribe share without name", "82 0F 0001 00 0009 2473686172652F2F61 00", 0x8F),
    ("connect bad name", "10 0D 0004 4D515453 05 02 003C 00 0000", 0x84),
    ("connect version 4", "10 0D 0004 4D515454 04 02 003C 00 0000", 0x84),
    ("connect reserved flag", "10 0D 0004 4D515454 05 03 003C 00 0000", 0x81),
    ("connect will qos without will", "10 0D 0004 4D515454 05 0A 003C 00 0000", 0x81),
    ("connect will retain without will", "10 0D 0004 4D515454 05 22 003C 00 0000", 0x81),
    ("connect will qos 3", "10 14 0004 4D515454 05 1E 003C 00 0000 00 000161 000162", 0x81),
    ("connect username flag without username", "10 0D 0004 4D515454 05 82 003C 00 0000", 0x81),
    ("connect password flag without password", "10 0D 0004 4D515454 05 42 003C 00 0000", 0x81),
    ("connect will wildcard topic", "10 14 0004 4D515454 05 06 003C 00 0000 00 00012B 000162", 0x90),
    ("connect will property not allowed", "10 19 0004 4D515454 05 06 003C 00 0000 05"
     " 1100000001 000161 000162", 0x81),
    ("disconnect bad reason", "E0 01 01", 0x82),
    ("disconnect truncated props", "E0 03 00 05 01", 0x81),
    ("auth reason without property length", "F0 01 18", 0x81),
    ("auth bad reason", "F0 02 87 00", 0x82),
    ("authentication data without method", "F0 07 18 05 1600020102", 0x82),
    ("auth without method", "F0 02 18 00", 0x82),
]
# A Response Topic with a wildcard, or an empty one, is no error when it arrives
# (codec_vectors.py decodes both): the rule binds its sender [MQTT-3.3.2-14].
