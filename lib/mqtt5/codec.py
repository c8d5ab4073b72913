"""The client's core codec: what a basic node encodes and decodes every time, as
functions over bytearray/memoryview, no packet objects.  CONNECT, PUBLISH both ways,
the four acks, CONNACK, a server's DISCONNECT (and AUTH's body, which has its shape),
and the checks every packet from the server gets (its first byte, its reason code).
Decoders fill the attributes of an object they are given (the session's Event, or a
packet object of mqtt5.packets) and raise only ProtocolError with the v5 reason code;
encoders raise ValueError for invalid contents and return ``-size`` when the buffer
is too small (nothing written: grow it, call again).  SUBSCRIBE and UNSUBSCRIBE with
their acks are mqtt5.subcodec's, loaded by the first subscribe.

The packet classes of mqtt5.packets are a layer over these functions and subcodec's
(with their own for the rarer packets), loaded on use: by a rare packet, the server's
half of the codec, or the tests.
"""
import mqtt5.wire as wire  # (and its ProtocolError: each name imported is a slot of
import mqtt5.properties as _pr  # this module's dict)

_CONNECT = const(1)
_CONNACK = const(2)
_PUBLISH = const(3)
_PUBREL = const(6)
_SUBSCRIBE = const(8)
_UNSUBSCRIBE = const(10)
_AUTH = const(15)
_WILL = const(0)  # properties' pseudo packet type of the Will Properties
_TOPIC_ALIAS = const(0x23)
_MALFORMED = const(0x81)
_PROTOCOL = const(0x82)
_TOPIC_INVALID = const(0x90)

# Rows of 3 bytes: code, then a 16-bit mask of the packet types that may carry
# it (bit n = packet type n), transcribed from Table 2-6 and checked against the
# per-packet lists in 3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3,
# 3.11.3, 3.14.2.1 and 3.15.2.1.  (A constant: no name in the module's dict.)
_ROWS = const(b'\x00\xca\xf4\x01\x02\x00\x02\x02\x00\x04@\x00\x10\x000\x11\x08\x00'
              b'\x18\x80\x00\x19\x80\x00\x80J4\x81@\x04\x82@\x04\x83J4\x84\x00\x04'
              b'\x85\x00\x04\x86\x00\x04\x87J4\x88\x00\x04\x89@\x04\x8a\x00\x04\x8b@'
              b'\x00\x8c@\x04\x8d@\x00\x8e@\x00\x8fJ\x00\x90@4\x91\n0\x92\x00\xc0\x93'
              b'@\x00\x94@\x00\x95@\x04\x96@\x00\x97B4\x98@\x00\x99@4\x9a@\x04\x9b@'
              b'\x04\x9c@\x04\x9d@\x04\x9eB\x00\x9f@\x04\xa0@\x00\xa1B\x00\xa2B\x00')


def flags(t):
    """The fixed-header flags of packet type ``t`` but PUBLISH: 0010 for PUBREL,
    SUBSCRIBE and UNSUBSCRIBE, else 0000 [MQTT-2.1.3-1]."""
    return 2 if t == _PUBREL or t == _SUBSCRIBE or t == _UNSUBSCRIBE else 0


def check_first(b0):
    """ProtocolError 0x81 for a first byte no packet may start with, known as soon
    as it arrives (a reader need not wait for the rest): packet type 0 (spec
    2.1.2), reserved flag bits other than 0010 for PUBREL, SUBSCRIBE and
    UNSUBSCRIBE and 0000 for the rest [MQTT-2.1.3-1] [MQTT-3.6.1-1] [MQTT-3.8.1-1]
    [MQTT-3.10.1-1] [MQTT-3.14.1-1] [MQTT-3.15.1-1], PUBLISH QoS 3 [MQTT-3.3.1-4]."""
    t = b0 >> 4
    fl = b0 & 15
    if t == 0:
        raise wire.ProtocolError(_MALFORMED, "reserved packet type 0")
    if t == _PUBLISH:
        if fl & 6 == 6:
            raise wire.ProtocolError(_MALFORMED, "PUBLISH QoS 3")
    elif fl != flags(t):
        raise wire.ProtocolError(_MALFORMED, "bad fixed header flags")


