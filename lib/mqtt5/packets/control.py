"""PINGREQ (spec 3.12), PINGRESP (3.13), DISCONNECT (3.14), AUTH (3.15)."""
from mqtt5.errors import ProtocolError
import mqtt5.wire as wire
import mqtt5.properties as _pr
from mqtt5.packets import check_rc
from mqtt5.codec import decode_disconnect

_PINGREQ = const(12)
_PINGRESP = const(13)
_DISCONNECT = const(14)
_AUTH = const(15)
_MALFORMED = const(0x81)
_PROTOCOL = const(0x82)
_AUTH_METHOD = const(0x15)


class Pingreq:
    """PINGREQ: no fields."""
    type = _PINGREQ

    def _size(self):
        return 0

    def _write(self, buf, off):
        return off


class Pingresp(Pingreq):
    """PINGRESP: no fields."""
    type = _PINGRESP


def client_code(rc):
    """True for a DISCONNECT reason code a client may send (spec 3.14.2.1)."""
    return rc == 0 or rc == 4 or rc == 0x90 or 0x80 <= rc <= 0x83 or 0x93 <= rc <= 0x99


def ours(s, rc, props):
    """The Disconnect of Session.disconnect(); ValueError for a code only a server
    sends (spec 3.14.2.1), or a Session Expiry Interval when CONNECT's was 0
    (spec 3.14.2.2.2: the server takes it as a Protocol Error, and sends the Will)."""
    if not client_code(rc):
        raise ValueError("DISCONNECT 0x%02X: a client sends 0x00, 0x04, 0x80-0x83, 0x90 "
                         "or 0x93-0x99 (spec 3.14.2.1)" % rc)
    if props and props.get(0x11) and not s.session_expiry:
        raise ValueError("session_expiry at DISCONNECT: CONNECT's was 0 (spec 3.14.2.2.2)")
    return Disconnect(reason_code=rc, props=props)


class Disconnect:
    """DISCONNECT: ``Disconnect(reason_code=0, props=None)``. Encoded in the
    short forms: Remaining Length 0 for 0x00 without properties, 1 for a
    reason code alone (3.14.2.1)."""
    type = _DISCONNECT

    def __init__(self, reason_code=0, props=None):
        self.reason_code = reason_code
        self.props = props

    def _size(self):
        check_rc(self.reason_code, self.type)  # [MQTT-3.14.2-1] [MQTT-3.15.2-1]
        if self.type == _AUTH and (self.reason_code or self.props) and \
                (not self.props or _AUTH_METHOD not in self.props):
            raise ValueError("AUTH needs an Authentication Method")  # 3.15.2.2.2
        if not self.props:
            self._ps = -1
            # AUTH has only the Remaining Length 0 short form (3.15.2.1).
            return 0 if self.reason_code == 0 else (1 if self.type == _DISCONNECT else 2)
        self._ps = _pr.size(self.props, self.type)
        return 1 + wire.vbi_size(self._ps) + self._ps

    def _write(self, buf, off):
        if self._ps < 0 and (self.reason_code == 0 or self.type == _DISCONNECT):
            if self.reason_code:
                buf[off] = self.reason_code
                off += 1
            return off
        buf[off] = self.reason_code
        return _pr.encode(buf, off + 1, self.props, self.type, max(self._ps, 0))


class Auth(Disconnect):
    """AUTH: ``Auth(reason_code=0, props=None)``; Remaining Length 0 when
    Success without properties (3.15.2.1)."""
    type = _AUTH


def decode_control(mv, t, p, end):
    """PINGREQ, PINGRESP, DISCONNECT or AUTH body at mv[p:end]."""
    if t == _PINGREQ or t == _PINGRESP:
        if p != end:
            raise ProtocolError(_MALFORMED, "PING with a body")  # 3.12.2, 3.13.2
        return Pingreq() if t == _PINGREQ else Pingresp()
    pkt = Disconnect() if t == _DISCONNECT else Auth()
    decode_disconnect(pkt, mv, p, end, t)
    # (an AUTH with a body has properties: decode_disconnect() refused one without)
    if t == _AUTH and p < end and (pkt.props is None or _AUTH_METHOD not in pkt.props):
        # "It is a Protocol Error to omit the Authentication Method" (3.15.2.2.2)
        raise ProtocolError(_PROTOCOL, "AUTH without Authentication Method")
    return pkt
