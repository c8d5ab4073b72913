"""The backlog: in-flight slots marked QUEUED (outbound.py) whose packet has still to
be encoded.  After a reconnect every slot is queued, resent once CONNACK says Session
Present 1 (PUBLISH with DUP [MQTT-3.3.1-1], PUBREL for QoS 2 past PUBREC)
[MQTT-4.4.0-1]; new QoS 1/2 requests made while a backlog exists (or before an
enhanced-auth CONNACK) join it, so nothing new overtakes a resend [MQTT-4.6.0-1].
``pump(s)`` encodes the slots oldest first as transmit room and the server's Receive
Maximum allow.  Loaded when a slot is queued (mqtt5.outbound pump()), or for a
packet object below: a node that never resumes a session, and sends no DISCONNECT
with a code or properties, no AUTH and meets no protocol violation, never carries it.

Also the session's packet objects (mqtt5.packets), written as rarely: ``fit(s, pkt)``,
a DISCONNECT of ours with a reason code or properties, or an AUTH (mqtt5.auth);
``violation(s, err)``, the DISCONNECT a server's protocol violation gets."""

from ._compat import ticks_diff
from .errors import MQTTError
from .txbuf import BufferFull, too_large, room, ack, publish, request, queued
from .outbound import set_queued, free, post

_ESTABLISHED = const(2)
_WAIT_PUBACK = const(1)
_WAIT_PUBREC = const(2)
_WAIT_PUBCOMP = const(3)
_WAIT_SUBACK = const(4)
_QUEUED = const(0x10000)
_RESEND = const(0x20000)
_RETAIN = const(0x40000)
_EXPIRED = const(0x80000)  # its Message Expiry ran out while the link was down (age())
_EXPIRY = const(0x02)  # Message Expiry Interval
_ACK_ROOM = const(8)
_RESERVE = const(32)  # as in mqtt5.outbound
_PUBREL = const(6)
_SUBSCRIBE = const(8)
_UNSUBSCRIBE = const(10)
_PUBLISH_DONE = const(3)
_F_PID = const(0)  # slots of the in-flight table (outbound.py)
_F_STATE = const(1)
_F_ORDER = const(2)
_F_TOPIC = const(3)
_F_PAYLOAD = const(4)
_F_PROPS = const(5)
_F_PUBLISHES = const(6)
_F_QUEUED = const(7)
_F_AGED = const(13)  # ms of an outage not yet taken off Message Expiry (age())
_TX_BLOCKED = const(7)  # slot of the transmit buffer's list (txbuf.py)
_SUBSCRIBED = const(4)
_UNSUBSCRIBED = const(5)
_TX_MV = const(1)  # slots of the transmit buffer's list (txbuf.py)
_TX_TAIL = const(3)
_TOO_LARGE = const(0x95)  # what the codec raises when a packet does not fit a buffer
_REASON_STRING = const(0x1F)
_USER_PROPERTY = const(0x26)
_TOPIC_ALIAS = const(0x23)
_CLOSED = const(0)
_ERROR = const(8)


def fail(s, i, rc, err, pkt):
    """Complete slot i with an error: an event after the current one (a resend that
    cannot go, a request the session lost)."""
    if not isinstance(err, MQTTError):
        err = MQTTError(str(err))
    err.reason_code = rc
    fl = s._inflight
    w = fl[_F_STATE][i] & 0xFF
    kind = _PUBLISH_DONE if w <= _WAIT_PUBCOMP else (
        _SUBSCRIBED if w == _WAIT_SUBACK else _UNSUBSCRIBED)
    post(s, (kind, fl[_F_PID][i], rc, err, False, pkt))
    free(fl, i, False)