def rc_row(code):
    """Row of reason ``code`` in the validity table (Table 2-6), -1 if unknown."""
    for i in range(0, len(_ROWS), 3):
        if _ROWS[i] == code:
            return i // 3
    return -1


def rc_allowed(code, ptype):
    """True when packet type ``ptype`` may carry reason ``code`` (Table 2-6)."""
    r = rc_row(code)
    if r < 0:
        return False
    r *= 3
    return ((_ROWS[r + 1] << 8 | _ROWS[r + 2]) >> ptype) & 1 == 1


def read_pid(mv, p, end):
    """Non-zero Packet Identifier at p; ProtocolError(0x82) for 0
    [MQTT-2.2.1-3] [MQTT-2.2.1-4]."""
    pid = wire.u16(mv, p, end)
    if pid == 0:
        raise wire.ProtocolError(_PROTOCOL, "packet identifier 0")
    return pid


def read_rc(mv, p, end, ptype):
    """Reason code byte at p, checked against the packet's list (Table 2-6,
    e.g. [MQTT-3.2.2-8] [MQTT-3.4.2-1] [MQTT-3.14.2-1]); ProtocolError(0x82).
    Tolerated: 0x95 Packet too large in PUBACK/PUBREC, Mosquitto 2.0's answer to a
    message over its message_size_limit (a failure of that one message)."""
    wire.need(p, 1, end)
    rc = mv[p]
    if rc and not rc_allowed(rc, ptype) and not (rc == 0x95 and 4 <= ptype <= 5):
        raise wire.ProtocolError(_PROTOCOL, "reason code 0x%02X not valid here" % rc)
    return rc


def decode_publish(obj, mv, fl, p, end):
    """PUBLISH body at mv[p:end] with fixed-header flags ``fl`` into ``obj``'s topic,
    payload (a view into mv), qos, retain, dup, packet_id (only when QoS > 0) and
    props (only when not None, or when obj.props is not)."""
    qos = (fl >> 1) & 3
    if qos == 3:
        raise wire.ProtocolError(_MALFORMED, "QoS 3")  # [MQTT-3.3.1-4]
    dup = fl & 8 != 0
    if dup and qos == 0:
        raise wire.ProtocolError(_MALFORMED, "DUP set on QoS 0")  # [MQTT-3.3.1-2]
    n = wire.blen(mv, p, end)  # Topic Name first, a UTF-8 string [MQTT-3.3.2-1]
    topic = wire.utf8(mv, p + 2, p + 2 + n)
    p += 2 + n
    if qos:
        obj.packet_id = read_pid(mv, p, end)
        p += 2
    obj.qos = qos
    obj.retain = fl & 1 == 1
    obj.dup = dup
    p = _pr.decode(obj, mv, p, end, _PUBLISH)
    if not n and (obj.props is None or _TOPIC_ALIAS not in obj.props):
        # Zero-length Topic Name needs a Topic Alias (3.3.2.3.4)
        raise wire.ProtocolError(_PROTOCOL, "empty topic without alias")
    if n and not wire.topic_name_ok(topic):
        raise wire.ProtocolError(_TOPIC_INVALID, "wildcard in topic name")  # [MQTT-3.3.2-2]
    obj.topic = topic
    obj.payload = mv[p:end]


