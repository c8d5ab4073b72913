"""CONNECT (spec 3.1) with its Will, and CONNACK (3.2), as objects: what a client
encodes and decodes, through mqtt5.codec (the server's half is mqtt5.packets.server).
A Will is any object with topic, payload, qos, retain and props: ``mqtt5.Will``, or
the codec's own ``mqtt5.packets.Will`` (in mqtt5.packets.server, where a decoded
CONNECT makes one).  The session encodes CONNECT and decodes CONNACK with
mqtt5.codec itself and never loads this module."""
import mqtt5.codec as _c

_CONNECT = const(1)
_CONNACK = const(2)


class Connect:
    """CONNECT: ``Connect(client_id="", clean_start=True, keepalive=0,
    username=None, password=None, will=None, props=None)``; username str,
    password bytes-like (bytes when decoded), will None or a Will.  Encoded by
    mqtt5.packets.encode() with mqtt5.codec.encode_connect()."""
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
    pkt = Connack()
    _c.decode_connack(pkt, mv, p, end)
    return pkt