def age(fl, now_ms, seen_ms):
    """A new connection (outbound.connect()): each PUBLISH waiting to go again (no PUBREC
    yet) waited offline since ``seen_ms``, the session's last sight of the old link, so
    its Message Expiry Interval loses those whole seconds, as a queued message's does
    (mqtt5.offline) [MQTT-3.3.2-6].  One that ran out is marked EXPIRED: a QoS 1
    message is then given up, not sent late (pump(), session_lost); so is a QoS 2 one
    that never went out, while one that did still goes, with 1 s left, since the server
    may hold its packet id (spec 4.3.3).  The time it was in flight before the link
    went is not counted (at most about the keep-alive that found the link dead); the
    part of a second left over is kept for the next connect (attempts under a second
    apart age it too)."""
    ms = ticks_diff(now_ms, seen_ms)
    if ms <= 0:
        return
    ms += fl[_F_AGED]
    sec = ms // 1000
    fl[_F_AGED] = ms - sec * 1000
    if not sec:
        return
    st, pr, pid = fl[_F_STATE], fl[_F_PROPS], fl[_F_PID]
    for i in range(len(pid)):
        p = pr[i]
        if pid[i] and p and _EXPIRY in p and st[i] & 0xFF <= _WAIT_PUBREC \
                and not st[i] & _EXPIRED:
            p = pr[i] = dict(p)  # (the caller's dict stays as it was)
            left = p[_EXPIRY] - sec
            if left <= 0:
                st[i] |= _EXPIRED
            p[_EXPIRY] = left if left > 0 else 1


def expired():
    """The error of a message whose Message Expiry ran out while the link was down."""
    return MQTTError("message expired while the link was down: not sent again")


def join(s, i, n):
    """Queue slot i, whose packet is n bytes, behind the backlog; refuse it now
    (0x95) if the server's Maximum Packet Size means it can never be sent."""
    limit = s.server_max_packet_size
    if limit and n > limit:
        raise too_large("packet", n, limit)
    set_queued(s._inflight, i, True)


def pump(s):
    """Encode the QUEUED slots, oldest first, while there is transmit room and send quota
    [MQTT-4.9.0-2]; resent PUBLISH carry DUP and the full topic (never an alias from
    an earlier connection).  A slot that can never be sent (over the server's Maximum
    Packet Size, or tx_size; a QoS or retain flag the resumed server no longer allows:
    0x9B, 0x9A) completes with an error event.  After the transmit
    buffer ran out of room it waits (its BLOCKED slot) until sent() frees some."""
    fl = s._inflight
    tx = s._tx
    while fl[_F_QUEUED] and s.state == _ESTABLISHED and not tx[_TX_BLOCKED]:
        i = _oldest(fl)
        if i < 0:  # (cannot happen: the count and the bits agree)
            fl[_F_QUEUED] = 0
            return
        st = fl[_F_STATE][i]
        w = st & 0xFF
        pid = fl[_F_PID][i]
        try:
            if w == _WAIT_PUBCOMP:  # PUBREL again [MQTT-4.4.0-1]
                if not room(tx, _ACK_ROOM + _RESERVE):
                    tx[_TX_BLOCKED] = True
                    return
                ack(tx, _PUBREL, pid, 0)
            elif w <= _WAIT_PUBREC:
                if _sent_publishes(fl) >= s.receive_maximum_out:
                    return  # wait for an ack to free quota [MQTT-4.9.0-2]
                qos = 1 if w == _WAIT_PUBACK else 2
                # a resumed session's server may have lowered its limits since
                if qos > s.maximum_qos:  # [MQTT-3.2.2-11]
                    fail(s, i, 0x9B, MQTTError("QoS %d above server maximum %d: not sent "
                                               "again" % (qos, s.maximum_qos)), None)
                    continue
                if st & _EXPIRED and (qos == 1 or not st & _RESEND):  # [MQTT-3.3.2-5]:
                    # not sent late (age()); QoS 2 only once the server may hold its id
                    fail(s, i, 0x80, expired(), None)
                    continue
                if st & _RETAIN and not s.retain_available:  # [MQTT-3.2.2-14]
                    fail(s, i, 0x9A, MQTTError("retain not available: not sent again"), None)
                    continue
                topic, props = fl[_F_TOPIC][i], fl[_F_PROPS][i]
                if st & _RESEND and props and _TOPIC_ALIAS in props:
                    # a caller's own Topic Alias: its mapping was the earlier
                    # connection's [MQTT-3.3.2-7]; the topic goes whole, without it
                    if not topic:  # (sent with the alias alone: no topic to send)
                        fail(s, i, 0x94, MQTTError(
                            "its Topic Alias was an earlier connection's, and it has no "
                            "topic: not sent again"), None)
                        continue
                    props = dict(props)
                    del props[_TOPIC_ALIAS]
                publish(tx, _RESERVE, s.server_max_packet_size, topic, fl[_F_PAYLOAD][i],
                        qos, st & _RETAIN != 0, st & _RESEND != 0, pid, props)
            else:
                request(tx, _SUBSCRIBE if w == _WAIT_SUBACK else _UNSUBSCRIBE, pid,
                        fl[_F_TOPIC][i], fl[_F_PROPS][i], _RESERVE, s.server_max_packet_size)
        except BufferFull:
            tx[_TX_BLOCKED] = True  # sent() makes room and pumps again
            return
        except (MQTTError, ValueError) as e:
            fail(s, i, getattr(e, "reason_code", 0x80), e, None)
            continue
        set_queued(fl, i, False)


