"""Request/response over MQTT v5 (spec 4.10): a Requester and a Responder, both
built on the public `mqtt5.Client` API only. Loaded lazily (`mqtt5.Requester`).

    req = Requester(client)                      # after client.connect()
    reply = await req.request("svc/echo", b"hi", timeout=2)
    reply.payload, reply.correlation_data        # bytes (an independent copy)

    rsp = Responder(client, "svc/echo", lambda m: b"echo:" + bytes(m.payload))
    await rsp.start()

`client` may also be a mqtt5 Supervisor: the subscription is then made through it
and restored after a reconnect without a session.

A request is a PUBLISH carrying a Response Topic and Correlation Data (spec
3.3.2.3.5, 3.3.2.3.6; the Response Topic is a Topic Name [MQTT-3.3.2-14]). The
Requester subscribes to its response topic once; the topic comes from the
server's Response Information when it sent one (CONNACK, spec 3.2.2.3.15; ask for
it with ``client.session.request_response_info = True`` before connect), else
``reply/<client id>``, with ``/2``, ``/3``, ... for further Requesters of the client
(the router keeps one handler a filter). Correlation Data is 8 bytes: a per-Requester random prefix
and a counter, so replies to another Requester, or to an earlier boot, never
match. Pending requests live in ``max_pending`` fixed slots (waiting callers queue
for a slot); a reply that matches none (late, after its request timed out) is
dropped and counted in ``dropped``. A request expires at the broker when its
timeout ends (Message Expiry Interval, spec 3.3.2.3.3): one held for a responder
that is offline is not run later.

The Responder answers each request on its Response Topic with the same Correlation
Data (spec 4.10.2). It remembers the last ``remember`` answered requests (topic,
Response Topic, Correlation Data, a CRC-32 of the payload) from when it admits them: a
repeated request (the requester retried) is answered again with the remembered reply,
or, while the first is still being handled, left to that first answer; the handler is
not run twice. A request whose Response Topic is no Topic Name (empty, or with a
wildcard [MQTT-3.3.2-14]) or holds a code point we may not send (spec 1.5.4) cannot
be answered: it is ignored like one without, and the
connection stays up (the client does not treat it as a Protocol Error, so a broker
that forwards one cannot wedge a node that resumes its session).

Memory (unix port, .mpy): the module about 5 KB once imported, a Requester about
600 B (4 slots), a Responder about 400 B.
"""

import asyncio

from ._compat import Signal, ticks_diff, ticks_ms
from .errors import MQTTError
from .wire import to_utf8, topic_name_ok, validate_topic

_CID_LEN = const(8)
_FREE = const(0)
_WAITING = const(1)
_DONE = const(2)


def _left(timeout, t0):
    # seconds left of `timeout` since ticks_ms() t0 (a little, not 0, once past)
    return max(timeout - ticks_diff(ticks_ms(), t0) / 1000, 0.001)


def _nonce():
    # 4 bytes that differ between Requesters and between boots
    try:
        import os
        return os.urandom(4)
    except Exception:  # a board without os.urandom: random + clock
        import random
        v = random.getrandbits(16) << 16 | (ticks_ms() & 0xFFFF)
        return bytes((v >> 24, (v >> 16) & 255, (v >> 8) & 255, v & 255))


def _same(a, b):
    # bytes-like equality without copying a memoryview (no == on MicroPython views)
    n = len(a)
    if n != len(b):
        return False
    for i in range(n):
        if a[i] != b[i]:
            return False
    return True


def _pair(client):
    # (the object to subscribe through, the Client): a Supervisor subscribes so
    # that the subscription is restored after a reconnect; it publishes through
    # its client (queued while offline)
    c = getattr(client, "client", None)
    return (client, c) if c is not None else (client, client)


