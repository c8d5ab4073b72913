"""Connection supervisor: keeps a Client connected for the life of the program.

    client = Client("node-1", keepalive=30, session_expiry=3600)
    sup = Supervisor(client, ["mqtt://a:1883", "mqtt://b:1883"])
    sup.start()                                   # background task
    await sup.subscribe("cmd/#", qos=1, handler=on_cmd)   # restored after reconnects
    await client.publish("t", b"x", qos=1)       # completes once delivered, whenever

- Exponential backoff with full jitter between attempts (mqtt5.backoff); the
  attempt count resets once a connection has stayed up for `stable_ms`.
- CONNACK / DISCONNECT reason codes are classified (`classify`): fatal ones
  (FATAL_CODES) stop retrying, or wait `fatal_backoff_ms` when that is set;
  transient ones back off; 0x9C/0x9D with a Server Reference try the referenced
  server next (spec 4.11), 0x9D (moved) also replaces the list URL; after 3
  redirects in a row it backs off. A reference that does not parse, changes the
  scheme (either way: nothing falls back to plain TCP), or goes over plain TCP to
  another host while the client has credentials is not followed: the refusal backs
  off.
- Several broker URLs, of one scheme (nothing falls back to plain TCP), in turn.
- Session: Clean Start only on the very first connect (`clean_start_first`), then
  clean_start=False with the client's `session_expiry` (0: the server keeps nothing
  [MQTT-3.1.2-23]). `clean_start_first=False` resumes a session this Client holds;
  a server that has one for a Client that holds none (a new one) is refused with
  0x82 [MQTT-3.2.2-4], and the next attempt starts clean. Session Present 1: the
  session resends unacknowledged PUBLISH (DUP) and PUBREL in order [MQTT-4.4.0-1];
  0: the supervisor's subscriptions are restored, then in-flight messages go out
  again as new ones, then the offline queue. QoS 1 stays at least once; a QoS 2
  message short of PUBCOMP when the server lost the session is sent again (exactly
  once needs a broker that persists).
- While supervised, `client.publish` never fails for a lost link: publishes are
  kept in a bounded offline queue (mqtt5.offline; QoS 0 copied and returned at
  once, QoS 1/2 callers wait for the ack across reconnects).
- Dead links are found by keep alive (1.5 x keep alive, spec 3.1.2.10); a connect's
  TCP (or TLS) and its CONNACK are each bounded by the client's connect_timeout_ms
  (the DNS lookup blocks, unbounded, on MicroPython).
- Observable: `state` (DOWN/CONNECTING/UP/STOPPED), `reason` (UP: None, or an
  MQTTError for a remembered subscription, or an unsubscribe made while down, the
  server refused), `retry_ms` (DOWN:
  the wait before the next try, known when on_state hears DOWN), `session_present`,
  `on_state(sup, state, reason)` callback and `stats` (Stats).
"""

import asyncio

from ._compat import Signal, monotonic_ms, sleep_ms
import mqtt5.backoff as _b
from .errors import MQTTError
import mqtt5.offline as _off

# supervisor states (public)
DOWN = 0
CONNECTING = 1
UP = 2
STOPPED = 3  # stopped by stop() or by a fatal refusal without fatal_backoff_ms

_MAX_HOPS = const(3)  # redirects followed in a row before backing off


def __getattr__(name):
    # backoff's and the offline queue's public names (classify, FATAL, DROP_OLDEST ...),
    # resolved on use as this module's: the node's module dict keeps none of them
    try:
        return getattr(_b, name)
    except AttributeError:
        return getattr(_off, name)


