"""MQTT v5 control packets: type constants, ``decode`` and ``encode``.

    pkt = decode(memoryview(frame_bytes))   # exactly one complete packet
    data = encode(pkt)                      # bytes
    n = encode(pkt, buf)                    # into a caller's buffer

Packet classes (constructed by callers with keyword args, or returned by
``decode``) live in one module per family and are also reachable here lazily:
Connect, Connack (connect); Will (server); Publish (publish); PubAck (ack); Subscribe,
Suback (subscribe); Unsubscribe, Unsuback (unsubscribe); Pingreq, Pingresp, Disconnect,
Auth (control). Each has ``.type``.

Errors: ``decode`` raises only ProtocolError (reason code inside). ``encode``
raises ValueError for invalid contents (bad topic or UTF-8, QoS 3, packet id
0, property not allowed in that packet, reason code not allowed ...), and
ProtocolError(0x95) when ``buf`` is too small for the packet.
"""
from mqtt5.errors import ProtocolError
import mqtt5.wire as wire

_CONNECT = const(1)
_CONNACK = const(2)
_PUBLISH = const(3)
_PUBACK = const(4)
_PUBREC = const(5)
_PUBREL = const(6)
_PUBCOMP = const(7)
_SUBSCRIBE = const(8)
_SUBACK = const(9)
_UNSUBSCRIBE = const(10)
_UNSUBACK = const(11)
_PINGREQ = const(12)
_PINGRESP = const(13)
_DISCONNECT = const(14)
_AUTH = const(15)


def named(table, name, text):
    """The int (the text with ``text``) that a "NAME=value ..." table gives ``name``;
    AttributeError if none (a module's lazy public names)."""
    for item in table.split():
        k, v = item.split("=")
        if k == name:
            return v if text else int(v, 0)
    raise AttributeError(name)


_MALFORMED = const(0x81)
_VBI_MAX = const(268435455)  # wire's: a Remaining Length's largest

# the packet classes' modules (a string: no dict built at import)
_WHERE = ("Connect=connect Will=server Connack=connect Publish=publish PubAck=ack "
          "Subscribe=subscribe Suback=subscribe Unsubscribe=unsubscribe Unsuback=unsubscribe "
          "Pingreq=control Pingresp=control Disconnect=control Auth=control")


def __getattr__(name):
    try:
        mod = named(_WHERE, name, True)
    except AttributeError:
        from mqtt5.names import PACKETS  # the control packet types (spec 2.1.2)

        return named(PACKETS, name, False)
    v = getattr(__import__("mqtt5.packets." + mod, None, None, (name,)), name)
    globals()[name] = v
    return v


def decode(mv):
    """Decode one complete packet (fixed header included) from memoryview
    ``mv`` (bytes are wrapped). Returns a packet object; PUBLISH payloads are
    views into ``mv``. Raises only ProtocolError."""
    if not isinstance(mv, memoryview):
        try:
            mv = memoryview(mv)
        except Exception:
            raise ProtocolError(_MALFORMED, "not a buffer")
    end = len(mv)
    if end < 2:
        raise ProtocolError(_MALFORMED, "truncated fixed header")
    b0 = mv[0]
    t = b0 >> 4
    fl = b0 & 15
    rl = wire.decode_vbi(mv, 1, end)
    p = 1 + wire.vbi_size(rl)
    if p + rl != end:
        raise ProtocolError(_MALFORMED, "remaining length mismatch")
    # `import a.b as m` inside a function allocates nothing on MicroPython
    # (`from a.b import f` does), and keeps rarely used families unloaded.
    if t == _PUBLISH:
        import mqtt5.packets.publish as m
        return m.decode_publish(mv, fl, p, end)
    check_first(b0)
    if t <= _PUBCOMP:
        if t == _CONNECT:  # decoded only by a server
            import mqtt5.packets.server as m
            # type: ignore below: mypy binds `m` to one module only (tools/typecheck.py)
            return m.decode_connect(mv, p, end)  # type: ignore[attr-defined]
        if t == _CONNACK:
            import mqtt5.packets.connect as m
            return m.decode_connack(mv, p, end)  # type: ignore[attr-defined]
        import mqtt5.packets.ack as m
        return m.decode_ack(mv, t, p, end)  # type: ignore[attr-defined]
    if t <= _UNSUBACK:
        import mqtt5.packets.subscribe as m
        return m.decode_sub(mv, t, p, end)  # type: ignore[attr-defined]
    import mqtt5.packets.control as m
    return m.decode_control(mv, t, p, end)  # type: ignore[attr-defined]


def check_first(b0):
    """ProtocolError 0x81 for a first byte no packet may start with, known as soon
    as it arrives (a reader need not wait for the rest): packet type 0 (spec
    2.1.2), reserved flag bits other than 0010 for PUBREL, SUBSCRIBE and
    UNSUBSCRIBE and 0000 for the rest [MQTT-2.1.3-1] [MQTT-3.6.1-1] [MQTT-3.8.1-1]
    [MQTT-3.10.1-1] [MQTT-3.14.1-1] [MQTT-3.15.1-1], PUBLISH QoS 3 [MQTT-3.3.1-4]."""
    t = b0 >> 4
    fl = b0 & 15
    if t == 0:
        raise ProtocolError(_MALFORMED, "reserved packet type 0")
    if t == _PUBLISH:
        if fl & 6 == 6:
            raise ProtocolError(_MALFORMED, "PUBLISH QoS 3")
    elif fl != _flags(t):
        raise ProtocolError(_MALFORMED, "bad fixed header flags")


