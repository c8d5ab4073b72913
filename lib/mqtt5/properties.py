"""MQTT v5 properties (spec 2.2.2), table driven.

``props`` everywhere is None (no properties) or a dict {property_id: value}:
integers for Byte/Two/Four Byte/VBI properties, str for UTF-8 strings, bytes
for binary data (Correlation Data, Authentication Data), a list of (name,
value) str tuples in wire order for User Property, and for Subscription
Identifier a list of ints on PUBLISH (one per matching subscription) but a
single int on SUBSCRIBE. Property sets are validated per packet type
(``WILL`` = 0 stands for the Will Properties of CONNECT).
"""
import mqtt5.wire as wire  # (and its ProtocolError: one name in the module's dict)

_PAYLOAD_FORMAT_INDICATOR = const(0x01)
_MESSAGE_EXPIRY_INTERVAL = const(0x02)
_CONTENT_TYPE = const(0x03)
_RESPONSE_TOPIC = const(0x08)
_CORRELATION_DATA = const(0x09)
_SUBSCRIPTION_IDENTIFIER = const(0x0B)
_SESSION_EXPIRY_INTERVAL = const(0x11)
_ASSIGNED_CLIENT_IDENTIFIER = const(0x12)
_SERVER_KEEP_ALIVE = const(0x13)
_AUTHENTICATION_METHOD = const(0x15)
_AUTHENTICATION_DATA = const(0x16)
_REQUEST_PROBLEM_INFORMATION = const(0x17)
_WILL_DELAY_INTERVAL = const(0x18)
_REQUEST_RESPONSE_INFORMATION = const(0x19)
_RESPONSE_INFORMATION = const(0x1A)
_SERVER_REFERENCE = const(0x1C)
_REASON_STRING = const(0x1F)
_RECEIVE_MAXIMUM = const(0x21)
_TOPIC_ALIAS_MAXIMUM = const(0x22)
_TOPIC_ALIAS = const(0x23)
_MAXIMUM_QOS = const(0x24)
_RETAIN_AVAILABLE = const(0x25)
_USER_PROPERTY = const(0x26)
_MAXIMUM_PACKET_SIZE = const(0x27)
_WILDCARD_SUBSCRIPTION_AVAILABLE = const(0x28)
_SUBSCRIPTION_IDENTIFIER_AVAILABLE = const(0x29)
_SHARED_SUBSCRIPTION_AVAILABLE = const(0x2A)

_WILL = const(0)  # pseudo packet type: the Will Properties in the CONNECT payload
_VBI_MAX = const(268435455)  # wire's: a Variable Byte Integer's largest

# Wire types (spec 2.2.2.2, Table 2-4)
_BYTE = const(1)
_U16 = const(2)
_U32 = const(3)
_VBI = const(4)
_STRING = const(5)
_BINARY = const(6)
_PAIR = const(7)

_BOOL = const(1)  # value must be 0 or 1
_NONZERO = const(2)  # value 0 is a Protocol Error

_PUBLISH = const(3)
_MAX_ID = const(0x2A)
_MALFORMED = const(0x81)
_PROTOCOL = const(0x82)
_ALIAS_INVALID = const(0x94)

# Three bytes per identifier 0x00..0x2A: (check << 4 | wire type), then a 16-bit
# mask of the packet types allowed to carry it (bit n = packet type n, bit 0 =
# Will Properties), from Table 2-4. Type 0 marks an unassigned identifier.
# Checks: Payload Format Indicator, Request Problem/Response Information,
# Maximum QoS and the four "... Available" bytes must be 0 or 1; Receive
# Maximum, Maximum Packet Size, Topic Alias [MQTT-3.3.2-8] and Subscription
# Identifier must not be 0 (3.1.2.11.3, 3.1.2.11.4, 3.8.2.1.2, 3.2.2.3.x).
# (A constant: no name in the module's dict; what uses it comes after it.)
_TABLE = const(b'\x00\x00\x00\x11\x00\t\x03\x00\t\x05\x00\t\x00\x00\x00\x00\x00\x00'
               b'\x00\x00\x00\x00\x00\x00\x05\x00\t\x06\x00\t\x00\x00\x00$\x01\x08'
               b'\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03@'
               b'\x06\x05\x00\x04\x02\x00\x04\x00\x00\x00\x05\x80\x06\x06\x80\x06\x11'
               b'\x00\x02\x03\x00\x01\x11\x00\x02\x05\x00\x04\x00\x00\x00\x05@\x04'
               b'\x00\x00\x00\x00\x00\x00\x05\xca\xf4\x00\x00\x00"\x00\x06\x02\x00'
               b'\x06"\x00\x08\x11\x00\x04\x11\x00\x04\x07\xcf\xff#\x00\x06\x11\x00'
               b'\x04\x11\x00\x04\x11\x00\x04')


