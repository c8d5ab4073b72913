"""PUBLISH (spec 3.3) and the allocation-free hot-path encoders ``encode_publish`` /
``publish_size`` and ``encode_ack`` (PUBACK, PUBREC, PUBREL, PUBCOMP, 3.4-3.7).  The
ack as an object, ``PubAck``, and its decoder are in mqtt5.packets.ack: a QoS 0/1 node
acts on a plain PUBACK undecoded and never loads them."""
from mqtt5.errors import ProtocolError
import mqtt5.wire as wire
import mqtt5.properties as _pr
from mqtt5.packets import read_pid, check_pid, check_rc

_PUBLISH = const(3)
_PUBACK = const(4)
_PUBREL = const(6)
_PUBCOMP = const(7)
_TOPIC_ALIAS = const(0x23)
_MALFORMED = const(0x81)
_PROTOCOL = const(0x82)
_TOPIC_INVALID = const(0x90)


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
    """PUBLISH body at mv[p:end] with fixed-header flags ``fl``."""
    qos = (fl >> 1) & 3
    if qos == 3:
        raise ProtocolError(_MALFORMED, "QoS 3")  # [MQTT-3.3.1-4]
    dup = fl & 8 != 0
    if dup and qos == 0:
        raise ProtocolError(_MALFORMED, "DUP set on QoS 0")  # [MQTT-3.3.1-2]
    n = wire.blen(mv, p, end)  # Topic Name first, a UTF-8 string [MQTT-3.3.2-1]
    topic = wire.utf8(mv, p + 2, p + 2 + n)
    p += 2 + n
    pid = None
    if qos:
        pid = read_pid(mv, p, end)
        p += 2
    pkt = Publish(topic, None, qos, fl & 1 == 1, dup, pid)
    p = _pr.decode(pkt, mv, p, end, _PUBLISH)
    if not n and (pkt.props is None or _TOPIC_ALIAS not in pkt.props):
        # Zero-length Topic Name needs a Topic Alias (3.3.2.3.4)
        raise ProtocolError(_PROTOCOL, "empty topic without alias")
    if n and not wire.topic_name_ok(topic):
        raise ProtocolError(_TOPIC_INVALID, "wildcard in topic name")  # [MQTT-3.3.2-2]
    pkt.payload = mv[p:end]
    return pkt


def _topic(topic, qos, dup, packet_id, props, checked):
    # Validates a PUBLISH to encode; returns the topic as UTF-8 bytes (checked: bytes
    # whose UTF-8 and wildcards were checked already: TxBuffer's topic cache).
    if qos != 0 and qos != 1 and qos != 2:
        raise ValueError("QoS must be 0, 1 or 2")  # [MQTT-3.3.1-4]
    if qos:
        check_pid(packet_id)  # [MQTT-2.2.1-3]
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
    return tb


def publish_size(topic, payload, qos=0, props=None):
    """Total encoded size (fixed header included) of a PUBLISH."""
    ps = _pr.size(props, _PUBLISH)
    rl = (2 + len(_topic(topic, qos, False, 1, props, False)) + (2 if qos else 0)
          + wire.vbi_size(ps) + ps + len(payload))
    return 1 + wire.vbi_size(rl) + rl


def encode_publish(buf, topic, payload, qos=0, retain=False, dup=False, packet_id=None,
                   props=None, checked=False):
    """Encode a PUBLISH into bytearray/memoryview ``buf`` at offset 0; return
    its length. ``topic`` str or UTF-8 bytes (bytes avoid the one encode
    allocation; ``checked``: bytes whose UTF-8 and wildcards were checked
    already, not scanned again), ``payload`` bytes-like. Allocates nothing else.
    ValueError for invalid contents, ProtocolError(0x95) when ``buf`` is too
    small."""
    if checked and len(topic) and (not qos and not dup or (qos == 1 or qos == 2)
                                   and type(packet_id) is int and 0 < packet_id < 65536):
        tb = topic  # (what _topic() checks of a cached topic, inline on the hot path)
    else:
        tb = _topic(topic, qos, dup, packet_id, props, checked)
    ps = _pr.size(props, _PUBLISH) if props else 0
    n = len(tb)
    np = len(payload)
    rl = 3 + n + (2 if qos else 0) + np  # (3: the Topic Name's length, Property Length)
    if ps:
        rl += wire.vbi_size(ps) - 1 + ps
    if rl + (2 if rl < 128 else 1 + wire.vbi_size(rl)) > len(buf):
        raise ProtocolError(0x95, "PUBLISH does not fit the buffer")
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
