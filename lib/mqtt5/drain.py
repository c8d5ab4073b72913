"""The supervised side of the Link (mixed into mqtt5.link.Link): what changes
once a Supervisor owns the client.

- QoS 1/2 publish waiters survive link loss (link.py `_close()` skips them):
  with Session Present 1 the session resends their PUBLISH (DUP) / PUBREL in
  order [MQTT-4.4.0-1] and they resolve on its PUBLISH_DONE for the same ids.
- Session Present 0: the session's SessionLost PUBLISH_DONE hands the message
  back (`_requeue`): it goes to the front of the offline queue, in order, and
  out again as a NEW message (new packet id).
- The drainer task (one per connection, started by the supervisor after the
  subscriptions are restored) hands queued publishes to the session, oldest
  first, within the server's Receive Maximum [MQTT-3.3.4-7] and our slots.
"""

import asyncio

import mqtt5.session as _S
from ._compat import const, monotonic_ms
from .errors import MQTTError

_FREE = const(-1)  # a free waiter slot (as in mqtt5.link)


def pulse(ev):
    """Wake everything waiting on `ev` now; later waiters wait for the next pulse."""
    ev.set()
    ev.clear()


class Supervised:
    """Mixin of Link: offline queue hand-off, kept waiters, the drainer."""

    def _supervise(self, queue):
        # From now on publish waiters survive link loss and publishes queue when down.
        self._q = queue
        queue.on_drop = self._dropped

    def _dropped(self, w):
        self._fail_waiter(w, MQTTError("publish dropped: offline queue full (drop-oldest)"))

    def _fail_waiter(self, w, err):
        self._werr[w] = err
        self._wdone[w] = 1
        pulse(self._acked)

    def _abandon(self, err):
        # Supervision ends (stop()): fail every waiting caller and empty the queue.
        q = self._q
        while q is not None and q.n:
            q.pop()
        pids = self._wpid
        for i in range(len(pids)):
            if pids[i] != _FREE and not self._wdone[i]:
                self._fail_waiter(i, err)

    def _requeue(self, ev):
        # Session Present 0: the server lost our in-flight publish [MQTT-3.2.2-5].
        # Send it again as a NEW message (QoS 1: at least once holds).  QoS 2 past
        # PUBREC (ev.packet None): the server had taken it, so it is done.  A QoS 2
        # message re-sent here after the server lost its state may arrive twice:
        # exactly-once needs the server to keep the session (persistence).
        pids = self._wpid
        w = -1
        for i in range(len(pids)):
            if pids[i] == ev.packet_id and self._wpub[i]:
                w = i
                break
        p = ev.packet
        if p is None:
            if w >= 0:
                self._wres[w] = 0
                self._wdone[w] = 1
                pulse(self._acked)
            return
        if w >= 0:
            pids[w] = 0  # no packet id until the drainer publishes it again
        if not self._q.put_front(p.topic, p.payload, p.qos, p.retain, p.props,
                                 monotonic_ms(), w) and w >= 0:
            self._fail_waiter(w, MQTTError("session lost and offline queue full"))
        self._qev.set()

    def _start_drain(self):
        # Called by the supervisor once the connection is up and restored.
        t = self._t
        if t is not None and self._q is not None:
            self._drain_t = t
            self._tasks = self._tasks + (asyncio.create_task(self._drainer(t)),)

    async def _room(self):
        # Wait for transmit room: behind a resend backlog that only acks can
        # move (send quota), for an ack; else for a writer turn.
        if self._s._inflight.queued:
            await self._acked.wait()
        else:
            await self._flush()

    async def _drainer(self, t):
        # Hand queued publishes to the session, oldest first, as the server's
        # Receive Maximum [MQTT-3.3.4-7] and our in-flight slots allow.
        s = self._s
        q = self._q
        fl = s._inflight
        try:
            while self._t is t:
                self._qev.clear()
                if not q.n:
                    await self._qev.wait()
                    continue
                i = q.head
                f = q.flags[i]
                qos = f & 3
                if qos and (not s.send_quota or fl.used >= fl.size):
                    await self._acked.wait()  # pulsed when an ack frees a slot
                    continue
                now = monotonic_ms()
                if q.expired_at(i, now):  # [MQTT-3.3.2-5]
                    q.expired += 1
                    w = q.pop()
                    if w >= 0:
                        self._fail_waiter(w, MQTTError("message expired in the offline queue"))
                    continue
                try:
                    pid = s.publish(q.topic[i], q.payload[i], qos, f & 4 != 0,
                                    q.props_at(i, now))
                except _S.BufferFull:
                    await self._room()
                    continue
                except (MQTTError, ValueError) as e:
                    if self._t is not t or not s.is_connected:
                        return
                    w = q.pop()  # this message can never go: tell its caller
                    if w >= 0:
                        self._fail_waiter(w, e)
                    continue
                w = q.pop()
                self.msgs_out += 1
                if w >= 0:
                    self._wpid[w] = pid
                self._wake.set()
        except Exception as e:
            if self._t is t:
                self._close(e)