def _oldest(fl):
    # index of the QUEUED slot sent (or queued) first, or -1 [MQTT-4.6.0-1]
    best = -1
    st, o = fl[_F_STATE], fl[_F_ORDER]
    for i in range(len(fl[_F_PID])):
        if st[i] & _QUEUED and (best < 0 or o[i] < o[best]):
            best = i
    return best


def _sent_publishes(fl):
    # PUBLISH slots that went out on this connection (the send quota in use
    # [MQTT-4.9.0-2]); QUEUED ones have not
    n = fl[_F_PUBLISHES]
    st = fl[_F_STATE]
    for i in range(len(fl[_F_PID])):
        if st[i] & _QUEUED and st[i] & 0xFF <= _WAIT_PUBCOMP:
            n -= 1
    return n


# ---- packet objects (mqtt5.packets): a DISCONNECT of ours with a reason code or
# properties, AUTH, a protocol violation's DISCONNECT --------------------------------

def packet(tx, pkt, reserve, limit):
    """Encode a packet object (mqtt5.packets) at the transmit buffer's tail."""
    import mqtt5.packets as _p
    import mqtt5.wire as _w
    from .errors import ProtocolError

    room(tx, 0)
    while True:
        t = tx[_TX_TAIL]  # the free tail to encode into: the whole view when empty
        try:
            n = _p.encode(pkt, tx[_TX_MV][t:] if t else tx[_TX_MV])
        except ProtocolError as e:  # does not fit the tail; ValueError propagates
            if e.reason_code != _TOO_LARGE:
                raise
            rl = pkt._size()
            n = -(1 + _w.vbi_size(rl) + rl)
        if queued(tx, n, reserve, limit):
            return


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
        if getattr(e, "reason_code", 0) != _TOO_LARGE or not props or not (
                _REASON_STRING in props or _USER_PROPERTY in props):
            raise
    pkt.props = {k: v for k, v in props.items()
                 if k != _REASON_STRING and k != _USER_PROPERTY} or None
    packet(s._tx, pkt, 0, limit)


def violation(s, err):
    """Protocol violation by the server: DISCONNECT with its reason code (spec 4.13,
    the link then closes [MQTT-4.13.2-1]), state CLOSED; returns the ERROR event, with
    the code sent (the error keeps its own).  A code only a server sends (spec
    3.14.2.1) goes as 0x82 Protocol Error, an authenticator's refusal (0x87 Not
    authorized) as 0x80 Unspecified error."""
    import mqtt5.packets.control as _pc

    rc = err.reason_code
    if not _pc.client_code(rc):  # (a CONNECT or SUBSCRIBE sent to us, AUTH refused)
        rc = 0x80 if rc == 0x87 else 0x82
    if s.state != _CLOSED:
        try:
            packet(s._tx, _pc.Disconnect(reason_code=rc, props=None), 0, 0)
        except MQTTError:
            pass  # no room: close without it
    s.state = _CLOSED
    ev = s._ev
    ev._clear(_ERROR)
    ev.reason_code, ev.error = rc, err
    return ev