class Stats:
    """Health counters of a supervised client, as attributes: connects (CONNACK
    0x00), reconnects, failures / links_lost ({reason_key: count} of failed attempts /
    ended links), last_up_ms; ``as_dict()`` adds the client's msgs_in, msgs_out,
    bytes_in, bytes_out and the offline queue's queue_drops, queue_expired, queued
    (a reason key that is a code as "0xNN" text)."""

    def __init__(self, client, queue):
        self._c, self._q = client, queue
        self.connects = self.reconnects = self.last_up_ms = 0
        self.failures, self.links_lost = {}, {}

    def as_dict(self):
        c, q = self._c, self._q
        keys = lambda d: {("0x%02X" % k if isinstance(k, int) else k): v  # noqa: E731
                          for k, v in d.items()}  # (a reason code's key as text)
        return {"connects": self.connects, "reconnects": self.reconnects,
                "failures": keys(self.failures),
                "links_lost": keys(self.links_lost), "last_up_ms": self.last_up_ms,
                "msgs_in": c.msgs_in, "msgs_out": c.msgs_out, "bytes_in": c.bytes_in,
                "bytes_out": c.bytes_out, "queue_drops": q.drops,
                "queue_expired": q.expired, "queued": q.n}


def _stopped(why):  # the error of callers a stopped supervisor will not serve
    return MQTTError("supervisor stopped" + (": %s" % why if why else ""))


def _count(d, key):
    d[key] = d.get(key, 0) + 1