def decode_connack(obj, mv, p, end):
    """CONNACK body (3.2.2) into ``obj``'s session_present, reason_code and props."""
    wire.need(p, 3, end)
    fl = mv[p]
    if fl & 0xFE:
        raise wire.ProtocolError(_MALFORMED, "reserved CONNACK flags")  # [MQTT-3.2.2-1]
    rc = read_rc(mv, p + 1, end, _CONNACK)  # [MQTT-3.2.2-8]
    if fl and rc:
        raise wire.ProtocolError(_PROTOCOL, "session present with error")  # [MQTT-3.2.2-6]
    obj.session_present = fl == 1
    obj.reason_code = rc
    if _pr.decode(obj, mv, p + 2, end, _CONNACK) != end:
        raise wire.ProtocolError(_MALFORMED, "trailing bytes")


def decode_disconnect(obj, mv, p, end, t):
    """DISCONNECT (``t`` 14) or AUTH (15) body at mv[p:end] into ``obj``'s reason_code
    and props (left as they are when absent): Remaining Length 0 is 0x00 without
    properties; 1 a DISCONNECT's reason code alone, with no Property Length
    (3.14.2.1, 3.14.2.2.1, 3.15.2.1)."""
    if p == end:
        obj.reason_code = 0
        return
    obj.reason_code = read_rc(mv, p, end, t)  # [MQTT-3.14.2-1] [MQTT-3.15.2-1]
    p += 1
    if p == end:
        if t == _AUTH:
            # AUTH omits the Property Length only together with the reason code
            raise wire.ProtocolError(_MALFORMED, "AUTH without Property Length")
        return
    if _pr.decode(obj, mv, p, end, t) != end:
        raise wire.ProtocolError(_MALFORMED, "trailing bytes")


def encode_publish(buf, topic, payload, qos=0, retain=False, dup=False, packet_id=None,
                   props=None, checked=False):
    """Encode a PUBLISH into bytearray/memoryview ``buf`` at offset 0; return its
    length, or ``-length`` when ``buf`` is too small (then nothing is written).
    ``topic`` str or UTF-8 bytes (bytes avoid the one encode allocation;
    ``checked``: bytes whose UTF-8 and wildcards were checked already, not scanned
    again), ``payload`` bytes-like.  Allocates nothing else; ValueError for invalid
    contents."""
    if qos != 0 and qos != 1 and qos != 2:
        raise ValueError("QoS must be 0, 1 or 2")  # [MQTT-3.3.1-4]
    if qos:
        if not isinstance(packet_id, int) or packet_id < 1 or packet_id > 65535:
            raise ValueError("packet identifier must be 1..65535")  # [MQTT-2.2.1-3]
    elif dup:
        raise ValueError("DUP must be 0 for QoS 0")  # [MQTT-3.3.1-2]
    if checked:
        tb = topic
    else:
        tb = wire.to_utf8(topic)
        if isinstance(tb, bytes):
            bad = b"#" in tb or b"+" in tb
        else:  # (no `in` on MicroPython's memoryview)
            bad = False
            for c in tb:
                if c == 0x23 or c == 0x2B:
                    bad = True
        if bad:
            raise ValueError("wildcard in topic name")  # [MQTT-3.3.2-2]
    if not len(tb) and (not props or _TOPIC_ALIAS not in props):
        raise ValueError("empty topic needs a Topic Alias")  # 3.3.2.3.4
    ps = _pr.size(props, _PUBLISH) if props else 0
    n = len(tb)
    np = len(payload)
    rl = 3 + n + (2 if qos else 0) + np  # (3: the Topic Name's length, Property Length)
    if ps:
        rl += wire.vbi_size(ps) - 1 + ps
    total = rl + (2 if rl < 128 else 1 + wire.vbi_size(rl))
    if total > len(buf):
        return -total
    # fixed header: type 3 with the DUP, QoS and RETAIN flags (3.3.1)
    buf[0] = _PUBLISH << 4 | (8 if dup else 0) | qos << 1 | (1 if retain else 0)
    if rl < 128:
        buf[1] = rl
        off = 2
    else:
        off = wire.encode_vbi(buf, 1, rl)
    buf[off] = n >> 8  # Topic Name [MQTT-3.3.2-1]
    buf[off + 1] = n & 0xFF
    off += 2
    buf[off:off + n] = tb
    off += n
    if qos:
        buf[off] = packet_id >> 8
        buf[off + 1] = packet_id & 0xFF
        off += 2
    if ps:
        off = _pr.encode(buf, off, props, _PUBLISH, ps)
    else:
        buf[off] = 0  # Property Length
        off += 1
    buf[off:off + np] = payload
    return off + np


