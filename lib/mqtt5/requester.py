"""Requests over MQTT v5 (spec 4.10): the Requester, built on the public
`mqtt5.Client` API only. Loaded on use (`mqtt5.Requester`); its peer, the
Responder, is in mqtt5.responder.

    req = Requester(client)                      # after client.connect()
    reply = await req.request("svc/echo", b"hi", timeout=2)
    reply.payload, reply.correlation_data        # bytes (an independent copy)

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

Memory: the module is 2.3 KB as `.mpy` (mpy-cross -march=x86), a Requester
about 600 B on the unix port (4 slots).
"""

import asyncio

from ._compat import Signal, ticks_diff, ticks_ms
from .errors import MQTTError
from .wire import validate_topic

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
        # a Supervisor subscribes (restored after a reconnect); its client publishes
        self._subs, self.client = client, getattr(client, "client", None) or client
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