class Supervisor:
    """Keeps `client` connected to one of `urls` until `stop()`.

    Supervisor(client, urls, base_ms=1000, factor=2, cap_ms=120000,
    stable_ms=60000, fatal_backoff_ms=None, clean_start_first=True,
    on_state=None, rand=None, queue_count=32, queue_bytes=8192,
    queue_policy=DROP_OLDEST, birth=None)

    `rand`: object with random() in [0, 1) for the jitter (default: the `random`
    module). `fatal_backoff_ms`: None stops on a fatal refusal, else the wait
    before trying again (e.g. an hour, for credentials fixed later).  queue_*:
    the offline queue (mqtt5.offline: DROP_OLDEST or REFUSE).  `birth`: the Will's
    counterpart, (topic, payload, qos, retain) sent first on every link (after
    messages the session lost in flight), ahead of publishes made while down.
    """

    def __init__(self, client, urls, base_ms=_b.BASE_MS, factor=_b.FACTOR, cap_ms=_b.CAP_MS,
                 stable_ms=60000, fatal_backoff_ms=None, clean_start_first=True,
                 on_state=None, rand=None, queue_count=32, queue_bytes=8192,
                 queue_policy=_off.DROP_OLDEST, birth=None):
        if isinstance(urls, str):
            urls = [urls]
        if not urls:
            raise ValueError("no broker URL")
        from .transport import parse_url  # (no name kept by the module's dict)

        schemes = [parse_url(u)[0] for u in urls]  # a bad URL raises here, not at every attempt
        if schemes.count(schemes[0]) != len(schemes):
            raise ValueError("broker URLs mix mqtt:// and mqtts://: nothing falls back "
                             "to plain TCP")
        if client._wmax < 3:  # (connect()'s slot, the one kept back, one at least)
            raise ValueError("a supervised client needs max_inflight >= 2: one in-flight "
                             "slot is kept for restoring subscriptions")
        self.client, self.urls = client, list(urls)
        self.base_ms, self.factor, self.cap_ms = base_ms, factor, cap_ms
        self.stable_ms, self.fatal_backoff_ms = stable_ms, fatal_backoff_ms
        self.clean_start_first, self.on_state, self.birth = clean_start_first, on_state, birth
        if rand is None:
            import random as rand
        self.rand = rand
        self.queue = _off.OfflineQueue(queue_count, queue_bytes, queue_policy,
                                  client._wmax)
        import mqtt5.drain as _drain  # the client's supervised half (drain.py)
        _drain.supervise(client, self.queue)
        self.state = DOWN
        self.reason = None  # why the link is down / stopped (an exception or None)
        self.retry_ms = None  # DOWN: the next try's wait (0: at once; None: stopping)
        self.url = None  # the URL of the current / last attempt
        self.session_present = False  # the broker kept our session (the last CONNACK)
        self.stats = Stats(client, self.queue)
        self._subs = []  # [filter, kwargs, acked (None: refused)] restored without a session
        self._gone = []  # filters unsubscribed while down: a kept session still has them
        self._url_i = 0
        self._redirect = None  # Server Reference to try next
        self._hops = 0  # redirects followed since the last success
        self._via_ref = False  # the current / last attempt went to a Server Reference
        self._first = True  # no connection yet: Clean Start (clean_start_first)
        self._attempt = 0
        self._task = None
        self._up = Signal()  # set while up
        self._stop = False

    # ---- public API -------------------------------------------------------------
    def start(self):
        """Start the supervising task (idempotent, also after stop()); returns it."""
        if self._task is None:
            self._stop = False
            if self.client._q is None:  # stopped before: supervise the client again
                import mqtt5.drain as _drain
                _drain.supervise(self.client, self.queue)
            self._task = asyncio.create_task(self.run())
        return self._task

    async def stop(self, reason_code=0):
        """Stop reconnecting, disconnect cleanly; callers still waiting for a
        publish get an MQTTError."""
        self._stop = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # A task MicroPython's Ctrl-C left dead (this one, or one it awaits, e.g. in
            # wait_for) never completes, and a cancel forwarded to it goes nowhere: wait
            # a second at most, not on the task itself
            for _ in range(100):
                if task.done():
                    try:
                        await task
                    except BaseException:  # CancelledError is not an Exception on CPython
                        pass
                    break
                await sleep_ms(10)
        if self.client.is_connected:
            await self.client.disconnect(reason_code)
        self._halt(None)

    def _halt(self, err):
        # Stopped for good (stop(), a fatal refusal, a bad URL or option): waiting
        # callers get an MQTTError; publish() raises as on an unsupervised client.
        self._stop = True
        import mqtt5.drain as _drain
        _drain.abandon(self.client, _stopped(err))
        self._set(STOPPED, err)
        self._up.set()  # wakes wait_up() callers, which then see STOPPED
        self._up.clear()

    async def wait_up(self, timeout_ms=None):
        """Wait until connected (and restored); asyncio.TimeoutError after timeout_ms,
        MQTTError once the supervisor has stopped."""
        if timeout_ms is None:
            await self._wait_up()
        else:
            await asyncio.wait_for(self._wait_up(), timeout_ms / 1000)

    async def _wait_up(self):
        while self.state != UP:
            if self.state == STOPPED:
                raise _stopped(self.reason)
            await self._up.wait()

    async def subscribe(self, filt, **kwargs):
        """Client.subscribe (same arguments), remembered and restored after a
        reconnect without a session (each filter on its own).  When down it is only
        remembered (returns None) and sent on the next connect; one refused now not."""
        from .router import check_subscribe, routes

        check_subscribe(filt, **kwargs)  # a bad one raises now, never at a reconnect
        names = [filt] if isinstance(filt, str) else list(filt)
        self._gone = [f for f in self._gone if f not in names]  # (kept a filter each)
        subs = [[f, kwargs, False] for f in names]
        was = self._forget(names)  # (those it replaces among them)
        self._subs += subs
        if self.state == UP:
            rc = e = None
            try:
                rc = await self.client.subscribe(filt, **kwargs)
            except (MQTTError, ValueError) as x:
                if not self.client.is_connected:
                    return None  # link lost: restored on the next connect
                e = x  # refused by the server (SUBACK >= 0x80), or over tx_size
            for i in range(len(subs)):  # acked, or not subscribed: forgotten (None),
                subs[i][2] = True  # and the one it replaced (still on the server) kept
                if e or not isinstance(rc, int) and rc[i] >= 0x80:
                    subs[i][0] = None
                    for s in was:
                        if s[0] == names[i]:
                            self._subs.append(s)
            self._forget([None])
            if e:
                raise e
            return rc
        h = kwargs.get("handler")
        if h is not None:  # handlers route from the first message
            for f in names:
                routes(self.client).add(f, h, 0)
        return None

    async def unsubscribe(self, filt):
        """Forget the filters (also some of a list subscribed together); unsubscribe
        when connected, else on the next connect if the server kept the session
        (Session Present 1).  One the server refuses (>= 0x80) stays remembered."""
        from .router import filter_list, routes

        filters = filter_list(filt, "unsubscribe")  # a bad one raises now, not later
        c = self.client
        if c.is_connected:
            try:
                rc = await c.unsubscribe(filt)
                self._forget([filters[i] for i in range(len(filters))
                              if isinstance(rc, int) or rc[i] < 0x80])
                return rc
            except MQTTError:
                if c.is_connected:
                    raise  # refused (UNSUBACK >= 0x80): still subscribed, remembered
        self._forget(filters)
        for f in filters:  # each an UNSUBSCRIBE of its own at the reconnect, once: one
            routes(c).remove(f)  # the server refuses is said by name (_restore)
            if f not in self._gone:
                self._gone.append(f)
        return None

    def _forget(self, filters):  # -> the list before
        was = self._subs
        self._subs = [s for s in was if s[0] not in filters]
        return was

    # ---- the loop ---------------------------------------------------------------
    async def run(self):
        """Connect, wait for the link to end, back off, repeat; until stop()."""
        while not self._stop:
            try:
                if not await self._link():
                    return
            except MemoryError as e:  # a full heap, wherever it struck: drop the link,
                self.client._close(e)  # and try again in a second
                self._up.clear()
                self.retry_ms = 1000
                try:  # said and counted as a link's own end says it (mqtt5.link)
                    _count(self.stats.links_lost if self.state == UP else
                           self.stats.failures, "heap")
                    e = MQTTError("connection lost: heap full: %s" % e)
                except MemoryError:
                    pass
                self._set(DOWN, e)
                await sleep_ms(1000)
        self._set(STOPPED, self.reason)

    async def _link(self):
        # One attempt, and the link it makes; False when run() must end at once.
        c = self.client
        self.url = url = self._next_url()
        self._set(CONNECTING, None)
        clean = self.clean_start_first if self._first else False
        self.queue.mark_front()  # messages the server lost go first, in order (drain.py)
        try:
            present = self.session_present = await c.connect(url, clean_start=clean)
            self._first = False  # connected once: resume from now on
            refused = await self._restore(present)  # before anything new goes out
        except Exception as e:  # refused, socket error, timeout, lost meanwhile
            c._close(e)
            _count(self.stats.failures, _b.reason_key(e))
            if not clean and "unexpected Session Present" in str(e):
                self._first = self.clean_start_first = True  # none to resume: a new
                # session next [MQTT-3.2.2-4]
            if isinstance(e, (ValueError, TypeError)):
                self._halt(e)  # a bad URL or client option: no retry can fix it
                return False
            return await self._after_failure(e)
        st = self.stats
        st.connects += 1
        if st.connects > 1:
            st.reconnects += 1
        b = self.birth
        if b is not None:  # after the lost in-flight messages, before the queue; once
            q = self.queue  # (a link lost before it went out left it queued: its
            for k in range(q.n):  # topic and payload objects, not a message that
                i = (q.head + k) % q.size  # shares only its payload, as b"1" is shared)
                if q.payload[i] is b[1] and q.topic[i] is b[0]:
                    break
            else:
                q.put_front(b[0], b[1], b[2], b[3], None, monotonic_ms())
        import mqtt5.drain as _drain
        _drain.start(c)  # lost in-flight messages first, then the offline queue
        self._set(UP, refused)
        self._up.set()
        err, up_ms = await _off.until_closed(self.queue, c)
        self._up.clear()
        st.last_up_ms = up_ms
        if up_ms >= self.stable_ms:  # that link was stable: start the backoff again,
            self._attempt = self._hops = 0  # and the redirects in a row (a server that
            # accepts, then redirects at once, counts toward _MAX_HOPS: servers that
            # send each other there made 1,000 links a second)
        if self._stop:
            return True
        _count(st.links_lost, _b.reason_key(err))
        return await self._after_failure(err)  # (DOWN, once the next try is known)

    async def _after_failure(self, err):
        # Classify and wait; False when the supervisor must stop.
        code = getattr(err, "reason_code", None)
        kind = _b.classify(code)
        s = self.client.session  # the Server Reference of the CONNACK / DISCONNECT (4.11)
        ref = _b.followed(self.url, s.server_reference, s.username is not None or
                          s.password is not None) if kind == _b.REDIRECT else None
        hop = ref and self._hops < _MAX_HOPS
        # past _MAX_HOPS redirects in a row (servers in a circle) it backs off, jittered
        # even at first: a fleet that lost one broker must not return in lock step
        ms = self.retry_ms = 0 if hop else self.fatal_backoff_ms if kind == _b.FATAL else \
            _b.delay_ms(self._attempt, self.rand, self.base_ms, self.factor, self.cap_ms)
        self._set(DOWN, err)  # (a redirect too: on_state hears why, then where to)
        if hop:
            if code == 0x9D and not self._via_ref:
                # Server moved (permanent): it replaces the URL that sent us there
                self.urls[(self._url_i - 1) % len(self.urls)] = ref
            self._redirect = ref
            self._hops += 1
            return not self._stop  # try the reference at once
        if ms is None:  # fatal, and no fatal_backoff_ms
            self._halt(err)
            return False
        await _off.pause(self.queue, ms)
        if kind != _b.FATAL:
            self._attempt += 1
            self._hops = 0
        return not self._stop

    def _next_url(self):
        self._via_ref = self._redirect is not None
        if self._via_ref:
            url, self._redirect = self._redirect, None
            return url
        url = self.urls[self._url_i % len(self.urls)]
        self._url_i += 1
        return url

    async def _restore(self, present):
        # Session Present 0: the server forgot our subscriptions [MQTT-3.2.2-5]:
        # subscribe them all again.  Present 1: only those never acknowledged
        # (also any made while this runs).  A refused filter is tried again at the
        # next connect only (the broker's ACL may have changed by then), a refused
        # unsubscribe not again, and the last refusal is returned (the UP state's reason).
        c = self.client
        for sub in self._subs:  # Present 0: none is on the server, whatever an earlier
            if not present or sub[2] is None:  # restore got; None: refused last time
                sub[2] = False
        again, refused = True, None
        while present and self._gone:  # unsubscribed while down (a failure: link lost)
            try:
                await c.unsubscribe(self._gone[0])
            except MQTTError as e:  # refused (UNSUBACK >= 0x80): said, not tried again
                if not c.is_connected:
                    raise
                refused = MQTTError("unsubscribe %s: %s" % (self._gone[0], e))
            self._gone.pop(0)
        self._gone = []
        while again:
            for sub in list(self._subs):
                if sub[2] is False:
                    try:
                        await c.subscribe(sub[0], **sub[1])
                        sub[2] = True
                    except (MQTTError, ValueError, TypeError) as e:
                        if isinstance(e, MQTTError) and not c.is_connected:
                            raise
                        refused = MQTTError("subscribe %s: %s" % (sub[0], e))  # link stays up
                        sub[2] = None
            again = [sub for sub in self._subs if sub[2] is False] != []
        return refused

    def _set(self, state, reason):
        if state == self.state and reason is self.reason:
            return
        self.state = state
        self.reason = reason
        cb = self.on_state
        if cb is not None:
            try:
                cb(self, state, reason)
            except Exception as e:  # the supervisor goes on; the bug is shown, not hidden
                try:
                    from .message import _report

                    _report(e)
                except MemoryError:  # no heap even to show it: run() must go on
                    pass
