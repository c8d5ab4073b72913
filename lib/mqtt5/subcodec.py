"""SUBSCRIBE and UNSUBSCRIBE (spec 3.8, 3.10) encoded, SUBACK and UNSUBACK (3.9, 3.11)
decoded: the client's half, as functions over bytearray/memoryview, loaded by the
first subscribe (or unsubscribe) without any packet class.  mqtt5.packets.subscribe
and mqtt5.packets.unsubscribe are the object layer over these functions; the
server's half is mqtt5.packets.server.  Conventions as in mqtt5.codec: the encoder
raises ValueError for invalid contents and returns ``-size`` when the buffer is too
small; the decoder fills an object's attributes and raises only ProtocolError."""
from .errors import ProtocolError
from .wire import vbi_size, encode_vbi, put_u16, put_lbytes, to_utf8
from .codec import read_pid, rc_allowed
import mqtt5.properties as _pr

_SUBSCRIBE = const(8)
_MALFORMED = const(0x81)
_PROTOCOL = const(0x82)


def topic_filter_ok(s):
    """True when ``s`` (str) is a valid Topic Filter: non-empty [MQTT-4.7.3-1];
    '#' alone in the last level [MQTT-4.7.1-2]; '+' a whole level
    [MQTT-4.7.1-3]; $share/{ShareName}/{filter} with a non-empty ShareName free
    of '/', '+', '#' followed by a filter [MQTT-4.8.2-1] [MQTT-4.8.2-2]."""
    if not s:
        return False
    if s.startswith("$share/"):
        k = s.find("/", 7)
        if k <= 7 or "+" in s[7:k] or "#" in s[7:k]:
            return False
        s = s[k + 1:]
        if not s:
            return False
    levels = s.split("/")
    last = len(levels) - 1
    for i in range(last + 1):
        lv = levels[i]
        if "#" in lv and (lv != "#" or i != last):
            return False
        if "+" in lv and lv != "+":
            return False
    return True


def _options_error(o, f):
    # Subscription Options (3.8.3.1): bits 7-6 reserved [MQTT-3.8.3-5]; QoS 3
    # and Retain Handling 3 are Protocol Errors; No Local on a Shared
    # Subscription is a Protocol Error [MQTT-3.8.3-4].
    if o & 0xC0:
        return _MALFORMED
    if o & 3 == 3 or o & 0x30 == 0x30 or (o & 4 and f.startswith("$share/")):
        return _PROTOCOL
    return 0


def size(t, items, props):
    """Remaining Length of a SUBSCRIBE (``t`` 8; ``items`` (filter, options) pairs) or
    UNSUBSCRIBE (10; ``items`` filters) after checking its contents: ValueError for
    none [MQTT-3.8.3-2] [MQTT-3.10.3-2], an invalid filter or options, or a property
    not allowed in it."""
    if not items:
        raise ValueError("at least one topic filter")
    sub = t == _SUBSCRIBE
    n = _pr.size(props, t)
    n += 2 + vbi_size(n)
    for it in items:
        if sub and (not isinstance(it, (tuple, list)) or len(it) != 2):
            raise ValueError("SUBSCRIBE topics are (filter, options) pairs")
        f = it[0] if sub else it
        if not isinstance(f, str) or not topic_filter_ok(f):
            raise ValueError("invalid topic filter %r" % (f,))
        if sub:
            o = it[1]
            if not isinstance(o, int) or o < 0 or o > 255 or _options_error(o, f):
                raise ValueError("invalid subscription options %r" % (o,))
            n += 1
        n += 2 + len(to_utf8(f))
    return n


def write(buf, off, t, pid, items, props):
    """Write the body that size() checked at ``off``; return the offset after it."""
    sub = t == _SUBSCRIBE
    off = put_u16(buf, off, pid)
    off = _pr.encode(buf, off, props, t, _pr.size(props, t))
    for it in items:
        off = put_lbytes(buf, off, to_utf8(it[0] if sub else it))
        if sub:
            buf[off] = it[1]
            off += 1
    return off


def encode(buf, t, pid, items, props):
    """Encode a SUBSCRIBE or UNSUBSCRIBE at the start of ``buf``; its size, or
    ``-size`` when ``buf`` is too small (nothing written)."""
    rl = size(t, items, props)
    n = 1 + vbi_size(rl) + rl
    if len(buf) < n:
        return -n
    buf[0] = t << 4 | 2  # flags 0010 [MQTT-3.8.1-1] [MQTT-3.10.1-1]
    write(buf, encode_vbi(buf, 1, rl), t, pid, items, props)
    return n


def decode_ack(obj, mv, t, p, end):
    """SUBACK (``t`` 9) or UNSUBACK (11) body at mv[p:end] into ``obj``'s packet_id,
    props and reason_codes (bytes, one per filter, so at least one: 3.9.3, 3.11.3)."""
    obj.packet_id = read_pid(mv, p, end)  # [MQTT-2.2.1-3]
    p = _pr.decode(obj, mv, p + 2, end, t)
    if p == end:
        raise ProtocolError(_PROTOCOL, "no reason codes")
    for i in range(p, end):
        if not rc_allowed(mv[i], t):  # [MQTT-3.9.3-2] [MQTT-3.11.3-2]
            raise ProtocolError(_PROTOCOL, "reason code 0x%02X not valid here" % mv[i])
    obj.reason_codes = bytes(mv[p:end])
