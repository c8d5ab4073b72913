"""The asyncio MQTT v5 client (layer 3): drives the sans-IO Session over a Transport.

Same source on CPython and MicroPython asyncio. Per connection three tasks run:

- reader: readinto the session's receive buffer, feed it, dispatch events
  (messages to handlers through the Router, acks to waiting callers);
- writer: woken by any session call, writes everything queued in ONE write per
  loop turn (several publishes from one turn go out together);
- ticker: keep-alive, driven by Session.tick().

Callers waiting for CONNACK / PUBACK / PUBREC+PUBCOMP / SUBACK / UNSUBACK hold
one of `max_inflight` preallocated waiter slots (parallel lists: packet id,
result, error, done), matched by packet id; one shared Event is pulsed when
any slot resolves, so no per-call objects are allocated.
"""

import asyncio

import mqtt5.session as _S
from ._compat import const, monotonic_ms, print_exception, sleep_ms
from .errors import MQTTError
from .message import Message, app_props
from .router import Router, validate_filter, validate_topic
from .transport import open_transport

_CONNECT_PID = const(-2)
_FREE = const(-1)


class Client:
    """MQTT v5 client.

    Client(client_id="", keepalive=60, will=None, clean_start=True,
    session_expiry=0, username=None, password=None, user_properties=None,
    receive_maximum=16, max_packet_size=None, rx_size=2048, tx_size=2048,
    max_inflight=16, connect_timeout_ms=10000, on_message=None)

    `will` is a `mqtt5.Will`. `on_message(msg)` receives messages that no
    subscribe() handler routed. rx_size bounds the largest packet received,
    tx_size the largest sent; max_inflight the unacknowledged QoS 1/2 publishes,
    subscribes and unsubscribes at once (further callers wait for a slot).
    """

    def __init__(self, client_id="", keepalive=60, will=None, clean_start=True,
                 session_expiry=0, username=None, password=None, user_properties=None,
                 receive_maximum=16, max_packet_size=None, rx_size=2048, tx_size=2048,
                 max_inflight=16, connect_timeout_ms=10000, on_message=None):
        self._s = _S.Session(client_id, keepalive=keepalive, clean_start=clean_start,
                             session_expiry=session_expiry,
                             receive_maximum=receive_maximum,
                             max_packet_size=max_packet_size,
                             user_properties=user_properties, username=username,
                             password=password, will=will, rx_size=rx_size,
                             tx_size=tx_size, max_inflight=max_inflight)
        self.on_message = on_message
        self.connect_timeout_ms = connect_timeout_ms
        self.error = None  # why the last connection ended (None: clean disconnect)
        self._router = Router()
        self._msg = Message()
        self._wpid = [_FREE] * max_inflight  # waiter slots, by packet id
        self._wres = [None] * max_inflight  # reason code, or list of them
        self._werr = [None] * max_inflight
        self._wdone = bytearray(max_inflight)
        self._acked = asyncio.Event()  # pulsed when a waiter slot resolves
        self._npub = 0  # QoS 1/2 publishes awaiting their ack
        self._freed = asyncio.Event()  # pulsed when a waiter slot is released
        self._wake = asyncio.Event()  # wakes the writer
        self._flushed = asyncio.Event()  # pulsed after each writer turn
        self._wgen = 0  # completed writer turns
        self._writing = False
        self._t = None
        self._tasks = None
        self._on_msg_async = None

    # ---- public API ---------------------------------------------------------------
    @property
    def is_connected(self):
        """True while the connection is up (CONNACK received, not closed)."""
        return self._t is not None and self._s.is_connected

    @property
    def session(self):
        """The underlying sans-IO Session (server limits after CONNACK, e.g.
        session.maximum_qos, session.assigned_client_id)."""
        return self._s

    async def connect(self, url="mqtt://localhost:1883"):
        """Open the connection and wait for CONNACK; returns Session Present (bool).

        Raises MQTTError naming the reason code when the server refuses
        (e.g. "0x86 Bad User Name or Password"), OSError when the socket fails,
        asyncio.TimeoutError after connect_timeout_ms.
        """
        if self._t is not None:
            raise MQTTError("already connected")
        t = await open_transport(url, self.connect_timeout_ms)
        self._t = t
        self.error = None
        s = self._s
        s.connect(monotonic_ms())
        w = self._take(_CONNECT_PID)
        ct = asyncio.create_task
        self._tasks = (ct(self._reader(t)), ct(self._writer(t)), ct(self._ticker(t)))
        self._wake.set()
        try:
            await asyncio.wait_for(self._done(w), self.connect_timeout_ms / 1000)
        except BaseException as e:  # timeout or cancelled: tear the link down
            self._close(e)
            raise
        finally:
            err = self._werr[w]
            self._release(w)
        if err is not None:
            self._close(err)
            raise err
        return s.session_present

    async def publish(self, topic, payload, qos=0, retain=False, content_type=None,
                      payload_format_indicator=None, message_expiry_interval=None,
                      response_topic=None, correlation_data=None, user_properties=None,
                      properties=None):
        """Publish and wait until the QoS flow completes.

        QoS 0: returns None once written to the socket. QoS 1/2: returns the
        reason code of PUBACK/PUBREC (0 Success or 0x10 No matching subscribers);
        raises MQTTError naming a failure code (>= 0x80). `payload`: bytes,
        bytearray, memoryview or str (UTF-8). v5 properties as keyword
        arguments; `user_properties` is a list of (key, value) pairs;
        `properties` is a raw {property_id: value} dict merged in.
        """
        validate_topic(topic)
        if isinstance(payload, str):
            payload = payload.encode()
        props = app_props(properties, content_type, payload_format_indicator,
                          message_expiry_interval, response_topic, correlation_data,
                          user_properties)
        s = self._s
        w = -1
        if qos:
            # respect the server's Receive Maximum (known after CONNACK)
            while self._npub >= (getattr(s, "receive_maximum_out", 0) or 65535):
                if self._t is None:
                    raise self._not_connected()
                await self._freed.wait()
            w = await self._slot()
            self._npub += 1
        try:
            while True:  # inline, not _queue(): no per-publish bound method/tuple
                if self._t is None:
                    raise self._not_connected()
                try:
                    pid = s.publish(topic, payload, qos, retain, props)
                    break
                except _S.BufferFull:
                    await self._flush()
            if w < 0:
                await self._flush()
                return None
            self._wpid[w] = pid
            self._wake.set()
            await self._done(w)
            err = self._werr[w]
            rc = self._wres[w]
        finally:
            if w >= 0:
                self._npub -= 1
                self._release(w)
        if err is not None:
            raise err
        return rc

    async def subscribe(self, filt, qos=0, handler=None, no_local=False,
                        retain_as_published=False, retain_handling=0,
                        subscription_identifier=None, user_properties=None):
        """Subscribe and wait for SUBACK; returns the granted QoS / reason code.

        `filt` is a topic filter (+ and # wildcards) or a list of them (then a
        list of codes is returned, one per filter). Messages matching it go to
        `handler(msg)` (plain function or async def); without a handler, to
        `on_message`. Options: no_local (not sent our own publishes),
        retain_as_published, retain_handling (0 send retained, 1 only for a new
        subscription, 2 never). Raises MQTTError if a code is a failure (>= 0x80).
        """
        many = not isinstance(filt, str)
        filters = list(filt) if many else [filt]
        opts = (qos | (0x04 if no_local else 0) | (0x08 if retain_as_published else 0)
                | (retain_handling << 4))
        for f in filters:
            validate_filter(f)
        props = None
        if subscription_identifier is not None or user_properties:
            props = {}
            _put(props, 0x0B, subscription_identifier)
            if user_properties:
                props[0x26] = list(user_properties)
        if handler is not None:
            for f in filters:
                self._router.add(f, handler)
        codes, err = await self._request(self._s.subscribe, [(f, opts) for f in filters], props)
        if codes is None:  # no SUBACK: the link went down
            if handler is not None:
                for f in filters:
                    self._router.remove(f)
            raise err
        for i in range(len(filters)):
            if codes[i] >= 0x80:
                self._router.remove(filters[i])
        if many:
            return codes
        if err is not None:
            raise err
        return codes[0]

    async def unsubscribe(self, filt, user_properties=None):
        """Unsubscribe and wait for UNSUBACK; returns the reason code (a list for a
        list of filters). The filters' handlers are removed."""
        many = not isinstance(filt, str)
        filters = list(filt) if many else [filt]
        props = {0x26: list(user_properties)} if user_properties else None
        codes, err = await self._request(self._s.unsubscribe, filters, props)
        if codes is None:
            raise err
        for f in filters:
            self._router.remove(f)
        return codes if many else codes[0]

    async def disconnect(self, reason_code=0, session_expiry=None, reason_string=None):
        """Send DISCONNECT (0: normal, 4: disconnect with Will Message) and close.

        `session_expiry` changes the Session Expiry Interval at disconnect."""
        if self._t is None:
            return
        props = None
        if session_expiry is not None or reason_string is not None:
            props = {}
            _put(props, 0x11, session_expiry)
            _put(props, 0x1F, reason_string)
        if self._s.is_connected:
            self._s.disconnect(reason_code, props)
            try:
                await asyncio.wait_for(self._flush(), 2)
            except Exception:
                pass
        self._close(None)

    async def wait_closed(self):
        """Wait until the connection ends; returns the error that ended it (None
        after disconnect())."""
        while self._t is not None:
            await self._freed.wait()
        return self.error

    # ---- waiting callers ------------------------------------------------------------
    def _take(self, pid):
        # a free waiter slot (index) for packet id `pid`, or -1
        pids = self._wpid
        for i in range(len(pids)):
            if pids[i] == _FREE:
                pids[i] = pid
                self._wres[i] = self._werr[i] = None
                self._wdone[i] = 0
                return i
        return -1

    async def _slot(self):
        while True:
            if self._t is None:
                raise self._not_connected()
            w = self._take(0)  # packet id filled in once the session assigns it
            if w >= 0:
                return w
            await self._freed.wait()

    async def _done(self, w):
        while not self._wdone[w]:
            await self._acked.wait()

    def _release(self, w):
        self._wpid[w] = _FREE
        self._wres[w] = self._werr[w] = None
        _pulse(self._freed)

    async def _request(self, fn, items, props):
        # SUBSCRIBE / UNSUBSCRIBE: queue, wait for the ack -> (codes or None, error)
        w = await self._slot()
        try:
            self._wpid[w] = await self._queue(fn, items, props)
            await self._done(w)
            return self._wres[w], self._werr[w]
        finally:
            self._release(w)

    def _not_connected(self):
        # a new exception each time: MicroPython grows the traceback of an
        # exception object every time it is raised
        e = self.error
        return MQTTError("not connected" + (": %s" % e if e else ""))

    async def _queue(self, fn, items, props):
        # Call a session method that queues a packet; wait for room when the
        # transmit buffer is full (_S.BufferFull), then wake the writer.
        while True:
            if self._t is None:
                raise self._not_connected()
            try:
                r = fn(items, props)
                break
            except _S.BufferFull:
                await self._flush()
        self._wake.set()
        return r

    async def _flush(self):
        # Wait until a writer turn that started after this call has completed.
        target = self._wgen + (2 if self._writing else 1)
        self._wake.set()
        while self._wgen < target:
            if self._t is None:
                raise self._not_connected()
            await self._flushed.wait()

    # ---- tasks ----------------------------------------------------------------------
    async def _writer(self, t):
        s = self._s
        try:
            while self._t is t:
                await self._wake.wait()
                self._wake.clear()
                self._writing = True
                out = s.data_to_send()
                if out is not None:
                    n = len(out)
                    t.write(out)  # one write per turn; the stream keeps any rest
                    s.sent(n, monotonic_ms())
                    if t.backlog():
                        await t.drain()
                    self._pump()  # sent() may unblock events waiting for tx room
                self._writing = False
                self._wgen += 1
                _pulse(self._flushed)
        except Exception as e:
            if self._t is t:
                self._close(e)

    async def _reader(self, t):
        s = self._s
        try:
            while self._t is t:
                mv = s.recv_buffer()
                if not len(mv):  # buffer full of packets blocked on tx room
                    await self._flush()
                    self._pump()
                    continue
                n = await t.readinto(mv)
                if not n:
                    raise OSError(104)  # ECONNRESET: closed by the server
                s.received(n, monotonic_ms())
                self._pump()
                self._wake.set()
        except Exception as e:
            if self._t is t:
                self._close(e)

    async def _ticker(self, t):
        s = self._s
        # keep-alive deadlines start at CONNACK (which may also set Server Keep Alive)
        while self._t is t and not s.is_connected:
            await self._acked.wait()  # pulsed by CONNACK and by _close()
        while self._t is t:
            wait = s.tick(monotonic_ms())
            self._pump()
            self._wake.set()
            await sleep_ms(10 if wait < 10 else 60000 if wait > 60000 else wait)

    def _close(self, err):
        # End the connection: wake every waiter with `err`, stop the other tasks.
        t = self._t
        if t is None:
            return
        self._t = None
        cause = err
        if err is not None and not isinstance(err, MQTTError):
            err = MQTTError("connection lost: %r" % (err,))
        self.error = err
        s = self._s
        if s.state != _S.CLOSED:
            s.connection_lost(monotonic_ms())
        else:  # a DISCONNECT the session queued (protocol error): best effort
            out = s.data_to_send()
            if out is not None:
                try:
                    t.write(out)
                except Exception:
                    pass
        pids = self._wpid
        for i in range(len(pids)):
            if pids[i] != _FREE and not self._wdone[i]:
                # connect() reports socket errors as the OSError they are
                self._werr[i] = (cause if pids[i] == _CONNECT_PID and isinstance(cause, OSError)
                                 else err or MQTTError("disconnected"))
                self._wdone[i] = 1
        _pulse(self._acked)
        t.close()
        me = asyncio.current_task()
        for task in self._tasks or ():
            if task is not me:
                task.cancel()
        self._tasks = None
        _pulse(self._flushed)
        _pulse(self._freed)

    # ---- events ---------------------------------------------------------------------
    def _pump(self):
        s = self._s
        ev = s.next_event()
        while ev is not None:
            k = ev.kind
            if k == _S.MESSAGE:
                self._deliver(ev.packet)
            elif k == _S.PUBLISH_DONE or k == _S.SUBSCRIBED or k == _S.UNSUBSCRIBED:
                self._resolve(ev.packet_id, ev)
            elif k == _S.CONNECTED:
                self._resolve(_CONNECT_PID, ev)
            elif k == _S.ERROR:
                self._resolve(_CONNECT_PID, ev)
                self._wake.set()  # the session may have queued a DISCONNECT
                self._close(ev.error)
                return
            elif k == _S.DISCONNECTED:
                self._close(MQTTError("disconnected by server: 0x%02X" % ev.reason_code)
                            if ev.by_server else None)
                return
            elif k == _S.LINK_DEAD:
                self._close(MQTTError("keep alive timeout"))
                return
            ev = s.next_event()

    def _resolve(self, pid, ev):
        pids = self._wpid
        for i in range(len(pids)):
            if pids[i] == pid:
                c = ev.reason_codes  # SUBACK/UNSUBACK: may be a view into the rx buffer
                self._wres[i] = ev.reason_code if c is None else list(c)
                self._werr[i] = ev.error
                self._wdone[i] = 1
                _pulse(self._acked)
                return

    def _deliver(self, pkt):
        m = self._msg._load(pkt)
        topic = m.topic
        r = self._router
        i = r.next_match(topic, 0)
        if i < 0:
            if self.on_message is not None:
                self._call(self.on_message, m)
        while i >= 0:
            self._call(r.handler(i), m)
            i = r.next_match(topic, i + 1)
        m.payload = m.props = None

    def _call(self, h, m):
        try:
            r = h(m)
            if r is not None and hasattr(r, "send"):  # async handler: run it on a copy
                r.close()
                asyncio.create_task(_guard(h(m.copy())))
        except Exception as e:
            _report(e)


def _put(d, pid, v):
    if v is not None:
        d[pid] = v


def _pulse(ev):
    # Wake everything waiting on `ev` now; later waiters wait for the next pulse.
    ev.set()
    ev.clear()


async def _guard(coro):
    try:
        await coro
    except Exception as e:
        _report(e)


def _report(e):
    print("mqtt5: handler error")
    print_exception(e)
