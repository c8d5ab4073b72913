"""Keep-alive deadlines for the session (sans-IO: time is passed in, in ms, from
the wrapping clock of _compat; compared only through ticks_diff).

Rules [MQTT-3.1.2.10]:
- In the absence of sending any other packet within the Keep Alive period, the Client
  MUST send PINGREQ [MQTT-3.1.2-20]; a Server Keep Alive in CONNACK replaces ours
  [MQTT-3.2.2-21].
- We also send PINGREQ when nothing was *received* for the period: a client that only
  publishes QoS 0 would otherwise never learn the server is gone.
- The link is dead when no packet at all arrived within 1.5 x Keep Alive (the same
  grace the server applies to us [MQTT-3.1.2-22]); a PINGRESP is such a packet.

The same tick watches acknowledgements (the session's ``ack_timeout_ms``, 0: off): a
link that answers pings but acknowledges nothing we sent (a PUBACK, PUBREC, PUBCOMP,
SUBACK or UNSUBACK) for that long is closed as dead, so that a reconnect resends what
it waits for [MQTT-4.4.0-1]: the spec allows no resend on the same connection, and a
publish would otherwise wait for good.

The state is a list the session keeps, ``[period_ms, last_tx, last_rx, ping_out,
ack_timeout_ms, ack_since, now]`` (period 0: keep alive off; ``now``: the last time
the session was given), not an object: two functions
and seven slots cost less RAM than a class and its methods.  The session sets the slots
itself: both times at a new connection, ``last_rx`` on any bytes in (which also clears
``ping_out``: a ping is answered by any packet), ``last_tx`` on any bytes out;
``tick()`` sets both when it queues PINGREQ.  ``ack_since`` is None while nothing we
sent waits for its acknowledgement, else the time of the last one that came (or of the
write that started the wait).
"""

from ._compat import ticks_diff
from .errors import MQTTError
from .txbuf import short
import mqtt5.outbound as _out

_PERIOD = const(0)
_LAST_TX = const(1)
_LAST_RX = const(2)
_PING_OUT = const(3)
_ACK_TIMEOUT = const(4)
_ACK_SINCE = const(5)
_NOW = const(6)

# due()'s answers besides a wait in ms; private consts, as the slot numbers above: a
# public name would cost a module-dict entry on every node
_DEAD = const(-1)
_PING = const(-2)
_ACK_LATE = const(-3)
_IDLE_MS = const(3600000)  # returned when keep alive is off
_LINK_DEAD = const(7)  # session.LINK_DEAD
_CLOSED = const(0)
_ESTABLISHED = const(2)


def tick(s, now_ms):
    """``Session.tick(now_ms)``: keep alive.  Queue PINGREQ when due
    [MQTT-3.1.2-20]; LINK_DEAD (state CLOSED) when nothing arrived for 1.5 x keep
    alive, or nothing we sent was acknowledged for ack_timeout_ms (ev.error says which:
    "keep alive timeout", "ack timeout: ...").  Returns ms until tick() is next needed
    (3600000 when the session is closed, or keep alive is off and no acknowledgement
    is awaited)."""
    s._ka[_NOW] = now_ms
    if s.state == _CLOSED:
        return _IDLE_MS
    ka = s._ka
    connected = s.state == _ESTABLISHED
    wait = due(ka, now_ms, connected)
    if wait == _PING:
        # PINGREQ; with no room for it data is queued, so the link is not idle anyway
        if not short(s._tx, 0xC0):
            return 0
        ka[_LAST_TX] = now_ms
        ka[_PING_OUT] = True
        wait = due(ka, now_ms, connected)
    if wait == _ACK_LATE and not _out.awaiting(s._inflight):
        ka[_ACK_SINCE] = None  # (its acks came: the wait ended with the last one)
        wait = due(ka, now_ms, connected)
    if wait >= 0:
        return wait
    s.state = _CLOSED  # dead (nothing arrived), or an acknowledgement awaited too long
    _out.post(s, (_LINK_DEAD, 0, 0, MQTTError("keep alive timeout" if wait == _DEAD else
              "ack timeout: nothing acknowledged for %d ms" % ka[_ACK_TIMEOUT]), False, None))
    return 0


def due(ka, now_ms, may_ping):
    """What keep alive needs at now_ms: -1 (dead: nothing arrived for 1.5 x the
    period), -2 (queue PINGREQ; only if may_ping and no ping is out), -3 (no
    acknowledgement for ack_timeout_ms while one is awaited), else the ms (>= 0)
    until it may need something."""
    p = ka[_PERIOD]
    left = _IDLE_MS
    if p:
        rx = ticks_diff(now_ms, ka[_LAST_RX])
        left = p + (p >> 1) - rx
        if left <= 0:
            return _DEAD
        if may_ping and not ka[_PING_OUT]:
            ping = min(p - ticks_diff(now_ms, ka[_LAST_TX]), p - rx)
            if ping <= 0:
                return _PING
            left = min(left, ping)
    since = ka[_ACK_SINCE]
    if since is not None:
        ack = ka[_ACK_TIMEOUT] - ticks_diff(now_ms, since)
        if ack <= 0:
            return _ACK_LATE
        left = min(left, ack)
    return left
