"""CONNECT / CONNACK negotiation for the session: the CONNECT we send [MQTT-3.1.2]
and the server limits announced in CONNACK [MQTT-3.2.2.3], kept as plain attributes
of the session (no dict per connection)."""

from .errors import ProtocolError
from .events import rc_error
import mqtt5.outbound as _out
from .txbuf import packet
from .inflight import set_queued

_SESSION_EXPIRY_INTERVAL = const(0x11)
_ASSIGNED_CLIENT_IDENTIFIER = const(0x12)
_SERVER_KEEP_ALIVE = const(0x13)
_AUTHENTICATION_METHOD = const(0x15)
_REQUEST_PROBLEM_INFORMATION = const(0x17)
_REQUEST_RESPONSE_INFORMATION = const(0x19)
_RESPONSE_INFORMATION = const(0x1A)
_SERVER_REFERENCE = const(0x1C)
_REASON_STRING = const(0x1F)
_RECEIVE_MAXIMUM = const(0x21)
_TOPIC_ALIAS_MAXIMUM = const(0x22)
_MAXIMUM_QOS = const(0x24)
_RETAIN_AVAILABLE = const(0x25)
_USER_PROPERTY = const(0x26)
_MAXIMUM_PACKET_SIZE = const(0x27)
_WILDCARD_SUBSCRIPTION_AVAILABLE = const(0x28)
_SUBSCRIPTION_IDENTIFIER_AVAILABLE = const(0x29)
_SHARED_SUBSCRIPTION_AVAILABLE = const(0x2A)

_CONNECTED = const(1)
_ERROR = const(8)
_CLOSED = const(0)
_CONNECTING = const(1)
_ESTABLISHED = const(2)

_H_IDS = const(1)  # slots of the held-ids list (inbound.py)
_H_COUNT = const(2)
_H_POS = const(3)
_H_N = const(5)
_QUEUED = const(0x10000)  # in-flight slot state bits (inflight.py)
_RESEND = const(0x20000)
_F_PID = const(0)  # slots of the in-flight table (inflight.py)
_F_STATE = const(1)
_TX_HEAD = const(2)  # slots of the transmit buffer's list (txbuf.py)
_TX_TAIL = const(3)
_TX_SPOS = const(5)
_TX_LENT = const(6)
_TX_BLOCKED = const(7)
_RX_START = const(2)  # slots of the receive buffer's list (rxbuf.py)
_RX_END = const(3)
_KA_PERIOD = const(0)  # slots of the keep-alive state (keepalive.py)
_KA_TX = const(1)
_KA_RX = const(2)
_KA_PING_OUT = const(3)
_KA_ACK_SINCE = const(5)



def password(pw, what):
    """The CONNECT password as given at construction (bytes-like, a str sent as UTF-8,
    a callable returning one of those at every connect: a token the application
    renews, or None), or at connect from that callable; TypeError otherwise, with
    ``what`` (messages never quote the value)."""
    if pw is None or callable(pw) or isinstance(pw, (bytes, bytearray, memoryview)):
        return pw
    if isinstance(pw, str):
        return pw.encode()  # UTF-8, what users expect of a str
    raise TypeError(what)


