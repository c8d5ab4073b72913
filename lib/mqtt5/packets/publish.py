"""PUBLISH (spec 3.3) as an object, ``Publish``, and the codec's PUBLISH and ack
encoders as the packets API: ``encode_publish`` (ProtocolError 0x95 when the buffer
is too small), ``publish_size`` and ``encode_ack`` (any ack, with properties, its
arguments checked).  The session encodes and decodes with mqtt5.codec itself and
never loads this module; the ack as an object, ``PubAck``, is in mqtt5.packets.ack."""
from mqtt5.errors import ProtocolError
import mqtt5.wire as wire
import mqtt5.properties as _pr
import mqtt5.codec as _c
from mqtt5.packets import check_pid, check_rc

_PUBLISH = const(3)
_PUBACK = const(4)
_PUBREL = const(6)
_PUBCOMP = const(7)


class Publish:
    """PUBLISH. ``topic`` str ("" only with a Topic Alias property),
    ``payload`` bytes-like (a memoryview into the received buffer when
    decoded: valid while that buffer is), ``qos`` 0..2, ``retain``, ``dup``,
    ``packet_id`` (None for QoS 0), ``props`` (None or dict).

    Defaults live on the class and only other values are stored on the
    instance: on MicroPython every two instance attributes cost 32 bytes."""
    type = _PUBLISH
    qos = 0
    retain = False
    dup = False
    packet_id = None
    props = None

    def __init__(self, topic="", payload=b"", qos=0, retain=False, dup=False,
                 packet_id=None, props=None):
        self.topic = topic
        self.payload = payload
        if qos:
            self.qos = qos
        if retain:
            self.retain = retain
        if dup:
            self.dup = dup
        if packet_id is not None:
            self.packet_id = packet_id
        if props is not None:
            self.props = props


def decode_publish(mv, fl, p, end):
    """PUBLISH body at mv[p:end] with fixed-header flags ``fl``: a Publish."""
    pkt = Publish()
    _c.decode_publish(pkt, mv, fl, p, end)
    return pkt


def publish_size(topic, payload, qos=0, props=None):
    """Total encoded size (fixed header included) of a PUBLISH."""
    return -_c.encode_publish(b"", topic, payload, qos, False, False, 1, props)


def encode_publish(buf, topic, payload, qos=0, retain=False, dup=False, packet_id=None,
                   props=None, checked=False):
    """mqtt5.codec.encode_publish(), raising ProtocolError(0x95) when ``buf`` is too
    small instead of returning -size."""
    n = _c.encode_publish(buf, topic, payload, qos, retain, dup, packet_id, props, checked)
    if n < 0:
        raise ProtocolError(0x95, "PUBLISH does not fit the buffer")
    return n


def ack_length(ptype, packet_id, reason_code, props):
    # Validates an ack to encode; returns its Remaining Length.  Short forms: 2 for
    # Success without properties, 3 with a reason code only (3.4.2.1, 3.5.2.1,
    # 3.6.2.1, 3.7.2.1).
    if ptype < _PUBACK or ptype > _PUBCOMP:
        raise ValueError("not an ack packet type")
    check_pid(packet_id)
    check_rc(reason_code, ptype)
    if not props:
        return 2 if reason_code == 0 else 3
    ps = _pr.size(props, ptype)
    return 3 + wire.vbi_size(ps) + ps


def ack_body(buf, off, ptype, packet_id, reason_code, props):
    # The variable header after ack_length() (props sized again: rare on acks)
    off = wire.put_u16(buf, off, packet_id)
    if props or reason_code:
        buf[off] = reason_code
        off += 1
        if props:
            off = _pr.encode(buf, off, props, ptype, _pr.size(props, ptype))
    return off


def encode_ack(buf, ptype, packet_id, reason_code=0, props=None):
    """Encode PUBACK/PUBREC/PUBREL/PUBCOMP (``ptype`` 4..7) into ``buf`` at
    offset 0 using the short forms; return the length. Allocates nothing."""
    rl = ack_length(ptype, packet_id, reason_code, props)
    if 2 + rl > len(buf):
        raise ProtocolError(0x95, "ack does not fit the buffer")
    buf[0] = ptype << 4 | (2 if ptype == _PUBREL else 0)  # [MQTT-2.1.3-1]
    off = wire.encode_vbi(buf, 1, rl)
    return ack_body(buf, off, ptype, packet_id, reason_code, props)
