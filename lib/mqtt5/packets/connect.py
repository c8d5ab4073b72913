"""CONNECT (spec 3.1) with its Will, and CONNACK (3.2): what a client encodes and
decodes (the server's half is mqtt5.packets.server).  A Will is any object with
topic, payload, qos, retain and props: ``mqtt5.Will``, or the codec's own
``mqtt5.packets.Will`` (in mqtt5.packets.server, where a decoded CONNECT makes one)."""
from mqtt5.errors import ProtocolError
import mqtt5.wire as wire
import mqtt5.properties as _pr
from mqtt5.packets import read_rc

_CONNECT = const(1)
_CONNACK = const(2)
_WILL = const(0)
_MALFORMED = const(0x81)
_PROTOCOL = const(0x82)
_PROTO = b"\x00\x04MQTT\x05"  # Protocol Name "MQTT" and Protocol Version 5


class Connect:
    """CONNECT: ``Connect(client_id="", clean_start=True, keepalive=0,
    username=None, password=None, will=None, props=None)``; username str,
    password bytes-like (bytes when decoded), will None or a Will."""
    type = _CONNECT

    def __init__(self, client_id="", clean_start=True, keepalive=0, username=None,
                 password=None, will=None, props=None):
        self.client_id = client_id
        self.clean_start = clean_start
        self.keepalive = keepalive
        self.username = username
        self.password = password
        self.will = will
        self.props = props

    def _size(self):
        if not isinstance(self.keepalive, int) or not 0 <= self.keepalive <= 65535:
            raise ValueError("keepalive must be 0..65535")
        self._ps = _pr.size(self.props, _CONNECT)
        n = 10 + wire.vbi_size(self._ps) + self._ps + 2 + len(wire.to_utf8(self.client_id))
        w = self.will
        if w is not None:
            if w.qos != 0 and w.qos != 1 and w.qos != 2:
                raise ValueError("Will QoS must be 0, 1 or 2")  # [MQTT-3.1.2-12]
            tb = wire.to_utf8(w.topic)
            if not len(tb) or not wire.topic_name_ok(str(tb, "utf-8")):
                raise ValueError("invalid Will Topic")  # [MQTT-4.7.3-1] [MQTT-3.3.2-2]
            self._wps = _pr.size(w.props, _WILL)
            n += wire.vbi_size(self._wps) + self._wps + 4 + len(tb) + wire.bin_len(w.payload)
        if self.username is not None:
            n += 2 + len(wire.to_utf8(self.username))
        if self.password is not None:
            n += 2 + wire.bin_len(self.password)
        return n

    def _write(self, buf, off):
        buf[off:off + 7] = _PROTO
        off += 7
        w = self.will
        fl = 2 if self.clean_start else 0
        if w is not None:
            fl |= 4 | w.qos << 3 | (0x20 if w.retain else 0)
        if self.password is not None:
            fl |= 0x40
        if self.username is not None:
            fl |= 0x80
        buf[off] = fl
        off = wire.put_u16(buf, off + 1, self.keepalive)
        off = _pr.encode(buf, off, self.props, _CONNECT, self._ps)
        off = wire.put_lbytes(buf, off, wire.to_utf8(self.client_id))
        if w is not None:
            off = _pr.encode(buf, off, w.props, _WILL, self._wps)
            off = wire.put_lbytes(buf, off, wire.to_utf8(w.topic))
            off = wire.put_lbytes(buf, off, w.payload)
        if self.username is not None:
            off = wire.put_lbytes(buf, off, wire.to_utf8(self.username))
        if self.password is not None:
            off = wire.put_lbytes(buf, off, self.password)
        return off


class Connack:
    """CONNACK: ``Connack(session_present=False, reason_code=0, props=None)``.
    A client only decodes it: its encoder is in mqtt5.packets.server."""
    type = _CONNACK

    def __init__(self, session_present=False, reason_code=0, props=None):
        self.session_present = session_present
        self.reason_code = reason_code
        self.props = props


def decode_connack(mv, p, end):
    """CONNACK body: flags, reason code, properties (3.2.2)."""
    wire.need(p, 3, end)
    fl = mv[p]
    if fl & 0xFE:
        raise ProtocolError(_MALFORMED, "reserved CONNACK flags")  # [MQTT-3.2.2-1]
    rc = read_rc(mv, p + 1, end, _CONNACK)  # [MQTT-3.2.2-8]
    if fl and rc:
        raise ProtocolError(_PROTOCOL, "session present with error")  # [MQTT-3.2.2-6]
    pkt = Connack(fl == 1, rc)
    if _pr.decode(pkt, mv, p + 2, end, _CONNACK) != end:
        raise ProtocolError(_MALFORMED, "trailing bytes")
    return pkt
