"""PUBACK, PUBREC, PUBREL and PUBCOMP (spec 3.4-3.7) as objects: ``PubAck`` and its
decoder.  Loaded on use: a QoS 2 flow, an ack with properties, or a codec user.  A
QoS 0/1 node acts on a plain PUBACK without decoding it (mqtt5.inbound), and encodes
its own acks with ``mqtt5.codec.encode_ack``."""
from mqtt5.errors import ProtocolError
import mqtt5.properties as _pr
from mqtt5.packets import read_pid, read_rc
from mqtt5.packets.publish import ack_length, ack_body

_PUBACK = const(4)
_MALFORMED = const(0x81)


class PubAck:
    """PUBACK, PUBREC, PUBREL or PUBCOMP, told apart by ``type`` (4..7):
    ``PubAck(type, packet_id, reason_code=0, props=None)``. Defaults are
    class attributes (see mqtt5.packets.publish.Publish)."""
    reason_code = 0
    props = None

    def __init__(self, type=_PUBACK, packet_id=1, reason_code=0, props=None):
        self.type = type
        self.packet_id = packet_id
        if reason_code:
            self.reason_code = reason_code
        if props is not None:
            self.props = props

    def _size(self):
        return ack_length(self.type, self.packet_id, self.reason_code, self.props)

    def _write(self, buf, off):
        return ack_body(buf, off, self.type, self.packet_id, self.reason_code, self.props)


def decode_ack(mv, t, p, end):
    """PUBACK/PUBREC/PUBREL/PUBCOMP body. Remaining Length 2: reason 0x00 and
    no properties; below 4: no Property Length (3.4.2.1, 3.5.2.1, 3.6.2.1,
    3.7.2.1)."""
    pkt = PubAck(t, read_pid(mv, p, end))
    p += 2
    if p < end:
        pkt.reason_code = read_rc(mv, p, end, t)
        p += 1
        if p < end:
            p = _pr.decode(pkt, mv, p, end, t)
            if p != end:
                raise ProtocolError(_MALFORMED, "trailing bytes")
    return pkt
