"""Bounded offline queue of a supervised client: publishes made while the link is
down (or while earlier ones still wait), sent in order once connected.

    q = OfflineQueue(max_count=32, max_bytes=8192, policy=DROP_OLDEST)

A ring of preallocated parallel lists (topic, payload, qos, retain, props, time
queued, waiter slot); no per-message objects.  Limits: `max_count` entries and
`max_bytes` of topic + payload.  When full, DROP_OLDEST removes the oldest entry
(its QoS >= 1 caller gets an MQTTError naming the drop) and REFUSE rejects the
new publish (MQTTError to its caller); under either, a message alone over
`max_bytes` is refused so.  Each drop is counted in `drops`; messages
whose Message Expiry Interval ran out while queued are dropped too (`expired`),
the others go out with the interval reduced by the time queued [MQTT-3.3.2-6].

Entries re-queued after a session loss (`put_front`) bypass the limits: their
callers are already waiting and were counted once.  So do QoS >= 1 publishes put on
a live link by callers holding a waiter slot (`put(..., live=True)`: they wait for
send quota or transmit room, not for a link): the waiter slots bound them, they are
counted apart, and DROP_OLDEST never takes one.

Times are ticks_ms(), which ticks_diff measures only up to half its period (6.2 days
on 32-bit ports): the Supervisor waits through pause() and until_closed(), which
call age() at least hourly; it moves what an entry waited past a day into its
Message Expiry Interval.
"""

from ._compat import sleep_ms, ticks_add, ticks_diff, ticks_ms

DROP_OLDEST = 0
REFUSE = 1

_EXPIRY = const(0x02)  # Message Expiry Interval property id (spec 3.3.2.3.3)
_HOUR_MS = const(3600000)
_LIVE = const(16)  # flags: put() on a live link by a caller with a waiter slot


