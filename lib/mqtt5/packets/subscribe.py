"""SUBSCRIBE (spec 3.8), SUBACK (3.9): what a client encodes and decodes, and the
encoder and decoder UNSUBSCRIBE (3.10) and UNSUBACK (3.11) share with them (their
classes are in mqtt5.packets.unsubscribe, loaded by the first unsubscribe; the
server's half is mqtt5.packets.server)."""
from mqtt5.errors import ProtocolError
import mqtt5.wire as wire
import mqtt5.properties as _pr
from mqtt5.packets import read_pid, check_pid, rc_allowed

_SUBSCRIBE = const(8)
_SUBACK = const(9)
_UNSUBSCRIBE = const(10)
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


class Subscribe:
    """SUBSCRIBE: ``Subscribe(packet_id, topics, props=None)``; topics a list
    of (filter str, options int): QoS | No Local 0x04 | Retain As Published
    0x08 | Retain Handling << 4."""
    type = _SUBSCRIBE

    def __init__(self, packet_id=1, topics=(), props=None):
        self.packet_id = packet_id
        self.topics = topics
        self.props = props

    def _size(self):
        check_pid(self.packet_id)
        if not self.topics:
            # at least one filter [MQTT-3.8.3-2] [MQTT-3.10.3-2]
            raise ValueError("at least one topic filter")
        sub = self.type == _SUBSCRIBE
        self._ps = _pr.size(self.props, self.type)
        n = 2 + wire.vbi_size(self._ps) + self._ps
        for t in self.topics:
            if sub and (not isinstance(t, (tuple, list)) or len(t) != 2):
                raise ValueError("SUBSCRIBE topics are (filter, options) pairs")
            f = t[0] if sub else t
            if not isinstance(f, str) or not topic_filter_ok(f):
                raise ValueError("invalid topic filter %r" % (f,))
            if sub:
                o = t[1]
                if not isinstance(o, int) or o < 0 or o > 255 or _options_error(o, f):
                    raise ValueError("invalid subscription options %r" % (o,))
                n += 1
            n += 2 + len(wire.to_utf8(f))
        return n

    def _write(self, buf, off):
        sub = self.type == _SUBSCRIBE
        off = wire.put_u16(buf, off, self.packet_id)
        off = _pr.encode(buf, off, self.props, self.type, self._ps)
        for t in self.topics:
            off = wire.put_lbytes(buf, off, wire.to_utf8(t[0] if sub else t))
            if sub:
                buf[off] = t[1]
                off += 1
        return off


class Suback:
    """SUBACK: ``Suback(packet_id, reason_codes, props=None)``; reason_codes
    bytes (when decoded) or a list of ints, one per filter.  A client only
    decodes it (and UNSUBACK): the encoder is in mqtt5.packets.server."""
    type = _SUBACK

    def __init__(self, packet_id=1, reason_codes=b"", props=None):
        self.packet_id = packet_id
        self.reason_codes = reason_codes
        self.props = props


def decode_sub(mv, t, p, end):
    """SUBACK or UNSUBACK body at mv[p:end] (SUBSCRIBE and UNSUBSCRIBE, which only a
    server decodes: mqtt5.packets.server)."""
    if t == _SUBSCRIBE or t == _UNSUBSCRIBE:
        import mqtt5.packets.server as m

        return m.decode_subscribe(mv, t, p, end)
    pid = read_pid(mv, p, end)  # [MQTT-2.2.1-3]
    if t == _SUBACK:
        pkt = Suback(pid)
    else:
        from mqtt5.packets.unsubscribe import Unsuback  # loaded by the first unsubscribe

        pkt = Unsuback(pid)
    p = _pr.decode(pkt, mv, p + 2, end, t)
    if p == end:  # one code per filter (3.9.3, 3.11.3), so at least one
        raise ProtocolError(_PROTOCOL, "no reason codes")
    for i in range(p, end):
        if not rc_allowed(mv[i], t):  # [MQTT-3.9.3-2] [MQTT-3.11.3-2]
            raise ProtocolError(_PROTOCOL, "reason code 0x%02X not valid here" % mv[i])
    pkt.reason_codes = bytes(mv[p:end])
    return pkt
