"""The backlog: in-flight slots marked QUEUED (inflight.py) whose packet has still to
be encoded.  After a reconnect every slot is queued, resent once CONNACK says Session
Present 1 (PUBLISH with DUP [MQTT-3.3.1-1], PUBREL for QoS 2 past PUBREC)
[MQTT-4.4.0-1]; new QoS 1/2 requests made while a backlog exists (or before an
enhanced-auth CONNACK) join it, so nothing new overtakes a resend [MQTT-4.6.0-1].
``pump(s)`` encodes the slots oldest first as transmit room and the server's Receive
Maximum allow.  Loaded only when a slot is queued (mqtt5.outbound pump()), so a node
that never resumes a session never carries it."""

from .errors import MQTTError
import mqtt5.packets as _p
from .txbuf import BufferFull, too_large

_ESTABLISHED = const(2)
_WAIT_PUBACK = const(1)
_WAIT_PUBREC = const(2)
_WAIT_PUBCOMP = const(3)
_WAIT_SUBACK = const(4)
_QUEUED = const(0x10000)
_RESEND = const(0x20000)
_RETAIN = const(0x40000)
_ACK_ROOM = const(8)
_RESERVE = const(32)  # as in mqtt5.outbound
_PUBREL = const(6)
_PUBLISH_DONE = const(3)
_SUBSCRIBED = const(4)
_UNSUBSCRIBED = const(5)


def fail(s, i, rc, err, pkt):
    """Complete slot i with an error: an event after the current one (a resend that
    cannot go, a request the session lost)."""
    if not isinstance(err, MQTTError):
        err = MQTTError(str(err))
    err.reason_code = rc
    fl = s._inflight
    w = fl.state[i] & 0xFF
    kind = _PUBLISH_DONE if w <= _WAIT_PUBCOMP else (
        _SUBSCRIBED if w == _WAIT_SUBACK else _UNSUBSCRIBED)
    if s._pending is None:
        s._pending = []
    s._pending.append((kind, fl.pid[i], rc, err, False, pkt))
    fl.free(i, False)


def join(s, i, n):
    """Queue slot i, whose packet is n bytes, behind the backlog; refuse it now
    (0x95) if the server's Maximum Packet Size means it can never be sent."""
    limit = s.server_max_packet_size
    if limit and n > limit:
        raise too_large("packet", n, limit)
    s._inflight.set_queued(i, True)


def pump(s):
    """Encode the QUEUED slots, oldest first, while there is transmit room and send quota
    [MQTT-4.9.0-2]; resent PUBLISH carry DUP and the full topic (never an alias from
    an earlier connection).  A slot that can never be sent (over the server's Maximum
    Packet Size, or tx_size) completes with an error event.  After the transmit
    buffer ran out of room it waits (``tx.blocked``) until sent() frees some."""
    fl = s._inflight
    tx = s._tx
    while fl.queued and s.state == _ESTABLISHED and not tx.blocked:
        i = _oldest(fl)
        if i < 0:  # (cannot happen: the count and the bits agree)
            fl.queued = 0
            return
        st = fl.state[i]
        w = st & 0xFF
        pid = fl.pid[i]
        try:
            if w == _WAIT_PUBCOMP:  # PUBREL again [MQTT-4.4.0-1]
                if not tx.room(_ACK_ROOM + _RESERVE):
                    tx.blocked = True
                    return
                tx.ack(_PUBREL, pid, 0)
            elif w <= _WAIT_PUBREC:
                if _sent_publishes(fl) >= s.receive_maximum_out:
                    return  # wait for an ack to free quota [MQTT-4.9.0-2]
                tx.publish(_RESERVE, s.server_max_packet_size, fl.topic[i],
                           fl.payload[i], 1 if w == _WAIT_PUBACK else 2, st & _RETAIN != 0,
                           st & _RESEND != 0, pid, fl.props[i])
            else:
                cls = _p.Subscribe if w == _WAIT_SUBACK else _p.Unsubscribe
                tx.packet(cls(packet_id=pid, topics=fl.topic[i], props=fl.props[i]),
                          _RESERVE, s.server_max_packet_size)
        except BufferFull:
            tx.blocked = True  # sent() makes room and pumps again
            return
        except (MQTTError, ValueError) as e:
            fail(s, i, getattr(e, "reason_code", 0x80), e, None)
            continue
        fl.set_queued(i, False)


def _oldest(fl):
    # index of the QUEUED slot sent (or queued) first, or -1 [MQTT-4.6.0-1]
    best = -1
    st, o = fl.state, fl.order
    for i in range(len(fl.pid)):
        if st[i] & _QUEUED and (best < 0 or o[i] < o[best]):
            best = i
    return best


def _sent_publishes(fl):
    # PUBLISH slots that went out on this connection (the send quota in use
    # [MQTT-4.9.0-2]); QUEUED ones have not
    n = fl.publishes
    st = fl.state
    for i in range(len(fl.pid)):
        if st[i] & _QUEUED and st[i] & 0xFF <= _WAIT_PUBCOMP:
            n -= 1
    return n
