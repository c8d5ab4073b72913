"""What the session sends on the caller's behalf: PUBLISH (with automatic topic
aliases), SUBSCRIBE/UNSUBSCRIBE, DISCONNECT/AUTH within the server's Maximum Packet
Size.  A request made while in-flight slots wait to be (re)sent joins that backlog
(mqtt5.backlog, loaded only then); ``pump(s)`` runs it at CONNACK, after sent() and
before each next_event() [MQTT-4.4.0-1] [MQTT-4.6.0-1].
"""

from .errors import MQTTError
from .txbuf import BufferFull, packet, publish as _put
from .inflight import alloc, free
from .wire import vbi_size

_REASON_STRING = const(0x1F)
_USER_PROPERTY = const(0x26)

_CLOSED = const(0)
_ESTABLISHED = const(2)
_WAIT_PUBACK = const(1)
_WAIT_PUBREC = const(2)
_WAIT_SUBACK = const(4)
_RETAIN = const(0x40000)  # inflight.py's state bit
_F_PID = const(0)  # slots of the in-flight table (inflight.py)
_F_TOPIC = const(3)
_F_PAYLOAD = const(4)
_F_PROPS = const(5)
_F_PUBLISHES = const(6)
_F_QUEUED = const(7)

_RESERVE = const(32)  # tx bytes publish/subscribe leave free for acks and PINGREQ


def publish(s, topic, payload, qos=0, retain=False, props=None, alias=True):
    """Queue PUBLISH; returns the packet id (0 for QoS 0); PUBLISH_DONE follows for
    QoS 1/2.

    topic: str, or UTF-8 bytes (spares the codec one encode allocation); payload:
    bytes-like.  For QoS 1/2 the session keeps references to topic/payload/props until
    PUBLISH_DONE (for resend): do not mutate them.  alias: use an outbound Topic
    Alias when the table allows (a repeated topic then goes out with an empty
    Topic Name); False sends the full topic without one.  props must not carry a
    Topic Alias while aliases are on (ValueError).  ValueError for invalid contents
    (codec: wildcard in topic, bad property ...).  MQTTError when not
    connected/connecting, no free slot, send quota used up (``send_quota`` 0:
    server Receive Maximum [MQTT-3.3.4-7]), QoS above the server's Maximum QoS
    [MQTT-3.2.2-11], retain not available [MQTT-3.2.2-14], or the packet is over
    the server's Maximum Packet Size (message names 0x95, ``.reason_code`` 0x95;
    nothing queued) [MQTT-3.2.2-15]; BufferFull when the transmit buffer has no room
    now, or (QoS 0) while resent packets are still waiting for room.  While a
    resend backlog exists (after a reconnect) QoS 1/2 publishes are accepted but
    queued behind it, so nothing new overtakes a resend [MQTT-4.6.0-1]."""
    if s.state == _CLOSED:  # (check_open(), inline on the hot path)
        raise MQTTError("not connected")
    if qos > s.maximum_qos:
        if qos > 2:  # no QoS at all, whatever the server allows [MQTT-3.3.1-4]
            raise ValueError("QoS must be 0, 1 or 2")
        raise MQTTError("QoS %d above server maximum %d" % (qos, s.maximum_qos))
    if retain and not s.retain_available:
        raise MQTTError("retain not available")
    fl = s._inflight
    i = pid = 0
    if not qos:
        if fl[_F_QUEUED] or s._hold:  # QoS 0 holds no slot: wait for the backlog / CONNACK
            raise BufferFull("resend backlog: flush, then retry")
    else:
        if fl[_F_PUBLISHES] >= s.receive_maximum_out:
            raise MQTTError("send quota used up: server Receive Maximum %d [MQTT-3.3.4-7]"
                            % s.receive_maximum_out)
        i = alloc(fl, (_WAIT_PUBACK if qos == 1 else _WAIT_PUBREC) | (_RETAIN if retain else 0))
        pid = fl[_F_PID][i]
    try:
        if qos and (fl[_F_QUEUED] or s._hold):  # behind the backlog: encoded by pump(),
            import mqtt5.backlog as _b  # in order
            from .packets.publish import publish_size

            _b.join(s, i, publish_size(topic, payload, qos, props))  # ValueError now
        elif alias and s._aout:
            import mqtt5.aliases as _al

            _al.send(s, topic, payload, qos, retain, pid, props)
        else:
            _put(s._tx, _RESERVE, s.server_max_packet_size, topic, payload, qos, retain,
                 False, pid, props)
    except Exception:
        if qos:
            free(fl, i, True)
        raise
    if not qos:
        return 0
    fl[_F_TOPIC][i], fl[_F_PAYLOAD][i], fl[_F_PROPS][i] = topic, payload, props
    if fl[_F_QUEUED] and s.state == _ESTABLISHED:
        pump(s)
    return pid


def request(s, state, cls, items, props):
    """Session.subscribe/unsubscribe: queue cls(packet_id, items, props)."""
    if s.state == _CLOSED:
        raise MQTTError("not connected")
    fl = s._inflight
    i = alloc(fl, state)
    pid = fl[_F_PID][i]
    try:
        pkt = cls(packet_id=pid, topics=items, props=props)
        if fl[_F_QUEUED] or s._hold:
            import mqtt5.backlog as _b

            rl = pkt._size()  # validates: ValueError now, not at pump()
            _b.join(s, i, 1 + vbi_size(rl) + rl)
        else:
            packet(s._tx, pkt, _RESERVE, s.server_max_packet_size)
    except Exception:
        free(fl, i, True)
        raise
    fl[_F_TOPIC][i], fl[_F_PROPS][i] = items, props
    if fl[_F_QUEUED] and s.state == _ESTABLISHED:
        pump(s)
    return pid


def pump(s):
    """Encode the QUEUED slots (mqtt5.backlog, loaded only when there are some)."""
    if s._inflight[_F_QUEUED] and s.state == _ESTABLISHED:
        import mqtt5.backlog as _b

        _b.pump(s)


def fit(s, pkt):
    """Queue a DISCONNECT or AUTH within the server's Maximum Packet Size: drop Reason
    String and User Property first when they make it too large [MQTT-3.14.2-3]
    [MQTT-3.14.2-4] [MQTT-3.15.2-2] [MQTT-3.15.2-3]."""
    limit = s.server_max_packet_size
    try:
        packet(s._tx, pkt, 0, limit)
        return
    except MQTTError as e:
        props = pkt.props
        if getattr(e, "reason_code", 0) != 0x95 or not props or not (
                _REASON_STRING in props or _USER_PROPERTY in props):
            raise
    pkt.props = {k: v for k, v in props.items()
                 if k != _REASON_STRING and k != _USER_PROPERTY} or None
    packet(s._tx, pkt, 0, limit)