def encode(pkt, buf=None):
    """Encode packet object ``pkt``. Without ``buf`` returns bytes; with a
    bytearray/memoryview ``buf`` writes at its start and returns the length
    (ProtocolError(0x95) if it does not fit). ValueError for invalid
    contents (see module docstring)."""
    t = pkt.type
    if t == _PUBLISH:  # through the hot-path encoder
        import mqtt5.packets.publish as pm

        out = buf
        if buf is None:
            out = bytearray(pm.publish_size(pkt.topic, pkt.payload, pkt.qos, pkt.props))
        n = pm.encode_publish(out, pkt.topic, pkt.payload, pkt.qos, pkt.retain, pkt.dup,
                              pkt.packet_id, pkt.props)
        return bytes(out) if buf is None else n
    srv = t == _CONNACK or t == _SUBACK or t == _UNSUBACK
    if srv:  # sent only by a server: its encoder loads on use
        import mqtt5.packets.server as m

        rl = m.size(pkt)
    else:
        rl = pkt._size()
    if rl > _VBI_MAX:
        raise ValueError("packet too large to encode")
    total = 1 + wire.vbi_size(rl) + rl
    if buf is None:
        out = bytearray(total)
    elif len(buf) < total:
        raise ProtocolError(0x95, "packet of %d bytes does not fit the buffer" % total)
    else:
        out = buf
    out[0] = t << 4 | _flags(t)
    off = wire.encode_vbi(out, 1, rl)
    if srv:
        m.write(pkt, out, off)
    else:
        pkt._write(out, off)
    return bytes(out) if buf is None else total


def _flags(t):
    # fixed-header flags of every packet but PUBLISH: 0010 for PUBREL, SUBSCRIBE,
    # UNSUBSCRIBE, else 0000 [MQTT-2.1.3-1]
    return 2 if t == _PUBREL or t == _SUBSCRIBE or t == _UNSUBSCRIBE else 0


def check_pid(pid):
    """ValueError unless 1 <= pid <= 65535 (non-zero [MQTT-2.2.1-3])."""
    if not isinstance(pid, int) or pid < 1 or pid > 65535:
        raise ValueError("packet identifier must be 1..65535")


# Rows of 3 bytes: code, then a 16-bit mask of the packet types that may carry
# it (bit n = packet type n), transcribed from Table 2-6 and checked against the
# per-packet lists in 3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1, 3.9.3,
# 3.11.3, 3.14.2.1 and 3.15.2.1.
_ROWS = (b'\x00\xca\xf4\x01\x02\x00\x02\x02\x00\x04@\x00\x10\x000\x11\x08\x00'
         b'\x18\x80\x00\x19\x80\x00\x80J4\x81@\x04\x82@\x04\x83J4\x84\x00\x04'
         b'\x85\x00\x04\x86\x00\x04\x87J4\x88\x00\x04\x89@\x04\x8a\x00\x04\x8b@'
         b'\x00\x8c@\x04\x8d@\x00\x8e@\x00\x8fJ\x00\x90@4\x91\n0\x92\x00\xc0\x93'
         b'@\x00\x94@\x00\x95@\x04\x96@\x00\x97B4\x98@\x00\x99@4\x9a@\x04\x9b@'
         b'\x04\x9c@\x04\x9d@\x04\x9eB\x00\x9f@\x04\xa0@\x00\xa1B\x00\xa2B\x00')


def rc_row(code):
    """Row of reason ``code`` in the validity table (Table 2-6), -1 if unknown."""
    r = _ROWS
    for i in range(0, len(r), 3):
        if r[i] == code:
            return i // 3
    return -1


def rc_allowed(code, ptype):
    """True when packet type ``ptype`` may carry reason ``code`` (Table 2-6)."""
    r = rc_row(code)
    if r < 0:
        return False
    r *= 3
    return ((_ROWS[r + 1] << 8 | _ROWS[r + 2]) >> ptype) & 1 == 1


def check_rc(code, ptype):
    """ValueError unless packet type ``ptype`` may carry reason ``code``."""
    if not isinstance(code, int) or code and not rc_allowed(code, ptype):  # 0: always
        raise ValueError("reason code 0x%02X not allowed in packet type %d" % (code, ptype))


def read_pid(mv, p, end):
    """Non-zero Packet Identifier at p; ProtocolError(0x82) for 0
    [MQTT-2.2.1-3] [MQTT-2.2.1-4]."""
    pid = wire.u16(mv, p, end)
    if pid == 0:
        raise ProtocolError(0x82, "packet identifier 0")
    return pid


def read_rc(mv, p, end, ptype):
    """Reason code byte at p, checked against the packet's list (Table 2-6,
    e.g. [MQTT-3.2.2-8] [MQTT-3.4.2-1] [MQTT-3.14.2-1]); ProtocolError(0x82).
    Tolerated: 0x95 Packet too large in PUBACK/PUBREC, Mosquitto 2.0's answer to a
    message over its message_size_limit (a failure of that one message)."""
    wire.need(p, 1, end)
    rc = mv[p]
    if rc and not rc_allowed(rc, ptype) and not (rc == 0x95 and 4 <= ptype <= 5):
        raise ProtocolError(0x82, "reason code 0x%02X not valid here" % rc)
    return rc