class Requester:
    """Send requests and await their replies through `client` (a connected
    mqtt5.Client, or a mqtt5 Supervisor: its subscription survives reconnects).

    Requester(client, response_topic=None, qos=1, max_pending=4).
    `response_topic`: where replies come; default derived from the server's
    Response Information, else ``reply/<client id>``; a further Requester on the
    same client takes ``.../2``, ``.../3``, ... (a topic given that another handler
    already routes is refused: MQTTError). Attributes: response_topic (once
    started), dropped (replies that matched no pending request).
    """

    def __init__(self, client, response_topic=None, qos=1, max_pending=4):
        if response_topic is not None:
            validate_topic(response_topic)
        if max_pending < 1 or qos not in (0, 1, 2):
            raise ValueError("Requester: max_pending must be >= 1, qos 0, 1 or 2")
        self._subs, self.client = _pair(client)
        self.response_topic = response_topic
        self.qos = qos
        self.dropped = 0
        self._prefix = _nonce()
        self._count = 0
        self._cid = [None] * max_pending  # correlation data of each slot
        self._state = bytearray(max_pending)
        self._reply = [None] * max_pending
        self._ev = Signal()  # pulsed when a reply arrives or a slot frees
        self._started = False
        self._starting = False

    def _topic(self):
        s = self.client.session
        ri = getattr(s, "response_information", None)
        if ri:
            return ri + ("" if ri.endswith("/") else "/") + "reply"
        cid = s.client_id or getattr(s, "assigned_client_id", None)
        if not cid:
            raise MQTTError("no client id for a response topic: pass response_topic=")
        return "reply/" + cid

    def _free(self, t, own):
        # `t`, or (a default topic) the first of t/2, t/3, ... no handler routes yet:
        # one handler per filter, so a second Requester on t would take its replies
        r = getattr(self.client, "_router", None)  # (a Client: None before a subscribe)
        taken = r.filters() if r is not None else ()
        n = 1
        base = t
        while t in taken:
            if own:
                raise MQTTError("Requester: %s already has a handler (another Requester's "
                                "response topic?)" % t)
            n += 1
            t = "%s/%d" % (base, n)
        return t

    async def start(self):
        """Subscribe to the response topic (done once; request() calls it)."""
        while self._starting:
            await self._ev.wait()
        if self._started:
            return
        self._starting = True
        try:
            t = self.response_topic
            own = t is not None
            if not own:
                t = self._topic()
                validate_topic(t)
            t = self._free(t, own)
            await self._subs.subscribe(t, qos=self.qos, handler=self._on_reply)
            self.response_topic = t
            self._started = True
        finally:
            self._starting = False
            self._ev.pulse()

    async def stop(self):
        """Unsubscribe the response topic; pending requests then time out."""
        if self._started:
            self._started = False
            await self._subs.unsubscribe(self.response_topic)

    def _on_reply(self, m):
        cd = m.correlation_data
        if cd is not None:
            st = self._state
            for i in range(len(st)):
                if st[i] == _WAITING and _same(self._cid[i], cd):
                    self._reply[i] = m.copy()
                    st[i] = _DONE
                    self._ev.pulse()
                    return
        self.dropped += 1  # late (timed out), duplicate, or not ours

    async def _take(self, timeout, t0):
        # A free slot, waiting for one until `timeout` s after ticks_ms() t0.
        st = self._state
        while True:
            for i in range(len(st)):
                if st[i] == _FREE:
                    st[i] = _WAITING
                    return i
            await asyncio.wait_for(self._freed(), _left(timeout, t0))

    async def _freed(self):
        # Returns once a slot is free. It looks before it parks: wait_for runs it
        # as a task that starts later, and a slot freed (the Signal pulsed) before
        # then would otherwise wake nobody (a lost wake-up, seen on both runtimes
        # whenever callers queue for a slot).
        st = self._state
        while True:
            for i in range(len(st)):
                if st[i] == _FREE:
                    return
            await self._ev.wait()

    def _next_cid(self):
        self._count = (self._count + 1) & 0xFFFFFFFF
        c = self._count
        return self._prefix + bytes((c >> 24, (c >> 16) & 255, (c >> 8) & 255, c & 255))

    async def request(self, topic, payload, timeout=5, qos=None, **props):
        """Publish `payload` to `topic` as a request and return the reply (a
        Message copy: payload and correlation_data are bytes).

        `timeout` (s) covers waiting for a pending slot, publish and reply:
        asyncio.TimeoutError after it, and a reply arriving later is dropped.
        `qos` defaults to the Requester's.
        Other keyword arguments go to Client.publish (content_type,
        user_properties ...). The request's ``message_expiry_interval`` is
        `timeout` rounded up to whole seconds unless given (None: none), so a
        request the broker still holds for an offline responder when the caller
        gives up expires there, and is not run when the responder comes back.
        MQTTError from publish (e.g. not connected).
        """
        t0 = ticks_ms()
        if "message_expiry_interval" not in props and timeout < 0xFFFFFFFF:  # [MQTT-3.3.2-5]
            props["message_expiry_interval"] = max(1, int(-(-timeout // 1)))
        if not self._started:  # (its subscribe, within the timeout too)
            await asyncio.wait_for(self.start(), timeout)
        i = await self._take(timeout, t0)
        try:
            cid = self._next_cid()
            self._cid[i] = cid
            await asyncio.wait_for(self._exchange(i, topic, payload, qos, props),
                                   _left(timeout, t0))
            return self._reply[i]
        finally:
            self._cid[i] = self._reply[i] = None
            self._state[i] = _FREE
            self._ev.pulse()

    async def _exchange(self, i, topic, payload, qos, props):
        await self.client.publish(topic, payload, self.qos if qos is None else qos,
                                  response_topic=self.response_topic,
                                  correlation_data=self._cid[i], **props)
        while self._state[i] != _DONE:
            await self._ev.wait()


class Responder:
    """Answer requests arriving on `filt` (a topic filter, shared subscriptions
    allowed) with `handler(msg)`'s return value; `client` as for Requester.

    Responder(client, filt, handler, qos=1, remember=8, max_busy=8, max_waiting=0,
              keep=None, **answer_props).
    handler(msg) -> payload (bytes or str), or None for no answer; plain function
    or async def; it gets an independent copy of the request. The answer goes to
    the request's Response Topic with the same Correlation Data (spec 4.10.2), at
    the request's QoS, with ``answer_props`` (Client.publish keywords, e.g.
    content_type="application/json", payload_format_indicator=1). Requests without
    a usable Response Topic (none, empty, or with a wildcard) are not handled and
    are counted in ``ignored``; at most ``max_busy`` requests are handled at once
    (each holds a task and a copy of its message until its answer is out), up to
    ``max_waiting`` more wait their turn in arrival order (each holds a copy: the
    backlog a reconnect delivers at once), and those arriving beyond that are not
    handled and are counted in ``busy``;
    ``answered`` and ``repeated`` count the others, ``failed`` the answers whose
    publish was refused (e.g. not authorized, over the server's Maximum Packet Size)
    or found no heap block for its packet (MemoryError),
    ``errors`` the requests whose handler raised or returned neither bytes, str nor
    None (no answer; shown as "mqtt5: handler error" with its traceback, as for a
    subscribe() handler).
    The last ``remember`` answers are kept: a repeat (the same topic, Response Topic,
    Correlation Data and payload) gets its answer again and the handler is not called.
    ``keep(answer)``, if given, says whether an answer is remembered for repeats:
    False for one that reports a passing failure (nothing was done), so that the
    requester's retry runs the request again instead of getting that answer back.
    """

    def __init__(self, client, filt, handler, qos=1, remember=8, max_busy=8, max_waiting=0,
                 keep=None, **answer_props):
        if max_busy < 1:
            raise ValueError("max_busy must be at least 1")
        self._subs, self.client = _pair(client)
        self.filter = filt
        self.handler = handler
        self.qos = qos
        self.max_busy = max_busy
        self.max_waiting = max_waiting
        self._waiting = []  # (message copy, response topic, memory entry, again)
        self.keep = keep
        self.props = answer_props
        self.answered = 0
        self.repeated = 0
        self.ignored = 0
        self.busy = 0
        self.failed = 0
        self.errors = 0
        self._running = 0
        self._seen = [None] * remember  # [topic, response topic, correlation data,
        # answer or None while running, the payload's CRC-32]
        self._next = 0

    async def start(self):
        """Subscribe to the request filter; returns the granted QoS.  Retain Handling
        2: a request someone left retained is not delivered from the broker's
        store (it would run again at every subscribe, a retained reboot at every
        boot) [MQTT-3.3.1-11]; sent live with the retain flag, it runs once."""
        return await self._subs.subscribe(self.filter, qos=self.qos, handler=self._on_request,
                                          retain_handling=2)

    async def stop(self):
        """Unsubscribe the request filter."""
        await self._subs.unsubscribe(self.filter)

    def _recall(self, t, rt, cd, crc):
        # a retry is the same request: topic, Response Topic, Correlation Data and
        # payload (one Correlation Data reused for another request is another request)
        for e in self._seen:
            if e is not None and e[2] == cd and e[4] == crc and e[1] == rt and e[0] == t:
                return e
        return None

    def _on_request(self, m):
        # Admission, with no task and no copy for a request that is not handled; an
        # admitted one runs as a task of its own, on a copy of the Message.
        # A retry of a request still being handled is not run again: its answer
        # comes when that run ends.
        rt = m.response_topic
        try:  # (to_utf8: ValueError for a code point we may not send, spec 1.5.4)
            ok = rt and topic_name_ok(rt) and to_utf8(rt)
        except ValueError:
            ok = False
        if not ok:  # not run: its answer could not go
            self.ignored += 1
            return None
        cd = m.correlation_data  # (a view into the receive buffer: copied if kept)
        e = crc = None
        if cd is not None and self._seen:
            from binascii import crc32  # (built in: no RAM)

            crc = crc32(m.payload) & 0x3FFFFFFF  # (a small int on 32-bit ports)
            e = self._recall(m.topic, rt, cd, crc)
        if e is not None and e[3] is None:
            self.repeated += 1
            return None
        wait = self._running >= self.max_busy
        if wait and len(self._waiting) >= self.max_waiting:
            self.busy += 1
            return None
        again = e is not None
        n = self._next
        try:  # (a MemoryError here must not keep the place for ever)
            if not again and cd is not None and self._seen:  # remembered from now on
                e = self._seen[n] = [m.topic, rt, bytes(cd), None, crc]
                self._next = (n + 1) % len(self._seen)
            job = (m.copy(), rt, e, again)
            if wait:  # its turn comes when a running one ends (_answer)
                self._waiting.append(job)
                return None
            asyncio.create_task(self._answer(*job))
        except BaseException:
            if not again and e is not None:
                e[2] = None  # forgotten: a retry is run
            raise
        self._running += 1
        return None

    def _error(self, e):
        from .message import _report  # (loaded: a request came as a message)

        self.errors += 1
        _report(e)

    async def _answer(self, m, rt, e, again):
        # one coroutine per admitted request; it frees its place however it ends
        out = None
        try:
            cd = m.correlation_data
            if again:
                self.repeated += 1
                out = e[3]
            else:
                try:
                    out = self.handler(m)
                    if out is not None and hasattr(out, "send"):
                        out = await out
                except Exception as err:  # no answer: counted and shown as a handler's
                    out = None
                    self._error(err)
                if out is None:
                    return
                if e is not None:
                    if self.keep is None or self.keep(out):
                        e[3] = out
                    else:  # forgotten: a retry runs again
                        e[2] = None
            try:
                await self.client.publish(rt, out, m.qos if m.qos < self.qos else self.qos,
                                          correlation_data=cd, **self.props)
            except (MQTTError, MemoryError):  # refused (not authorized, over the
                self.failed += 1  # server's limits), or no heap block for its packet
                return
            except Exception as err:  # the handler returned no bytes or str
                out = None  # (forgotten below: a retry runs again)
                self._error(err)
                return
            self.answered += 1
        finally:
            self._running -= 1
            if out is None and e is not None and not again:  # no answer: forget it
                e[2] = None
            if self._waiting:  # the next waiting request takes this place
                job = self._waiting.pop(0)
                try:
                    asyncio.create_task(self._answer(*job))
                    self._running += 1
                except Exception:  # no heap for its task: dropped, counted
                    self.busy += 1
                    if not job[3] and job[2] is not None:
                        job[2][2] = None
