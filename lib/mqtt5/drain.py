"""The supervised side of the client: what changes once a Supervisor owns it.
Loaded when a Supervisor is made, so a plain client never carries it; the
functions take the client (a mqtt5.client.Client, with mqtt5.link's waiter slots)
as their first argument.

- QoS 1/2 publish waiters survive link loss (link.py `close()` skips them):
  with Session Present 1 the session resends their PUBLISH (DUP) / PUBREL in
  order [MQTT-4.4.0-1] and they resolve on its PUBLISH_DONE for the same ids.
- Session Present 0: the session's SessionLost PUBLISH_DONE hands the message
  back (`requeued()`): it goes to the front of the offline queue, in order, and
  out again as a NEW message (new packet id).
- The drainer task (one per connection, started by the supervisor after the
  subscriptions are restored) hands queued publishes to the session, oldest
  first, within the server's Receive Maximum [MQTT-3.3.4-7] and our slots.
  A QoS 1/2 one with no caller (the Supervisor's birth) gets a detached waiter
  slot as it goes: its Signal is the queue's `outcome` (mqtt5.offline).
"""

import mqtt5.link as _L
import mqtt5.session as _S
from ._compat import DONE, monotonic_ms  # (asyncio and Signal: imported where used once)
from .errors import MQTTError

_DETACHED = const(2)  # a waiter slot that frees itself (mqtt5.link)
_F_QUEUED = const(7)  # a slot of the session's in-flight table (outbound.py)
_TX_CAP = const(4)  # the transmit buffer's cap (txbuf.py)
_COUNT_MASK = const(0x3FFFFFFF)  # the client's counters wrap at 2^30 (mqtt5.link)


def supervise(c, queue):
    # From now on publish waiters survive link loss and publishes queue when down.
    from ._compat import Signal

    c._q = queue
    c._qev = Signal()  # set when something is queued
    spare = MQTTError("publish dropped: offline queue full (drop-oldest)")  # made now,

    def on_drop(w, expired):  # for a drop that finds no heap for its own error
        try:  # a new one each time: one error raised to caller after caller grows its
            # traceback by each raise's frames, for good (24 B a drop on a 32-bit port;
            # a Python exception class's traceback cannot be cleared on MicroPython)
            e = MQTTError("message expired in the offline queue" if expired  # [MQTT-3.3.2-5]
                          else "publish dropped: offline queue full (drop-oldest)")
        except MemoryError:
            e = spare
        if not expired:
            e.reason_code = 0x97  # as offline._full(): the local analogue of Quota exceeded
        _L.finish(c, w, None, e)

    queue.on_drop = on_drop


def abandon(c, err):
    # Supervision ends (stop()): fail every waiting caller, empty the queue and
    # leave the client unsupervised (a publish while down then raises, as on a
    # plain client, instead of queuing where no drainer will come).
    q = c._q
    while q is not None and q.n:
        q.pop()
    pids = c._wpid
    for i in range(len(pids)):
        if pids[i] >= 0:  # waiting (link.py)
            _L.finish(c, i, None, err)
    c._q = None


def requeued(c, ev):
    # A supervised publish ended with an error: True when it was a SessionLost one,
    # sent again; any other goes to its caller (link.pump()).
    # Session Present 0: the server lost our in-flight publish [MQTT-3.2.2-5].
    # Send it again as a NEW message (QoS 1: at least once holds), QoS 2 also past
    # PUBREC.  A QoS 2 one may then arrive twice: from a server that delivers at
    # PUBLISH, and from any server once our PUBREL went out (Mosquitto delivers at
    # PUBREL, and we cannot know whether it arrived: the error's `released`, True
    # once PUBREC came).
    # Exactly-once needs the server to keep the session (persistence).
    from .session_lost import SessionLost

    if not isinstance(ev.error, SessionLost):
        return False
    pids = c._wpid
    w = -1
    for i in range(len(pids)):
        if pids[i] == ev.packet_id and c._wpub[i]:
            w = i
            break
    p = ev.packet
    if w >= 0:
        pids[w] = 0  # no packet id until the drainer publishes it again
    if not c._q.put_front(p.topic, p.payload, p.qos, p.retain, p.props,
                          monotonic_ms(), w) and w >= 0:
        _L.finish(c, w, None, MQTTError("session lost and offline queue full"))
    c._qev.set()
    return True


def start(c):
    # Called by the supervisor once the connection is up and restored.
    t = c._t
    if t is not None and c._q is not None:
        import asyncio

        c._drain_t = t
        c._tasks = c._tasks + (asyncio.create_task(_drainer(c, t)),)


async def _room(c):
    # Wait for transmit room: behind a resend backlog that only acks can
    # move (send quota), for an ack; else for a writer turn.
    if c._s._inflight[_F_QUEUED]:
        await c._changed.wait()
    else:
        await _L.flush(c)