class OfflineQueue:
    """FIFO of pending publishes (see module doc)."""

    # the last QoS 1/2 entry sent with no caller (a Supervisor's birth): its waiter
    # slot's Signal (mqtt5.drain), whose `rc` or `err` is set once its flow ended;
    # None before (or with no slot free). A class default: no instance slot until set
    outcome = None

    def __init__(self, max_count=32, max_bytes=8192, policy=DROP_OLDEST, spare=16):
        if max_count < 1 or max_bytes < 1:
            raise ValueError("offline queue needs max_count >= 1 and max_bytes >= 1")
        if policy not in (DROP_OLDEST, REFUSE):
            raise ValueError("policy: DROP_OLDEST or REFUSE")
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.policy = policy
        n = max_count + spare  # spare: room for put_front() of lost in-flight ones
        self.size = n
        self.topic = [None] * n
        self.payload = [None] * n
        self.props = [None] * n
        self.flags = bytearray(n)  # qos | retain << 2 | 8: no topic alias
        self.t = [0] * n  # ticks_ms() when queued (see age())
        self.w = [-1] * n  # waiter slot of a QoS >= 1 caller, else -1
        self.head = 0
        self.n = 0
        self.bytes = 0
        self.live_n = 0  # live entries (put()), of n, and their bytes
        self.live_bytes = 0
        self.drops = 0  # dropped by the limits (either policy), or refused by the server
        # when their turn came with no caller to tell (a QoS 0 one: mqtt5.drain)
        self.expired = 0  # dropped because their Message Expiry Interval ran out
        self._front = 0  # put_front() insert position since the last mark_front()
        # on_drop(w, expired): a QoS >= 1 entry was dropped (expired 0), or its Message
        # Expiry Interval ran out (1: age()); set by the client (mqtt5.drain)
        self.on_drop = None

    def _cost(self, topic, payload):
        return len(topic) + len(payload)

    def put(self, topic, payload, qos, retain, props, now_ms, w=-1, alias=True, live=False):
        """Append one publish (`alias` False: publish() was given topic_alias=False).
        Under DROP_OLDEST, entries dropped to make room call
        on_drop(waiter slot, 0) for their QoS >= 1 callers; under REFUSE a full queue
        raises MQTTError; under either, so does a message alone over max_bytes.  `live`: made on a
        live link by a caller holding a waiter slot `w` (it waits here for send quota
        or transmit room, not for a link): the limits, an outage's, pass it by, as
        put_front()'s; the waiter slots bound those.  Payloads are kept as given:
        bytes or str (mqtt5.drain and mqtt5.link copy a caller's mutable one)."""
        cost = self._cost(topic, payload)
        if live and w >= 0 and self.n < self.size:  # counted apart, never dropped
            i = self._append(topic, payload, qos, retain, props, now_ms, w, alias, cost)
            self.flags[i] |= _LIVE
            self.live_n += 1
            self.live_bytes += cost
            return
        if cost > self.max_bytes:
            self.drops += 1
            raise _full("message of %d bytes over the queue's max_bytes" % cost)
        purged = False
        while (self.n - self.live_n >= self.max_count
               or self.bytes - self.live_bytes + cost > self.max_bytes):
            if not purged:  # the expired ones go first, neither refused nor dropped for
                purged = True  # (a full queue of them refused every new one)
                if self._purge(now_ms):
                    continue
            if self.policy == REFUSE:
                self.drops += 1
                raise _full("offline queue full (%d messages, %d bytes): publish refused"
                            % (self.n - self.live_n, self.bytes - self.live_bytes))
            d = self._drop_oldest()
            self.drops += 1
            if d >= 0 and self.on_drop is not None:
                self.on_drop(d, 0)
        self._append(topic, payload, qos, retain, props, now_ms, w, alias, cost)

    def _append(self, topic, payload, qos, retain, props, now_ms, w, alias, cost):
        i = (self.head + self.n) % self.size
        self._set(i, topic, payload, qos, retain, props, now_ms, w, cost)
        if not alias:
            self.flags[i] |= 8  # (the drainer sends the full topic name)
        self.n += 1
        return i

    def _purge(self, now_ms):
        # The entries whose Message Expiry Interval ran out, but live ones (a caller
        # holding a slot waits for them), out of the ring in one pass, the others
        # closing up in order; counted in `expired`, a caller still holding a slot told
        # (on_drop(w, 1)). Returns how many went.
        size, h, n = self.size, self.head, self.n
        j = front = 0
        for k in range(n):
            i = (h + k) % size
            if not self.flags[i] & _LIVE and self.expired_at(i, now_ms):
                self.bytes -= self._cost(self.topic[i], self.payload[i])
                self.expired += 1
                if self.w[i] >= 0 and self.on_drop is not None:
                    self.on_drop(self.w[i], 1)
                continue
            front += k < self._front  # (a put_front() run's, still at the head)
            if j != k:
                self._move(i, (h + j) % size)
            j += 1
        for k in range(j, n):  # the places freed, at the tail
            i = (h + k) % size
            self.topic[i] = self.payload[i] = self.props[i] = None
            self.w[i] = -1
            self.flags[i] = 0
        self.n = j
        self._front = front
        return n - j

    def _drop_oldest(self):
        # DROP_OLDEST: the oldest entry that is not live (put()); the live ones before
        # it move up a place. Returns its waiter slot (-1: none). (A put_front() run
        # is never live and sits at the head: it is popped as before.)
        size = self.size
        k = 0
        while self.flags[(self.head + k) % size] & _LIVE:  # (the limits count only
            k += 1                                          # entries that are not)
        if not k:
            return self.pop()
        i = (self.head + k) % size
        w = self.w[i]
        self.bytes -= self._cost(self.topic[i], self.payload[i])
        for m in range(k, 0, -1):
            self._move((self.head + m - 1) % size, (self.head + m) % size)
        h = self.head
        self.topic[h] = self.payload[h] = self.props[h] = None
        self.w[h] = -1
        self.flags[h] = 0
        self.head = (h + 1) % size
        self.n -= 1
        return w

    def mark_front(self):
        """Start a run of put_front() calls: they keep their relative order."""
        self._front = 0

    def put_front(self, topic, payload, qos, retain, props, now_ms, w=-1):
        """Insert before everything queued since mark_front(), after the earlier
        put_front() entries of the same run (a lost in-flight message goes out
        again before newer ones, in its original order).  Ignores the limits;
        False when the ring is completely full (the message is then lost)."""
        if self.n >= self.size:
            return False
        size = self.size
        k = self._front
        self.head = (self.head - 1) % size
        for j in range(k):  # shift the k run entries one step towards the head
            a = (self.head + j) % size
            b = (a + 1) % size
            self._move(b, a)
        i = (self.head + k) % size
        self._set(i, topic, payload, qos, retain, props, now_ms, w,
                  self._cost(topic, payload))
        self.n += 1
        self._front = k + 1
        return True

    def _set(self, i, topic, payload, qos, retain, props, now_ms, w, cost):
        self.topic[i], self.payload[i], self.props[i] = topic, payload, props
        self.flags[i] = qos | (4 if retain else 0)
        self.t[i], self.w[i] = now_ms, w
        self.bytes += cost

    def _move(self, src, dst):
        for a in (self.topic, self.payload, self.props, self.flags, self.t, self.w):
            a[dst] = a[src]

    def pop(self):
        """Remove the oldest entry; returns its waiter slot (-1: none)."""
        i = self.head
        w = self.w[i]
        cost = self._cost(self.topic[i], self.payload[i])
        self.bytes -= cost
        if self.flags[i] & _LIVE:
            self.flags[i] = 0
            self.live_n -= 1
            self.live_bytes -= cost
        self.topic[i] = self.payload[i] = self.props[i] = None
        self.w[i] = -1
        self.head = (i + 1) % self.size
        self.n -= 1
        if self._front:
            self._front -= 1
        return w

    def props_at(self, i, now_ms):
        """Props to send entry i with: Message Expiry Interval reduced by the whole
        seconds it waited [MQTT-3.3.2-6]; None when it expired meanwhile."""
        p = self.props[i]
        if p is None or _EXPIRY not in p:
            return p
        waited = ticks_diff(now_ms, self.t[i]) // 1000
        left = p[_EXPIRY] - waited
        if left <= 0:
            return None
        if waited <= 0:
            return p
        p = dict(p)  # rare path: a message with an expiry that waited >= 1 s
        p[_EXPIRY] = left
        return p

    def age(self, now_ms):
        """Entries with a Message Expiry Interval: one that ran out tells its QoS >= 1
        caller now (on_drop(w, 1)), not when the link is back, and its waiter slot
        frees (the entry stays until its turn, which drops and counts it: `expired`;
        a live one is live no more: with no caller holding a slot for it, the limits
        count it, so that the entries left live stay within the slots, and the ring
        within its size); one that waited a day or more has the whole seconds waited
        taken off the interval, and its time restarts."""
        for k in range(self.n):
            i = (self.head + k) % self.size
            p = self.props[i]
            if p is None or _EXPIRY not in p:
                continue
            s = ticks_diff(now_ms, self.t[i]) // 1000
            w = self.w[i]
            if w >= 0 and s >= p[_EXPIRY]:
                self.w[i] = -1
                if self.flags[i] & _LIVE:
                    self.flags[i] &= ~_LIVE
                    self.live_n -= 1
                    self.live_bytes -= self._cost(self.topic[i], self.payload[i])
                self.on_drop(w, 1)
            if s >= 86400:
                p = self.props[i] = dict(p)  # (the caller's dict stays as it was)
                p[_EXPIRY] = max(0, p[_EXPIRY] - s)
                self.t[i] = ticks_add(self.t[i], s * 1000)

    def expired_at(self, i, now_ms):
        """True when entry i's Message Expiry Interval ran out while queued."""
        p = self.props[i]
        return p is not None and _EXPIRY in p and \
            ticks_diff(now_ms, self.t[i]) // 1000 >= p[_EXPIRY]


def _full(msg):
    from .errors import MQTTError
    e = MQTTError(msg)
    e.reason_code = 0x97  # the local analogue of Quota exceeded
    return e


async def pause(q, ms):
    """sleep_ms(ms) in pieces of at most an hour (one of 2^29 ms or more overflows
    on 32-bit ports), with q.age() after each."""
    while ms > 0:
        n = min(ms, _HOUR_MS)
        await sleep_ms(n)
        ms -= n
        q.age(ticks_ms())


async def until_closed(q, c):
    """(what ended client c's connection, how many ms it lasted), with q.age() every
    hour meanwhile."""
    ms, at = 0, ticks_ms()
    while not await c._ended_within(_HOUR_MS):  # (mqtt5.link: no asyncio.wait_for)
        now = ticks_ms()
        ms += ticks_diff(now, at)  # (past 2^30 a big int on 32-bit: once an hour)
        at = now
        q.age(now)
    return c.error, ms + ticks_diff(ticks_ms(), at)