def start(s, now_ms, clean_start):
    """Session.connect(): reset what lives for one connection and queue CONNECT."""
    rx = s._rx  # the receive buffer's list (rxbuf.py): start and end
    rx[_RX_START] = rx[_RX_END] = 0
    tx = s._tx  # the transmit buffer (txbuf.py): nothing queued, nothing lent
    tx[_TX_HEAD] = tx[_TX_TAIL] = tx[_TX_SPOS] = 0
    tx[_TX_LENT] = tx[_TX_BLOCKED] = False
    held = s._held  # acks not written are gone with the old connection (inbound.py)
    pos = held[_H_POS]
    for i in range(len(pos)):
        pos[i] = -1
    held[_H_N] = 0
    if s._aout:
        s._aout.reset(0)  # outbound aliases only after CONNACK [MQTT-3.3.2-7]
    fl = s._inflight  # every slot in flight goes out again (PUBLISH with DUP, PUBREL)
    st = fl[_F_STATE]  # once CONNACK says the session is present [MQTT-4.4.0-1]
    p = fl[_F_PID]  # (inflight.py)
    for i in range(len(p)):
        if p[i] and not st[i] & _QUEUED:
            st[i] |= _RESEND
            set_queued(fl, i, True)
    al = s._aliases  # inbound topic aliases live for one connection [MQTT-3.3.2-7]
    for i in range(len(al)):
        al[i] = None
    s._pending = None
    limits(s, {})
    ka = s._ka  # both directions count as active (keepalive.py)
    ka[_KA_PERIOD] = s.keepalive * 1000
    ka[_KA_TX] = ka[_KA_RX] = now_ms
    ka[_KA_PING_OUT] = False
    ka[_KA_ACK_SINCE] = None  # no acknowledgement awaited on this connection yet
    s._now = now_ms
    if clean_start:
        s._has_state = False
    # [MQTT-3.1.2.11.4]; announced less the Remaining Length's extra bytes, which
    # Mosquitto 2.0 leaves out when it sizes a packet: it sends a packet over our
    # limit by them, which we must refuse (0x95), and again at every reconnect
    m = s.max_packet_size
    props = {_MAXIMUM_PACKET_SIZE: m - (m > 129) - (m > 16386) - (m > 2097155)}
    if s.session_expiry:
        props[_SESSION_EXPIRY_INTERVAL] = s.session_expiry
    if s.receive_maximum != 65535:
        props[_RECEIVE_MAXIMUM] = s.receive_maximum
    if s.topic_alias_maximum:
        props[_TOPIC_ALIAS_MAXIMUM] = s.topic_alias_maximum
    if s.request_response_info:
        props[_REQUEST_RESPONSE_INFORMATION] = 1
    if not s.request_problem_info:
        props[_REQUEST_PROBLEM_INFORMATION] = 0
    if s.user_properties:
        props[_USER_PROPERTY] = list(s.user_properties)
    if s.auth_method is not None:
        import mqtt5.auth as _auth  # lazy: only sessions using enhanced auth
        _auth.connect_props(s, props)
    pw = s.password
    if callable(pw):  # called at every (re)connect [MQTT-3.1.3.5]
        pw = password(pw(), "the password callback must return bytes, str or None")
    # (imported here, not by packets.Connect: no name kept in either module's dict)
    from .packets.connect import Connect

    packet(s._tx, Connect(client_id=s.client_id, clean_start=clean_start,
                          keepalive=s.keepalive, username=s.username, password=pw,
                          will=s.will, props=props), 0, 0)
    s._hold = s.auth_method is not None  # [MQTT-3.1.2-30]
    s.state = _CONNECTING


def limits(s, props):
    """Take the server's limits from a successful CONNACK's props dict onto session s;
    with an empty dict, the values that apply when CONNACK omits them (spec 3.2.2.3),
    set at every connect."""
    g = props.get
    s.session_present = s.reauthenticating = False  # (CONNACK's flag: set after)
    s.reason_string = g(_REASON_STRING)
    s.server_keepalive = g(_SERVER_KEEP_ALIVE)
    # Server Keep Alive replaces ours [MQTT-3.2.2-21]
    s.keepalive_s = s.keepalive if s.server_keepalive is None else s.server_keepalive
    s.assigned_client_id = g(_ASSIGNED_CLIENT_IDENTIFIER)
    s.receive_maximum_out = g(_RECEIVE_MAXIMUM, 65535)  # (spec 3.2.2.3.3)
    s.maximum_qos = g(_MAXIMUM_QOS, 2)  # (spec 3.2.2.3.4)
    s.retain_available = g(_RETAIN_AVAILABLE, 1) == 1  # (spec 3.2.2.3.5)
    s.server_max_packet_size = g(_MAXIMUM_PACKET_SIZE, 0)  # 0: no limit beyond the
    # protocol's (spec 3.2.2.3.6)
    s.server_topic_alias_maximum = g(_TOPIC_ALIAS_MAXIMUM, 0)  # (spec 3.2.2.3.8)
    s.wildcard_available = g(_WILDCARD_SUBSCRIPTION_AVAILABLE, 1) == 1  # (3.2.2.3.11)
    s.sub_id_available = g(_SUBSCRIPTION_IDENTIFIER_AVAILABLE, 1) == 1  # (3.2.2.3.12)
    s.shared_available = g(_SHARED_SUBSCRIPTION_AVAILABLE, 1) == 1  # (3.2.2.3.13)
    s.response_information = g(_RESPONSE_INFORMATION)  # (3.2.2.3.15), if asked for
    s.server_reference = g(_SERVER_REFERENCE)  # (spec 3.2.2.3.16)
    s.session_expiry_granted = g(_SESSION_EXPIRY_INTERVAL, s.session_expiry)  # 3.2.2.3.2