def publish(c, topic, payload, qos, retain, props, alias):
    # Client.publish() supervised.  A QoS other than 0-2, or a payload no transmit
    # buffer of tx_size holds, raises here.  QoS 1/2 with a free slot: into the offline queue
    # now, with the slot detached (no packet id until the drainer publishes it): the
    # caller awaits its Signal, and a refusal (queue full under REFUSE, a message over
    # max_bytes) is the awaitable's error, as it is from the coroutine.  QoS 0: straight
    # out when the link is up and nothing waits in the offline queue, else a copy into
    # the queue.  Else (no slot, a full transmit buffer) a coroutine.
    if qos not in (0, 1, 2):  # at the call, as the session refuses it unsupervised
        raise ValueError("QoS must be 0, 1 or 2")
    cap = c._s._tx[_TX_CAP]
    if len(payload) + 5 > cap:  # can never fit the transmit buffer, whatever its topic
        raise MQTTError("packet exceeds tx_size %d" % cap)  # (an alias): said at the call
    q = c._q
    if qos:
        w = -1 if c._nwait else _L.take(c, 1, _DETACHED)  # (callers waiting go first)
        if w < 0:  # (slots held by queued entries that expired meanwhile free now)
            q.age(monotonic_ms())
            return _L.request(c, None, topic, _own(payload), qos, retain, props, alias)
        aw = c._wev[w].wait()
        try:
            # (on a live link it waits for send quota or transmit room, not for a
            # link: the queue's limits, an outage's, do not drop it)
            q.put(topic, _own(payload), qos, retain, props, monotonic_ms(), w, alias,
                  c._t is not None)
            c._qev.set()
        except Exception as e:  # refused; or a MemoryError: the slot must not leak
            _L.finish(c, w, None, e)
        return aw
    if c._drain_t is c._t and c._t is not None and not q.n:
        try:
            c._s.publish(topic, payload, 0, retain, props, alias)
            c.msgs_out = (c.msgs_out + 1) & _COUNT_MASK
            c._wake.set()  # the writer's next turn sends it, batched
            return DONE
        except _S.BufferFull:
            return publish_q0(c, topic, _own(payload), retain, props, alias)
        except MQTTError:
            if c._t is not None:
                raise  # not a lost link: the message itself is refused
    q.put(topic, _own(payload), 0, retain, props, monotonic_ms(), -1, alias)
    c._qev.set()
    return DONE


def _own(payload):
    # What waits (queued, or for room) is a copy of a payload the caller may change
    # meanwhile (a reused bytearray, a handler's message view: it went out changed)
    return payload if isinstance(payload, (bytes, str)) else bytes(payload)


async def publish_q0(c, topic, payload, retain, props, alias):
    # Supervised QoS 0: straight out when the link is up and nothing waits in
    # the offline queue; else (or if the link goes meanwhile) a copy is queued
    # and the call returns.
    q = c._q
    s = c._s
    if c._drain_t is c._t and c._t is not None and not q.n:
        done = False
        try:
            while True:
                try:
                    s.publish(topic, payload, 0, retain, props, alias)
                    break
                except _S.BufferFull:
                    await _room(c)
            done = True
            c.msgs_out = (c.msgs_out + 1) & _COUNT_MASK
            c._wake.set()  # the writer's next turn sends it, batched
            return None
        except MQTTError:
            if done:
                return None  # QoS 0 was handed over: at most once
            if c._t is not None:
                raise  # not a lost link: the message itself is refused
    q.put(topic, _own(payload), 0, retain, props, monotonic_ms(), -1, alias)
    c._qev.set()
    return None


async def _drainer(c, t):
    # Hand queued publishes to the session, oldest first, as the server's
    # Receive Maximum [MQTT-3.3.4-7] and our in-flight slots allow.
    s = c._s
    q = c._q
    try:
        while c._t is t:
            c._qev.clear()
            if not q.n:
                await c._qev.wait()
                continue
            i = q.head
            f = q.flags[i]
            qos = f & 3
            if qos and (not s.send_quota() or not _L.room(s)):
                await c._changed.wait()  # pulsed when an ack frees a slot
                continue
            now = monotonic_ms()
            if q.expired_at(i, now):  # [MQTT-3.3.2-5]
                q.expired += 1
                w = q.pop()
                if w >= 0:
                    q.on_drop(w, 1)
                continue
            try:
                pid = s.publish(q.topic[i], q.payload[i], qos, f & 4 != 0,
                                q.props_at(i, now), not f & 8)
            except _S.BufferFull:
                await _room(c)
                continue
            except (MQTTError, ValueError, MemoryError) as e:
                if c._t is not t or not s.is_connected:
                    return
                # this message can never go, or the heap has no block for its packet
                # now (a MemoryError: dropping the link would not make one, and the
                # same packet came first again at every reconnect): tell its caller
                w = q.pop()
                if w >= 0:
                    _L.finish(c, w, None, e)
                else:  # QoS 0 (or the birth): nobody to tell, counted
                    q.drops += 1
                continue
            w = q.pop()
            c.msgs_out = (c.msgs_out + 1) & _COUNT_MASK
            if w < 0 < qos:  # no caller (a Supervisor's birth): a slot of its own keeps
                try:  # its outcome, the queue's `outcome` (none free: not kept)
                    w = _L.take(c, 1, _DETACHED)
                except MemoryError:
                    pass
                q.outcome = c._wev[w] if w >= 0 else None
            if w >= 0:
                c._wpid[w] = pid
            c._wake.set()
    except BaseException as e:  # (a Ctrl-C too: see mqtt5.link reader())
        if c._t is t:
            _L.close(c, e)
        if not isinstance(e, Exception):
            raise
