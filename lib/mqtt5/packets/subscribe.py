"""SUBSCRIBE (spec 3.8) and SUBACK (3.9) as packet objects: a layer over
mqtt5.subcodec's functions, which the session uses without these classes.
UNSUBSCRIBE (3.10) and UNSUBACK (3.11) are in mqtt5.packets.unsubscribe, loaded by
the first use; the server's half is mqtt5.packets.server."""
import mqtt5.subcodec as _s
from mqtt5.subcodec import topic_filter_ok  # noqa: F401 (API)
from mqtt5.packets import check_pid

_SUBSCRIBE = const(8)
_SUBACK = const(9)
_UNSUBSCRIBE = const(10)


class Subscribe:
    """SUBSCRIBE: ``Subscribe(packet_id, topics, props=None)``; topics a list
    of (filter, options) pairs (options: QoS | No Local 0x04 | Retain As Published
    0x08 | Retain Handling << 4)."""
    type = _SUBSCRIBE

    def __init__(self, packet_id=1, topics=(), props=None):
        self.packet_id = packet_id
        self.topics = topics
        self.props = props

    def _size(self):
        check_pid(self.packet_id)
        return _s.size(self.type, self.topics, self.props)

    def _write(self, buf, off):
        return _s.write(buf, off, self.type, self.packet_id, self.topics, self.props)


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
    if t == _SUBACK:
        pkt = Suback()
    else:
        from mqtt5.packets.unsubscribe import Unsuback  # loaded by the first unsubscribe

        pkt = Unsuback()
    _s.decode_ack(pkt, mv, t, p, end)
    return pkt