def on_connack(s, pkt):
    """Act on CONNACK for session s; fills s._ev (CONNECTED, or ERROR when refused)."""
    if s.state != _CONNECTING:
        raise ProtocolError(0x82, "second CONNACK")  # [MQTT-3.2.0-2]
    ev = s._ev
    rc = pkt.reason_code
    props = pkt.props or {}  # (no props: rare, once a connect)
    if rc >= 0x80:  # refused; the server closes the connection [MQTT-3.2.2-7]
        s.reason_string = props.get(_REASON_STRING)
        s.state = _CLOSED
        # 0x9C Use another server / 0x9D Server moved name it here (spec 4.11)
        s.server_reference = props.get(_SERVER_REFERENCE)
        ev._clear(_ERROR)
        ev.packet, ev.reason_code, ev.props = pkt, rc, pkt.props
        ev.error = rc_error("CONNACK", rc)
        ev.server_reference = s.server_reference
        return True
    if pkt.session_present and not s._has_state:
        # we hold no session state for the server to resume [MQTT-3.2.2-4]
        raise ProtocolError(0x82, "unexpected Session Present")
    limits(s, props)
    s.session_present = bool(pkt.session_present)
    if s.auth_method is not None:
        import mqtt5.auth as _auth
        _auth.on_connack(s, props)  # same method [MQTT-4.12.0-5], finish()
    elif _AUTHENTICATION_METHOD in props:  # we sent none [MQTT-4.12.0-6]
        raise ProtocolError(0x82, "Authentication Method without our asking")
    if s.server_keepalive is not None:
        s._ka[_KA_PERIOD] = s.server_keepalive * 1000
    if s.assigned_client_id:
        s.client_id = s.assigned_client_id  # reuse it to resume the session
    if not s.session_present:
        # no session on the server: inbound QoS 2 ids are void, what went out
        # before is reported lost (events after CONNECTED) [MQTT-3.2.2-5]
        held = s._held  # no QoS 2 id is held any more (inbound.py)
        ids = held[_H_IDS]
        for i in range(len(ids)):
            ids[i] = 0
        held[_H_COUNT] = 0
        if any(s._inflight[_F_PID]):  # a slot in use
            import mqtt5.session_lost as _sl  # lazy: only when there is something to lose

            _sl.session_lost(s)
    s._has_state = s.session_expiry_granted != 0  # state kept after the link closes
    s.state = _ESTABLISHED
    s._hold = False
    if s._aout:
        s._aout.reset(s.server_topic_alias_maximum)  # fresh map per connection
    _out.pump(s)  # resend before any new packet [MQTT-4.4.0-1] [MQTT-4.6.0-1]
    ev._clear(_CONNECTED)
    ev.packet, ev.reason_code, ev.props = pkt, rc, pkt.props
    ev.session_present = s.session_present
    ev.server_reference = s.server_reference
    return True
