"""MQTT v5 control packets: type constants, ``decode`` and ``encode``.

    pkt = decode(memoryview(frame_bytes))   # exactly one complete packet
    data = encode(pkt)                      # bytes
    n = encode(pkt, buf)                    # into a caller's buffer

Packet classes (constructed by callers with keyword args, or returned by
``decode``) live in one module per family and are also reachable here lazily:
Connect, Connack (connect); Will (server); Publish (publish); PubAck (ack); Subscribe,
Suback (subscribe); Unsubscribe, Unsuback (unsubscribe); Pingreq, Pingresp, Disconnect,
Auth (control). Each packet class has ``.type`` (Will, no packet, has none).

Errors: ``decode`` raises only ProtocolError (reason code inside). ``encode``
raises ValueError for invalid contents (bad topic or UTF-8, QoS 3, packet id
0, property not allowed in that packet, reason code not allowed ...), and
ProtocolError(0x95) when ``buf`` is too small for the packet.
"""
from mqtt5.errors import ProtocolError
import mqtt5.wire as wire
from mqtt5.codec import check_first, flags, rc_row, rc_allowed, read_pid, read_rc  # noqa: F401 (API)

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


def encode(pkt, buf=None):
    """Encode packet object ``pkt``. Without ``buf`` returns bytes; with a
    bytearray/memoryview ``buf`` writes at its start and returns the length
    (ProtocolError(0x95) if it does not fit). ValueError for invalid
    contents (see module docstring)."""
    t = pkt.type
    if t == _PUBLISH or t == _CONNECT:  # through the session's own encoders
        import mqtt5.codec as c

        out = b"" if buf is None else buf
        while True:
            if t == _PUBLISH:
                n = c.encode_publish(out, pkt.topic, pkt.payload, pkt.qos, pkt.retain,
                                     pkt.dup, pkt.packet_id, pkt.props)
            else:
                n = c.encode_connect(out, pkt.client_id, pkt.clean_start, pkt.keepalive,
                                     pkt.username, pkt.password, pkt.will, pkt.props)
            if n >= 0:
                return bytes(out) if buf is None else n
            if buf is not None:
                raise ProtocolError(0x95, "packet of %d bytes does not fit the buffer" % -n)
            out = bytearray(-n)
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
    out[0] = t << 4 | flags(t)
    off = wire.encode_vbi(out, 1, rl)
    if srv:
        m.write(pkt, out, off)
    else:
        pkt._write(out, off)
    return bytes(out) if buf is None else total


def check_pid(pid):
    """ValueError unless 1 <= pid <= 65535 (non-zero [MQTT-2.2.1-3])."""
    if not isinstance(pid, int) or pid < 1 or pid > 65535:
        raise ValueError("packet identifier must be 1..65535")


def check_rc(code, ptype):
    """ValueError unless packet type ``ptype`` may carry reason ``code``."""
    if not isinstance(code, int) or code and not rc_allowed(code, ptype):  # 0: always
        raise ValueError("reason code 0x%02X not allowed in packet type %d" % (code, ptype))
