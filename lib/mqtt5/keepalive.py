"""Keep-alive deadlines for the session (sans-IO: time is passed in, in ms, from
the wrapping clock of _compat; compared only through ticks_diff).

Rules [MQTT-3.1.2.10]:
- In the absence of sending any other packet within the Keep Alive period, the Client
  MUST send PINGREQ [MQTT-3.1.2-22]; a Server Keep Alive in CONNACK replaces ours
  [MQTT-3.2.2-21].
- We also send PINGREQ when nothing was *received* for the period: a client that only
  publishes QoS 0 would otherwise never learn the server is gone.
- The link is dead when no packet at all arrived within 1.5 x Keep Alive (the same
  grace the server applies to us [MQTT-3.1.2-24]); a PINGRESP is such a packet.
"""

from ._compat import const, ticks_diff

NONE = const(0)
PING = const(1)
DEAD = const(2)
IDLE_MS = const(3600000)  # wait returned when keep alive is off


class KeepAlive:
    """Deadline tracker; ``period_ms`` 0 turns keep alive off.  ValueError for a
    period that is no Two Byte Integer of seconds (3.1.2.10)."""

    def __init__(self, seconds):
        if not 0 <= seconds <= 65535:
            raise ValueError("keepalive must be 0..65535")
        self.period_ms = seconds * 1000
        self.reset(0)

    def reset(self, now_ms):
        """New connection at now_ms: both directions count as active."""
        self.last_tx = now_ms
        self.last_rx = now_ms
        self.ping_out = False

    def set_period(self, seconds):
        self.period_ms = seconds * 1000

    def on_rx(self, now_ms):
        """Something arrived: the link is alive; any outstanding ping is answered."""
        self.last_rx = now_ms
        self.ping_out = False

    def on_tx(self, now_ms):
        self.last_tx = now_ms

    def check(self, now_ms, may_ping):
        """What is due now: NONE, PING (caller queues PINGREQ and calls pinged()) or DEAD."""
        p = self.period_ms
        if not p:
            return NONE
        rx = ticks_diff(now_ms, self.last_rx)
        if rx >= p + (p >> 1):
            return DEAD
        if may_ping and not self.ping_out and (
                ticks_diff(now_ms, self.last_tx) >= p or rx >= p):
            return PING
        return NONE

    def pinged(self, now_ms):
        self.ping_out = True
        self.last_tx = now_ms

    def wait_ms(self, now_ms, may_ping):
        """ms until check() may answer something other than NONE (>= 0)."""
        p = self.period_ms
        if not p:
            return IDLE_MS
        rx = ticks_diff(now_ms, self.last_rx)
        left = p + (p >> 1) - rx
        if may_ping and not self.ping_out:
            left = min(left, p - ticks_diff(now_ms, self.last_tx), p - rx)
        return max(0, left)