def encode_ack(buf, ptype, packet_id, reason_code):
    """Encode PUBACK/PUBREC/PUBREL/PUBCOMP (``ptype`` 4..7) without properties into
    ``buf`` at offset 0, in the short form for reason code 0 (3.4.2.1); returns the
    length (ack objects with properties: mqtt5.packets.ack).  The session's own
    acks: the arguments are not checked, and buf has room (ACK_ROOM)."""
    buf[0] = ptype << 4 | (2 if ptype == _PUBREL else 0)  # [MQTT-2.1.3-1]
    buf[2] = packet_id >> 8
    buf[3] = packet_id & 0xFF
    if reason_code:
        buf[1] = 3
        buf[4] = reason_code
        return 5
    buf[1] = 2
    return 4


def encode_connect(buf, client_id, clean_start, keepalive, username, password, will,
                   props):
    """Encode CONNECT (3.1) into ``buf`` at offset 0; return its length, or
    ``-length`` when ``buf`` is too small (nothing written).  username str or None,
    password bytes-like or None, will None or any object with topic, payload, qos,
    retain and props (mqtt5.Will); props the CONNECT properties.  ValueError for
    invalid contents."""
    if not isinstance(keepalive, int) or not 0 <= keepalive <= 65535:
        raise ValueError("keepalive must be 0..65535")
    ps = _pr.size(props, _CONNECT)
    cid = wire.to_utf8(client_id)
    rl = 10 + wire.vbi_size(ps) + ps + 2 + len(cid)
    fl = 2 if clean_start else 0
    if will is not None:
        if will.qos != 0 and will.qos != 1 and will.qos != 2:
            raise ValueError("Will QoS must be 0, 1 or 2")  # [MQTT-3.1.2-12]
        wt = wire.to_utf8(will.topic)
        if not len(wt) or not wire.topic_name_ok(str(wt, "utf-8")):
            raise ValueError("invalid Will Topic")  # [MQTT-4.7.3-1] [MQTT-3.3.2-2]
        wps = _pr.size(will.props, _WILL)
        rl += wire.vbi_size(wps) + wps + 4 + len(wt) + wire.bin_len(will.payload)
        fl |= 4 | will.qos << 3 | (0x20 if will.retain else 0)
    if username is not None:
        user = wire.to_utf8(username)
        rl += 2 + len(user)
        fl |= 0x80
    if password is not None:
        rl += 2 + wire.bin_len(password)
        fl |= 0x40
    total = 1 + wire.vbi_size(rl) + rl
    if total > len(buf):
        return -total
    buf[0] = _CONNECT << 4
    off = wire.encode_vbi(buf, 1, rl)
    buf[off:off + 7] = b"\x00\x04MQTT\x05"  # Protocol Name and Version 5 (3.1.2.1-2)
    buf[off + 7] = fl
    off = wire.put_u16(buf, off + 8, keepalive)
    off = _pr.encode(buf, off, props, _CONNECT, ps)
    off = wire.put_lbytes(buf, off, cid)
    if will is not None:
        off = _pr.encode(buf, off, will.props, _WILL, wps)
        off = wire.put_lbytes(buf, off, wt)
        off = wire.put_lbytes(buf, off, will.payload)
    if username is not None:
        off = wire.put_lbytes(buf, off, user)
    if password is not None:
        off = wire.put_lbytes(buf, off, password)
    return off
