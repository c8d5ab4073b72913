"""The asyncio MQTT v5 client: the public API (layer 3).

Same source on CPython and MicroPython asyncio. The tasks, waiter slots and
event dispatch underneath live in mqtt5.link; the Session (mqtt5.session) does
the protocol.

Payloads reach handlers zero-copy: see mqtt5.message.
"""

import mqtt5.session as _S  # first: its imports nest deep, and link's would nest one more
import mqtt5.link as _L
from .link import put, take  # (the fast path's: a global each, not a module's attribute)
from ._compat import DONE, Signal, monotonic_ms
from .errors import MQTTError
from .wire import payload_bytes, validate_topic

_FREE = const(-1)  # link.py: a free waiter slot
_DONE = const(-2)  # link.py: slot 0 between connects
_DETACHED = const(2)  # link.py: a slot that frees itself
_RESERVE = const(32)  # outbound.py: tx bytes a publish leaves free for acks
_RX_BUF = const(0)  # rxbuf.py: slots of the receive buffer's list
_RX_CAP = const(4)
_COUNT_MASK = const(0x3FFFFFFF)  # link.py: the counters wrap at 2^30 (small ints)
_F_QUEUED = const(7)  # outbound.py: slots of the in-flight table
_F_HOLD = const(11)


class Client:
    """MQTT v5 client (arguments as `__init__` below; README, "The MQTT v5 library").

    `will` is a `mqtt5.Will`. `username` is a str; `password` bytes, a str (sent
    as UTF-8) or a callable returning one, called at every (re)connect (e.g. a
    token the application renews); other types raise TypeError here.  `tls`:
    options for mqtts:// URLs (mqtt5.tls: ca, cert, key, server_hostname,
    insecure) or an SSLContext. `on_message(msg)` receives messages that no
    subscribe() handler routed. rx_size bounds the largest packet received,
    tx_size the largest sent (both buffers start at 128 B and grow on demand;
    reserve() grows them ahead);
    max_inflight the unacknowledged QoS 1/2 publishes, subscribes and
    unsubscribes at once (further callers wait for a slot).
    topic_alias_out: outbound Topic Alias table size (0: off; 8 suits a node):
    repeated topics then go out as a 2-byte alias within the server's Topic Alias
    Maximum (spec 3.3.2.3.4); topic_alias_maximum: inbound aliases we accept;
    request_response_info: ask for Response Information (mqtt5.Requester uses it).
    strict_receive_maximum=False (the default): take a server's QoS 1/2 messages over
    our receive_maximum (Debian's Mosquitto 2.0.11 sends a backlog in bursts), acked
    and counted in session.receive_maximum_exceeded, QoS 2 up to 512 held over it
    (mqtt5.session.Session); True: disconnect with 0x93 instead.
    ack_timeout_ms (0: off): a link that acknowledges nothing for this long ends.
    auth_method, authenticator: enhanced authentication (spec 4.12; mqtt5.auth),
    at every connect; reauthenticate() starts it again on a connected link.

    Counters (small ints, modulo 2^30): msgs_in, msgs_out (messages delivered /
    handed to the session), bytes_in, bytes_out. mqtt5.Supervisor keeps it connected.
    """

    def __init__(self, client_id="", keepalive=60, will=None, clean_start=True,
                 session_expiry=0, username=None, password=None, user_properties=None,
                 receive_maximum=16, max_packet_size=None, rx_size=2048, tx_size=2048,
                 max_inflight=16, connect_timeout_ms=10000, on_message=None,
                 topic_alias_out=0, topic_alias_maximum=0, request_response_info=False,
                 strict_receive_maximum=False, tls=None, ack_timeout_ms=0,
                 auth_method=None, authenticator=None):
        if tls is not None:
            from .tls import check  # lazy: only TLS users load it

            tls = check(tls)
        session = _S.Session(client_id, keepalive=keepalive, clean_start=clean_start,
                          session_expiry=session_expiry,
                          receive_maximum=receive_maximum,
                          max_packet_size=max_packet_size,
                          user_properties=user_properties, username=username,
                          password=password, will=will, rx_size=rx_size,
                          tx_size=tx_size, max_inflight=max_inflight,
                          topic_alias_out=topic_alias_out,
                          topic_alias_maximum=topic_alias_maximum,
                          request_response_info=request_response_info,
                          strict_receive_maximum=strict_receive_maximum,
                          ack_timeout_ms=ack_timeout_ms, auth_method=auth_method,
                          authenticator=authenticator)
        self._s = session
        self.on_message = on_message
        self.connect_timeout_ms = connect_timeout_ms
        self.tls = tls
        self.error = None  # why the last connection ended (None: clean disconnect)
        self._opening = 0  # a connect() is opening its socket
        self._router = None  # mqtt5.router.Router, made by the first subscribe
        self._msg = None  # the reusable mqtt5.message.Message, made on the first message
        # waiter slots (mqtt5.link): slot 0 is connect()'s, the others made on demand
        self._wmax = max_inflight + 1
        self._wpid = [_DONE]
        self._wpub = bytearray(1)
        self._wev = [None]
        # pulsed when a waiter slot resolves or is released, after each writer turn
        # and when the link closes: its waiters check what they wait for, in a loop
        self._changed = Signal()
        self._nwait = 0  # callers waiting for a slot or send quota (link.request())
        self._line = None  # their publishes' tokens, in call order (link.request())
        self._wake = Signal()  # wakes the writer
        self._wgen = 0  # completed writer turns
        self._writing = False
        self._ending = False  # our DISCONNECT is queued: read until the server closes
        self._t = None
        self._tasks = None
        self._q = None  # OfflineQueue once supervised (mqtt5.drain)
        self._drain_t = None  # the transport the drainer runs for
        self._qev = None  # Signal set when something is queued (supervised)
        self.msgs_in = self.msgs_out = self.bytes_in = self.bytes_out = 0

    _close = _L.close  # (what the Supervisor calls)
    _ended_within = _L.ended_within  # (what mqtt5.offline calls)

    # ---- public API ---------------------------------------------------------------
    def __getattr__(self, name):
        """Two read-only attributes: ``is_connected``, True while the connection is
        up (CONNACK received, not closed); ``session``, the underlying sans-IO
        Session (server limits after CONNACK, e.g. session.maximum_qos,
        session.assigned_client_id)."""
        # (not properties: see Session.__getattr__)
        if name == "is_connected":
            return self._t is not None and self._s.is_connected
        if name == "session":
            return self._s
        raise AttributeError(name)

    async def connect(self, url="mqtt://localhost:1883", clean_start=None):
        """Open the connection and wait for CONNACK; returns Session Present (bool).

        `clean_start` overrides the constructor's value for this connection (a
        supervisor resuming its session passes False).

        `url`: mqtt://host[:1883] or mqtts://host[:8883] (TLS, see mqtt5.tls).
        Raises MQTTError naming the reason code when the server refuses
        (e.g. "0x86 Bad User Name or Password"), mqtt5.tls.TLSError naming why
        a TLS handshake failed, OSError when the socket fails,
        asyncio.TimeoutError after connect_timeout_ms.
        """
        if self._t is not None:
            raise MQTTError("disconnect() under way" if self._ending else "already connected")
        self._opening = 1  # disconnect() meanwhile clears it
        import asyncio  # (here: names the module's dict need not keep)
        from .transport import open_transport

        t = await open_transport(url, self.connect_timeout_ms, self.tls)
        if self._t is not None or not self._opening:  # another connect() got there
            t.close()                                  # first, or disconnect() came
            raise MQTTError("already connected" if self._t is not None else "disconnected")
        s = self._s
        try:  # builds CONNECT: may call the password callback
            s.connect(monotonic_ms(), clean_start)
        except BaseException:
            t.close()
            raise
        self._t = t
        self.error = None
        self._ending = False
        timer = None
        try:
            _L.take(self, -1, 0)  # slot 0 (its Signal made now: 64 B while connecting)
            ct = asyncio.create_task
            self._tasks = (ct(_L.reader(self, t)), ct(_L.writer(self, t)),
                           ct(_L.ticker(self, t)))
            timer = ct(_L.after(self, t, self.connect_timeout_ms))
            self._wake.set()
            await self._wev[0].wait()  # CONNACK; a refusal, timeout or lost link raised
        except BaseException as e:  # also cancelled, or no heap for a task: the link ends
            _L.close(self, e)
            raise
        finally:
            if timer is not None:
                timer.cancel()
            self._wpid[0] = _DONE
            self._wev[0] = None
        return s.session_present

    def publish(self, topic, payload, qos=0, retain=False, content_type=None,
                payload_format_indicator=None, message_expiry_interval=None,
                response_topic=None, correlation_data=None, user_properties=None,
                properties=None, topic_alias=True):
        """Publish and wait until the QoS flow completes: ``await c.publish(...)``.

        QoS 0: None once the packet is in the transmit buffer (sent on the writer's
        next turn; waits only while the buffer is full). QoS 1: the PUBACK reason
        code (0 or 0x10 No matching subscribers); QoS 2: PUBREC's (0 or 0x10). Raises
        MQTTError naming a failure code (>= 0x80), e.g. "PUBACK 0x87 Not authorized"
        (.reason_code). `payload`: bytes, bytearray, memoryview or str (UTF-8). v5
        properties as keyword arguments; `user_properties` a list of (key, value);
        `properties` is a raw {property_id: value} dict merged in.
        `topic_alias=False`: send the full topic name without a Topic Alias
        (with topic_alias_out, aliases are otherwise automatic).

        Under a mqtt5.Supervisor a lost link never fails a publish: QoS 0 is
        copied into the offline queue while down and returns at once; QoS 1/2
        wait, across reconnects, until the ack (resent with DUP on Session
        Present 1, sent again as a new message on Session Present 0).  MQTTError
        then only for a failure code, a drop by the offline queue (full under
        REFUSE / dropped under DROP_OLDEST), an expired Message Expiry Interval,
        or Supervisor.stop().

        Returns an awaitable (create_task() and gather() accept it). Connected and
        unsupervised, with room and a free slot, the call itself queues the message:
        invalid arguments raise at the call; QoS 0 returns a shared finished
        awaitable; QoS 1/2 one that only waits for the outcome (its slot's reused
        Signal: nothing allocated on MicroPython), and the slot frees itself when the
        flow ends, so a publish cancelled or never awaited still completes.
        Supervised, a QoS other than 0-2 or a payload over tx_size raises at the
        call, as does a QoS 0 message the offline queue refuses (REFUSE) or the
        session refuses on a live link; QoS 1/2 with a free slot goes into the
        offline queue from the call (the queue's refusal is the awaitable's error),
        QoS 0 straight to the transmit buffer when nothing waits in the queue.
        Otherwise (no room, no slot, callers waiting) a coroutine queues it, in call
        order.
        """
        if type(topic) is not str or not topic:
            validate_topic(topic)  # (raises: TypeError, or ValueError naming the fault)
        tp = type(payload)
        if tp is not bytes and tp is not bytearray and tp is not memoryview:
            payload = payload_bytes(payload)  # a str as UTF-8; TypeError for the rest
        props = properties
        if (content_type is not None or payload_format_indicator is not None
                or message_expiry_interval is not None or response_topic is not None
                or correlation_data is not None or user_properties or props):
            from .outmsg import app_props, check_text  # only with v5 properties

            props = app_props(properties, content_type, payload_format_indicator,
                              message_expiry_interval, response_topic, correlation_data,
                              user_properties)
            check_text(payload, props)
        if self._q is not None:  # supervised
            validate_topic(topic)
            import mqtt5.drain as d
            return d.publish(self, topic, payload, qos, retain, props, topic_alias)
        t = self._t
        if t is not None:
            # Fast paths (room, a slot and send quota free, nobody waiting): QoS 0 needs
            # no coroutine, QoS 1/2 only the slot's Signal. The session checks the
            # topic (wildcards, U+0000, length) once per topic string (txbuf.topic_utf8).
            s = self._s
            w = -1  # QoS 1/2: a waiter slot, if the send quota and a slot are free
            idle = False
            if qos:
                n = s.send_quota()  # [MQTT-3.3.4-7]
                if n and not self._nwait:
                    w = take(self, 0, _DETACHED)  # (its Signal is what the caller awaits)
                    # alone: nothing queued or in flight to batch it with, no writer turn
                    # under way
                    idle = (not s.pending_bytes() and n == s.receive_maximum_out
                            and not self._writing and not t.backlog())
            if not qos or w >= 0:
                if qos and type(payload) is not bytes:  # kept for a resend, or encoded
                    payload = bytes(payload)  # behind a backlog: the caller's buffer
                    # may change from now (a handler's message view, a reused bytearray)
                try:
                    pid = s.publish(topic, payload, qos, retain, props, topic_alias)
                except BaseException as e:
                    if w >= 0:
                        self._wpid[w] = _FREE
                        self._wpub[w] = 0
                    if not isinstance(e, _S.BufferFull):
                        if qos and not _L.room(s):  # the table full: wait for a slot
                            return _L.request(self, None, topic, payload if type(payload)
                                              is bytes else bytes(payload), qos, retain,
                                              props, topic_alias)
                        raise
                    if not qos:  # a burst filled the buffer: it waits, with a copy of
                        # what the caller may change meanwhile (a reused bytearray, a
                        # handler's message view: it went out changed)
                        return _publish0(self, topic, payload if type(payload) is bytes
                                         else bytes(payload), retain, props, topic_alias)
                else:  # (BufferFull: the coroutine waits for room)
                    self.msgs_out = (self.msgs_out + 1) & _COUNT_MASK
                    if w < 0:
                        self._wake.set()  # the writer's next turn sends it, batched
                        return DONE
                    self._wpid[w] = pid
                    # Alone: written now, so an awaited round trip wakes two tasks, not
                    # three. Else, or when the write fails, the writer's next turn (which
                    # then meets the error and says why).
                    try:
                        idle = idle and put(self, t)
                    except Exception:
                        idle = False
                    if not idle:
                        self._wake.set()
                    return self._wev[w].wait()
        validate_topic(topic)  # it waits (a copy: see _publish0 above)
        return _L.request(self, None, topic, payload if type(payload) is bytes
                          else bytes(payload), qos, retain, props, topic_alias)

    def subscribe(self, filt, qos=0, handler=None, no_local=False, retain_as_published=False,
                  retain_handling=0, subscription_identifier=None, user_properties=None):
        """Subscribe and wait for SUBACK; returns the granted QoS / reason code.

        `filt` is a topic filter (+ and # wildcards) or a list of them (then a
        list of codes is returned, one per filter). Messages matching it go to
        `handler(msg)` (plain function or async def); without a handler, to
        `on_message` (so do those of a subscribe cancelled after it went out, which
        the server may still grant). Options: no_local (not sent our own publishes),
        retain_as_published, retain_handling (0 send retained, 1 only for a new
        subscription, 2 never). A single filter the server refuses (code >= 0x80)
        raises MQTTError; for a list, the codes say which were refused (those get
        no handler).
        With a handler and a server that supports them, a Subscription Identifier
        is assigned (unless given) and messages are dispatched by it without
        re-matching their topic (spec 3.8.2.1.2, [MQTT-3.3.4-3]).
        """
        from .router import subscribe  # (loaded by the first one)

        return subscribe(self, filt, qos, handler, no_local, retain_as_published,
                         retain_handling, subscription_identifier, user_properties)

    def unsubscribe(self, filt, user_properties=None):
        """Unsubscribe and wait for UNSUBACK; returns the reason code (a list for a
        list of filters). The filters' handlers are removed, but not that of one the
        server refuses (code >= 0x80: still subscribed): a single filter refused
        raises MQTTError; for a list, the codes say which were refused."""
        from .router import unsubscribe

        return unsubscribe(self, filt, user_properties)

    async def disconnect(self, reason_code=0, session_expiry=None, reason_string=None):
        """Send DISCONNECT (0: normal, 4: disconnect with Will Message) and close
        once the server has closed its side (at most 2 s): what was written before
        reaches it. Callers still waiting for an ack get MQTTError "disconnected"
        (their message may have arrived).

        `session_expiry` changes the Session Expiry Interval at disconnect (not from
        a CONNECT's 0, spec 3.14.2.2.2; a code only a server sends is refused too:
        ValueError, nothing sent).  A connect() still opening its socket then fails
        with "disconnected"."""
        if self._t is None:
            self._opening = 0
            return
        t = self._t
        if self._s.is_connected:
            props = {}
            if session_expiry is not None:
                props[0x11] = session_expiry
            if reason_string is not None:
                props[0x1F] = reason_string
            self._s.disconnect(reason_code, props or None)
            self._ending = True  # (link.pump()) what arrives now is read and dropped
            self._wake.set()
        if self._ending:  # ours, or one under way: wait for the server's close, however
            try:  # this call ends (a second call must not cut the first one short)
                await _L.ended_within(self, 2000)
            except Exception:
                pass
            finally:  # (cancelled too: the link must not stay open for ever)
                if self._t is t:
                    _L.close(self, None)
            return
        _L.close(self, None)

    def reauthenticate(self):
        """Start a re-authentication (spec 4.12.1) on the connected link: AUTH 0x19
        with ``authenticator.start()``'s data, the server's AUTH rounds answered by
        ``authenticator.step()`` (mqtt5.auth); a refusal is the server's DISCONNECT,
        which ends the link.  MQTTError when not connected, without an auth_method,
        or while one runs."""
        self._s.reauthenticate()
        self._wake.set()

    def abort(self):
        """Close the connection now, without DISCONNECT or waiting: the server then
        publishes the Will [MQTT-3.1.2-8]. Synchronous, for where no event loop can
        run (a second Ctrl-C cutting disconnect() short). False: none was open."""
        if self._t is None:
            return False
        _L.close(self, MQTTError("aborted"))
        return True

    def reserve(self, n, rx=0):
        """Grow the transmit buffer now so that a PUBLISH of ``n`` bytes fits it later,
        and the receive buffer to ``rx`` bytes (at most ``rx_size``); True when both do.
        A buffer otherwise grows when a packet first needs it, when the heap may hold
        no block that large: reserve at boot for a known larger message (a node's
        stats) and for any packet up to the Maximum Packet Size announced (a request
        refused must arrive whole; a MemoryError growing for it ends the link, and the
        broker resends it first at every reconnect).  False, and a buffer that could
        not grow as it was, when the heap has no such block, ``n`` is more than any
        publish can be (``tx_size`` less the 32 bytes kept for acks), or the receive
        buffer is to grow on an open connection (its reader holds a view of it:
        reserve before connect(); unread bytes are kept)."""
        from .rxbuf import grow
        from .txbuf import room

        try:  # the transmit buffer first: a receive buffer with no block leaves it grown
            ok = room(self._s._tx, n + _RESERVE)
            r = self._s._rx
            rx = min(rx, r[_RX_CAP])
            if len(r[_RX_BUF]) < rx:
                if self._t is not None:
                    return False
                grow(r, rx)
            return ok
        except MemoryError:
            return False

    async def wait_closed(self):
        """Wait until the connection ends; returns the error that ended it (None
        after disconnect())."""
        while self._t is not None:
            await self._changed.wait()
        return self.error


async def _publish0(c, topic, payload, retain, props, alias):
    # A QoS 0 publish that found the transmit buffer full: queued after a writer turn
    # (a frame smaller than link.request()'s: a burst makes one each time the buffer
    # fills); behind a resend backlog, or before an enhanced-auth CONNACK, only an ack
    # or the CONNACK lets it go: it waits for one (writer turns came one after another;
    # mqtt5.drain's _room() waits so too, without the hold, which a drainer never meets:
    # one function for both in mqtt5.link would take its dict's full table a size up)
    fl = c._s._inflight
    while True:
        if fl[_F_QUEUED] or fl[_F_HOLD]:
            await c._changed.wait()  # (pulsed by acks, CONNACK, writer turns, the end)
        else:
            await _L.flush(c)
        if c._t is None:
            raise __import__("mqtt5.events").events.not_connected(c)
        try:
            c._s.publish(topic, payload, 0, retain, props, alias)
            c.msgs_out = (c.msgs_out + 1) & _COUNT_MASK
            return c._wake.set()
        except _S.BufferFull:
            pass
