"""Session Present 0 while requests were in flight: the server has lost our session,
and with it what went out on an earlier connection [MQTT-3.2.2-5].  Loaded by the
first CONNACK that finds in-flight slots to give up (inbound.on_connack), so a node
whose session is always resumed or clean never carries it."""

from .errors import MQTTError
import mqtt5.packets as _p
from .backlog import fail, expired

_WAIT_PUBACK = const(1)
_WAIT_PUBREC = const(2)
_WAIT_PUBCOMP = const(3)
_WAIT_SUBACK = const(4)
_RESEND = const(0x20000)
_RETAIN = const(0x40000)
_EXPIRED = const(0x80000)  # (backlog.age())
_F_PID = const(0)  # slots of the in-flight table (outbound.py)
_F_STATE = const(1)
_F_ORDER = const(2)
_F_TOPIC = const(3)
_F_PAYLOAD = const(4)
_F_PROPS = const(5)


class SessionLost(MQTTError):
    """The server had no session for us (CONNACK Session Present 0 after a
    connect(clean_start=False), or a clean start): a request that was in flight on
    the previous connection is gone.  ``.reason_code`` 0x80, ``.packet_id``."""


def session_lost(s):
    """CONNACK Session Present 0: what went out on an earlier connection is gone
    [MQTT-3.2.2-5].  Each such slot ends with its usual event (PUBLISH_DONE,
    SUBSCRIBED, UNSUBSCRIBED) carrying a SessionLost error, reason code 0x80, and as
    ``packet`` the request to send again as a new one (a Publish, Subscribe or
    Unsubscribe; a QoS 2 Publish also past PUBREC, since a server may deliver only at
    PUBREL [spec 4.3.3, method B]: sent again, it may then arrive twice, from a
    server that delivers at PUBLISH, or from any server when our PUBREL reached it
    before the session was lost: the error's ``released`` is True once PUBREC had
    come, so that our PUBREL may have gone out).
    Requests queued but never sent stay queued and go out as new packets.  The
    events come in the order the requests were first sent (a slot freed by an ack is
    reused by a later one: slot order is not that order), so that what is sent again
    from them keeps it [MQTT-4.6.0-1]."""
    fl = s._inflight
    p = fl[_F_PID]
    order = fl[_F_ORDER]
    for i in sorted(range(len(p)), key=lambda i: order[i]):
        st = fl[_F_STATE][i]
        if p[i] and st & _RESEND:
            w = st & 0xFF
            pid = p[i]
            topic, props = fl[_F_TOPIC][i], fl[_F_PROPS][i]
            if st & _EXPIRED:  # its Message Expiry ran out while the link was down:
                fail(s, i, 0x80, expired(), None)  # given up, not sent late [MQTT-3.3.2-5]
                continue
            if w <= _WAIT_PUBCOMP:  # also past PUBREC: a server that delivers at
                # PUBREL (Mosquitto) never delivered it
                pkt = _p.Publish(topic, fl[_F_PAYLOAD][i], 1 if w == _WAIT_PUBACK else 2,
                                 st & _RETAIN != 0, False, pid, props)
            else:
                cls = _p.Subscribe if w == _WAIT_SUBACK else _p.Unsubscribe
                pkt = cls(packet_id=pid, topics=topic, props=props)
            e = SessionLost("session lost: packet id %d not resumed (Session Present 0)"
                            % pid)
            e.packet_id = pid
            e.released = w == _WAIT_PUBCOMP  # (a resend may duplicate: see above)
            fail(s, i, 0x80, e, pkt)