def __getattr__(name):
    # public names of the property identifiers (Table 2-4), WILL and the wire types;
    # and wire_type(pid), the wire type of property ``pid`` (BYTE, U16, U32, VBI,
    # STRING, BINARY, PAIR), or 0 when the identifier is not assigned (tests: no
    # function object kept)
    if name == "wire_type":
        return lambda pid: 0 if pid < 0 or pid > 0x2A else _TABLE[pid * 3] & 15  # (_MAX_ID)
    from mqtt5.names import PROPERTIES
    from mqtt5.packets import named

    return named(PROPERTIES, name, False)


def allowed(pid, ptype):
    """True when packet type ``ptype`` (or WILL) may carry property ``pid``."""
    if pid < 0 or pid > _MAX_ID:
        return False
    k = pid * 3
    return _TABLE[k] != 0 and ((_TABLE[k + 1] << 8 | _TABLE[k + 2]) >> ptype) & 1 == 1


def _many(pid, ptype):
    # User Property may appear many times, order kept (3.x "User Property");
    # Subscription Identifier many times only on PUBLISH (3.3.2.3.8).
    return pid == _USER_PROPERTY or (pid == _SUBSCRIPTION_IDENTIFIER and ptype == _PUBLISH)


def decode(obj, mv, p, end, ptype):
    """Decode the Property Length and properties at ``mv[p:end]`` for packet
    type ``ptype``; set ``obj.props`` (None or dict; left alone when None and
    already None, to save an instance attribute) and return the offset
    after them. ProtocolError(0x81) for an unknown identifier, one not valid
    in this packet, a value of the wrong type or a length that does not fit
    (spec 2.2.2.2); ProtocolError(0x82) for a duplicate ("It is a Protocol
    Error to include ... more than once", each property's clause in 3.x) or
    a value the spec forbids (0x94 for a Topic Alias 0 [MQTT-3.3.2-8])."""
    n = wire.decode_vbi(mv, p, end)
    p += wire.vbi_size(n)
    q = p + n
    if q > end:
        raise wire.ProtocolError(_MALFORMED, "property length")
    props = None
    while p < q:
        pid = wire.decode_vbi(mv, p, q)  # the identifier is a VBI (2.2.2.2)
        p += wire.vbi_size(pid)
        if not allowed(pid, ptype):
            raise wire.ProtocolError(_MALFORMED, "property 0x%02X not allowed here" % pid)
        k = _TABLE[pid * 3]
        t = k & 15
        if t == _BYTE:
            wire.need(p, 1, q)
            v = mv[p]
            p += 1
        elif t == _U16:
            v = wire.u16(mv, p, q)
            p += 2
        elif t == _U32:  # Four Byte Integer (spec 1.5.3)
            wire.need(p, 4, q)
            v = mv[p] << 24 | mv[p + 1] << 16 | mv[p + 2] << 8 | mv[p + 3]
            p += 4
        elif t == _VBI:
            v = wire.decode_vbi(mv, p, q)
            p += wire.vbi_size(v)
        elif t == _BINARY:
            n = wire.blen(mv, p, q)
            v = bytes(mv[p + 2:p + 2 + n])
            p += 2 + n
        else:
            n = wire.blen(mv, p, q)
            v = wire.utf8(mv, p + 2, p + 2 + n)
            p += 2 + n
            if t == _PAIR:  # both strings well formed [MQTT-1.5.7-1]
                n = wire.blen(mv, p, q)
                v = (v, wire.utf8(mv, p + 2, p + 2 + n))
                p += 2 + n
        k >>= 4
        if (k == _BOOL and v > 1) or (k == _NONZERO and v == 0):
            # Topic Alias 0 is not permitted [MQTT-3.3.2-8]: 0x94 Topic Alias invalid
            raise wire.ProtocolError(_ALIAS_INVALID if pid == _TOPIC_ALIAS else _PROTOCOL,
                                     "bad value for property 0x%02X" % pid)
        if props is None:
            props = {}
        if _many(pid, ptype):
            if pid in props:
                props[pid].append(v)
            else:
                props[pid] = [v]
        elif pid in props:
            raise wire.ProtocolError(_PROTOCOL, "duplicate property 0x%02X" % pid)
        else:
            props[pid] = v
    if props is not None:
        # A Response Topic is checked when we send one, not when one arrives: the
        # rule binds its sender [MQTT-3.3.2-14], and a broker that forwards a bad one
        # would redeliver it after every reconnect.  mqtt5.requester ignores it.
        if _AUTHENTICATION_DATA in props and _AUTHENTICATION_METHOD not in props:
            # "It is a Protocol Error to include Authentication Data if there is
            # no Authentication Method" (3.1.2.11.10, 3.2.2.3.18, 3.15.2.2.3)
            raise wire.ProtocolError(_PROTOCOL, "Authentication Data without Method")
    if props is not None or obj.props is not None:
        obj.props = props
    return p


