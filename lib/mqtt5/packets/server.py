"""The server's half of the codec: decoding what only a client sends (CONNECT,
SUBSCRIBE, UNSUBSCRIBE) and encoding what only a server sends (CONNACK, SUBACK,
UNSUBACK), and the codec's ``Will`` (a decoded CONNECT's; a client's own is
``mqtt5.Will``, and its CONNECT encoder takes any object with the same fields).  A
client never needs this module: ``mqtt5.packets.decode`` and ``encode`` load it
on first use (tests, the fuzzers' rogue broker, anyone writing a broker), so a node
keeps none of this code in RAM."""
from mqtt5.errors import ProtocolError
import mqtt5.wire as wire
import mqtt5.properties as _pr
from mqtt5.packets import read_pid, check_pid, check_rc
from mqtt5.packets.connect import Connect
from mqtt5.packets.subscribe import Subscribe
from mqtt5.subcodec import _options_error, topic_filter_ok
from mqtt5.packets.unsubscribe import Unsubscribe

_CONNECT = const(1)
_CONNACK = const(2)
_SUBSCRIBE = const(8)
_WILL = const(0)
_MALFORMED = const(0x81)
_PROTOCOL = const(0x82)
_BAD_VERSION = const(0x84)
_FILTER_INVALID = const(0x8F)
_TOPIC_INVALID = const(0x90)


class Will:
    """Will Message of a CONNECT: ``Will(topic, payload=b"", qos=0,
    retain=False, props=None)``; payload bytes-like (bytes when decoded)."""

    def __init__(self, topic, payload=b"", qos=0, retain=False, props=None):
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.props = props


# ---- encoding CONNACK, SUBACK, UNSUBACK (first byte: type << 4, no flags) ---------

def size(pkt):
    """Remaining Length of a CONNACK, SUBACK or UNSUBACK; ValueError for invalid
    contents.  Keeps the properties' size on the packet for ``write``."""
    if pkt.type == _CONNACK:
        check_rc(pkt.reason_code, _CONNACK)
        if pkt.session_present and pkt.reason_code:
            raise ValueError("session_present needs reason code 0")  # [MQTT-3.2.2-6]
        pkt._ps = _pr.size(pkt.props, _CONNACK)
        return 2 + wire.vbi_size(pkt._ps) + pkt._ps
    check_pid(pkt.packet_id)
    if not len(pkt.reason_codes):
        # one per filter of the SUBSCRIBE/UNSUBSCRIBE acknowledged (3.9.3, 3.11.3),
        # which has at least one [MQTT-3.8.3-2] [MQTT-3.10.3-2]
        raise ValueError("at least one reason code")
    for rc in pkt.reason_codes:
        check_rc(rc, pkt.type)  # [MQTT-3.9.3-2] [MQTT-3.11.3-2]
    pkt._ps = _pr.size(pkt.props, pkt.type)
    return 2 + wire.vbi_size(pkt._ps) + pkt._ps + len(pkt.reason_codes)


def write(pkt, buf, off):
    """Write the variable header and payload sized by ``size(pkt)`` at buf[off:];
    returns the offset after it."""
    if pkt.type == _CONNACK:
        buf[off] = 1 if pkt.session_present else 0
        buf[off + 1] = pkt.reason_code
        return _pr.encode(buf, off + 2, pkt.props, _CONNACK, pkt._ps)
    off = wire.put_u16(buf, off, pkt.packet_id)
    off = _pr.encode(buf, off, pkt.props, pkt.type, pkt._ps)
    n = len(pkt.reason_codes)
    buf[off:off + n] = bytes(pkt.reason_codes)
    return off + n


# ---- decoding CONNECT, SUBSCRIBE, UNSUBSCRIBE ---------------------------------------

def _str(mv, p, end):
    n = wire.blen(mv, p, end)
    return wire.utf8(mv, p + 2, p + 2 + n)