def size(props, ptype):
    """Bytes of the properties' content (without the Property Length) for
    packet type ``ptype``; validates ids, values and placement (ValueError)."""
    if not props:
        return 0
    if _AUTHENTICATION_DATA in props and _AUTHENTICATION_METHOD not in props:
        raise ValueError("Authentication Data without Method")  # (as decode())
    rt = props.get(_RESPONSE_TOPIC)
    if rt is not None and (not rt or not wire.topic_name_ok(rt)):
        # a Topic Name: no wildcards [MQTT-3.3.2-14], not empty [MQTT-4.7.3-1]
        raise ValueError("invalid Response Topic")
    total = 0
    for pid in props:
        if not isinstance(pid, int) or not allowed(pid, ptype):
            raise ValueError("property %r not allowed here" % (pid,))
        k = _TABLE[pid * 3]
        t = k & 15
        v = props[pid]
        # a list of values for the properties decode() gives one (_many())
        many = _many(pid, ptype) and isinstance(v, list)
        for i in range(len(v) if many else 1):
            x = v[i] if many else v
            if t == _BYTE:
                n = 1
                top = 0xFF
            elif t == _U16:
                n = 2
                top = 0xFFFF
            elif t == _U32:
                n = 4
                top = 0xFFFFFFFF
            elif t == _VBI:
                n = 0
                top = _VBI_MAX
            elif t == _BINARY:
                n = 2 + wire.bin_len(x)
            elif t == _STRING:
                n = 2 + len(wire.to_utf8(x))
            else:
                if not isinstance(x, (tuple, list)) or len(x) != 2:
                    raise ValueError("User Property must be a (name, value) pair")
                n = 4 + len(wire.to_utf8(x[0])) + len(wire.to_utf8(x[1]))
            if t <= _VBI:  # an integer
                if not isinstance(x, int) or x < 0 or x > top:
                    raise ValueError("property 0x%02X out of range" % pid)
                if (k >> 4 == _BOOL and x > 1) or (k >> 4 == _NONZERO and x == 0):
                    raise ValueError("bad value for property 0x%02X" % pid)
                n = n or wire.vbi_size(x)
            total += 1 + n  # (1: every assigned identifier is a one-byte VBI)
    return total


def encode(buf, off, props, ptype, n):
    """Write the Property Length ``n`` (from ``size()``) and the properties in
    ascending identifier order (deterministic on both runtimes); return the
    offset after them."""
    off = wire.encode_vbi(buf, off, n)
    if not n:
        return off
    for pid in range(1, _MAX_ID + 1):
        if pid not in props:
            continue
        t = _TABLE[pid * 3] & 15
        v = props[pid]
        many = _many(pid, ptype) and isinstance(v, list)
        for i in range(len(v) if many else 1):
            x = v[i] if many else v
            buf[off] = pid
            off += 1
            if t == _BYTE:
                buf[off] = x
                off += 1
            elif t == _U16:
                off = wire.put_u16(buf, off, x)
            elif t == _U32:  # Four Byte Integer (spec 1.5.3)
                buf[off] = (x >> 24) & 0xFF
                buf[off + 1] = (x >> 16) & 0xFF
                buf[off + 2] = (x >> 8) & 0xFF
                buf[off + 3] = x & 0xFF
                off += 4
            elif t == _VBI:
                off = wire.encode_vbi(buf, off, x)
            elif t == _BINARY:
                off = wire.put_lbytes(buf, off, x)
            elif t == _STRING:
                off = wire.put_lbytes(buf, off, wire.to_utf8(x))
            else:  # a User Property: name, then value
                off = wire.put_lbytes(buf, off, wire.to_utf8(x[0]))
                off = wire.put_lbytes(buf, off, wire.to_utf8(x[1]))
    return off