def _bin(mv, p, end):
    n = wire.blen(mv, p, end)
    return bytes(mv[p + 2:p + 2 + n])


def decode_connect(mv, p, end):
    """CONNECT body at mv[p:end]."""
    wire.need(p, 10, end)
    if bytes(mv[p:p + 6]) != b"\x00\x04MQTT":  # Protocol Name (3.1.2.1)
        # [MQTT-3.1.2-1]: not "MQTT"; answered with 0x84 like a bad version.
        raise ProtocolError(_BAD_VERSION, "protocol name")
    if mv[p + 6] != 5:
        raise ProtocolError(_BAD_VERSION, "protocol version %d" % mv[p + 6])  # [MQTT-3.1.2-2]
    fl = mv[p + 7]
    if fl & 1:
        raise ProtocolError(_MALFORMED, "reserved connect flag")  # [MQTT-3.1.2-3]
    wq = (fl >> 3) & 3
    if not fl & 4 and (wq or fl & 0x20):
        # Will QoS and Will Retain must be 0 without a Will [MQTT-3.1.2-11] [MQTT-3.1.2-13]
        raise ProtocolError(_MALFORMED, "will flags without will")
    if wq == 3:
        raise ProtocolError(_MALFORMED, "Will QoS 3")  # [MQTT-3.1.2-12]
    pkt = Connect(None, fl & 2 != 0, mv[p + 8] << 8 | mv[p + 9])
    p = _pr.decode(pkt, mv, p + 10, end, _CONNECT)
    # Payload order: Client Identifier, Will Properties, Will Topic, Will
    # Payload, User Name, Password [MQTT-3.1.3-1]; present per flags
    # [MQTT-3.1.2-16..19].
    pkt.client_id = _str(mv, p, end)
    p += 2 + wire.u16(mv, p, end)
    if fl & 4:
        w = Will(None, None, wq, fl & 0x20 != 0)
        p = _pr.decode(w, mv, p, end, _WILL)
        w.topic = _str(mv, p, end)
        p += 2 + wire.u16(mv, p, end)
        if not w.topic or not wire.topic_name_ok(w.topic):
            raise ProtocolError(_TOPIC_INVALID, "invalid Will Topic")  # [MQTT-3.3.2-2] [MQTT-4.7.3-1]
        w.payload = _bin(mv, p, end)
        p += 2 + len(w.payload)
        pkt.will = w
    if fl & 0x80:
        pkt.username = _str(mv, p, end)
        p += 2 + wire.u16(mv, p, end)
    if fl & 0x40:
        pkt.password = _bin(mv, p, end)
        p += 2 + len(pkt.password)
    if p != end:
        raise ProtocolError(_MALFORMED, "trailing bytes")
    return pkt


def decode_subscribe(mv, t, p, end):
    """SUBSCRIBE or UNSUBSCRIBE body at mv[p:end]."""
    pid = read_pid(mv, p, end)  # [MQTT-2.2.1-3]
    topics = []
    pkt = Subscribe(pid, topics) if t == _SUBSCRIBE else Unsubscribe(pid, topics)
    p = _pr.decode(pkt, mv, p + 2, end, t)
    if p == end:
        # at least one filter [MQTT-3.8.3-2] [MQTT-3.10.3-2]
        raise ProtocolError(_PROTOCOL, "no topic filter")
    while p < end:
        n = wire.blen(mv, p, end)
        f = wire.utf8(mv, p + 2, p + 2 + n)  # [MQTT-3.8.3-1] [MQTT-3.10.3-1]
        p += 2 + n
        if not topic_filter_ok(f):
            raise ProtocolError(_FILTER_INVALID, "invalid topic filter")
        if t == _SUBSCRIBE:
            wire.need(p, 1, end)
            o = mv[p]
            p += 1
            e = _options_error(o, f)
            if e:
                raise ProtocolError(e, "bad subscription options 0x%02X" % o)
            topics.append((f, o))
        else:
            topics.append(f)
    return pkt
