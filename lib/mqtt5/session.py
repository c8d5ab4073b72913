"""Sans-IO MQTT v5 client session (layer 2): bytes in, events out, bytes to send out.

No sockets, no clock, no asyncio: the adapter passes time in as ``now_ms`` (any
monotonic millisecond counter, e.g. ``time.ticks_ms()`` unwrapped or
``time.monotonic_ns() // 1000000``).

Adapter loop (one transport connection)::

    s.connect(now)                          # queues CONNECT
    while s.state != CLOSED:
        buf = s.data_to_send()              # memoryview of whole packets, or None
        if buf is not None:
            n = sock.write(buf); s.sent(n, now)
        mv = s.recv_buffer()                # free space of the receive buffer
        n = sock.readinto(mv); s.received(n, now)   # n == 0: s.connection_lost()
        ev = s.next_event()
        while ev is not None:
            handle(ev)                      # ev: valid until the next next_event()
            ev = s.next_event()
        wait_ms = s.tick(now)               # keep-alive; call again within wait_ms

Inbound packets are parsed lazily, one per ``next_event()`` call, straight from the
preallocated receive buffer: no event queue, and a MESSAGE payload is a memoryview into
that buffer, valid until the next ``recv_buffer()``/``feed()``.  Drain
``next_event()`` until it returns None after ``received()``, ``tick()`` and ``sent()``
(it also pauses, returning None, while the transmit buffer has no room for an ack the
next packet needs: flush, then drain again).  Every connection ends with exactly one
DISCONNECTED, LINK_DEAD or ERROR event (unless the adapter calls connection_lost()).

Memory: one receive buffer (``rx_size``), one transmit buffer (``tx_size``), a fixed
number of in-flight slots (``max_inflight``, parallel lists, no per-message objects) and
ONE reusable Event.  The session itself allocates at most one memoryview per write
(``data_to_send``) and one per inbound packet (the view decode needs); the rest is the
codec's (packet object, topic str, props).  Measured on the unix port
(host_tests/scripts/session_mem.py): QoS 0 publish 32 B with a bytes topic (64 B with
a str topic), QoS 1 publish + PUBACK 224 B, inbound QoS 0 256 B; a default Session
holds 7.2 KB (4 KB of it the two buffers), rx/tx 512 B and 4 slots 3.4 KB.

Built for the later issues: Receive Maximum is enforced outbound and bounds inbound
QoS 2 ids (HeldIds); max packet size is checked both ways; slots keep topic, payload,
props, flags and an order stamp so a resend on Session Present can go out in order with
DUP (and PUBREL for WAIT_PUBCOMP slots); inbound topic aliases are resolved (outbound
aliases are a later issue); AUTH is a protocol error until enhanced auth lands in
handshake.py; an offline queue belongs to the supervisor (publish raises when CLOSED).
"""

from ._compat import const
from .errors import MQTTError, ProtocolError
import mqtt5.packets as _p
import mqtt5.handshake as _hs
import mqtt5.inbound as _in
from .rxbuf import RxBuffer
from .txbuf import TxBuffer, BufferFull, ACK_ROOM  # noqa: F401 (BufferFull is API)
from .inflight import Inflight, HeldIds, WAIT_PUBACK, WAIT_PUBREC, WAIT_SUBACK, \
    WAIT_UNSUBACK
from .keepalive import KeepAlive, PING, DEAD, IDLE_MS
from .events import Event, CONNECTED, MESSAGE, PUBLISH_DONE, SUBSCRIBED, \
    UNSUBSCRIBED, DISCONNECTED, LINK_DEAD, ERROR, CLOSED, CONNECTING, ESTABLISHED  # noqa

# subscription options [MQTT-3.8.3.1] (public, for subscribe())
NO_LOCAL = 0x04
RETAIN_AS_PUBLISHED = 0x08
RETAIN_HANDLING_SHIFT = 4  # 0 send retained, 1 only if new subscription, 2 never

# control packet types that need an ack from us [MQTT-2.1.2]
_PUBLISH = const(3)
_PUBREC = const(5)
_PUBREL = const(6)

_RESERVE = const(32)  # tx bytes publish/subscribe leave free for acks and PINGREQ


class Session:
    """MQTT v5 client session state machine (sans-IO).

    Constructor arguments map to CONNECT fields/properties [MQTT-3.1.2]:
    client_id, keepalive (s), clean_start, session_expiry (s), receive_maximum (our
    inbound QoS>0 quota, 1..65535; it sizes the table of held QoS 2 packet ids, one
    list entry each, so keep it small on a board), max_packet_size (what we accept;
    default and upper bound: rx_size), topic_alias_maximum (sizes the inbound alias
    table), request_response_info, request_problem_info, user_properties (list of
    (k, v)), username (str), password (bytes), will (a ``mqtt5.packets.Will``, passed
    through as Connect.will: topic, payload, qos, retain, props such as Will Delay,
    Message Expiry, Content Type, Response Topic, Correlation Data, User Property).
    Buffers: rx_size (receive buffer = largest inbound packet), tx_size (transmit buffer =
    largest outbound packet), max_inflight (slots for unacknowledged QoS 1/2 PUBLISH,
    SUBSCRIBE and UNSUBSCRIBE; ids of slots are never reused before completion).

    After CONNACK the server's limits are attributes: server_keepalive (None if not
    sent), assigned_client_id, receive_maximum_out (server Receive Maximum),
    maximum_qos, retain_available, server_max_packet_size (0: no limit),
    server_topic_alias_maximum, wildcard_available, sub_id_available,
    shared_available, session_present, reason_string, response_information,
    server_reference, session_expiry_granted (the server's Session Expiry Interval if it
    sent one, else ours).  ``keepalive_s`` is the period in use (Server Keep Alive
    overrides ours [MQTT-3.2.2-21]).
    """

    def __init__(self, client_id="", keepalive=60, clean_start=True, session_expiry=0,
                 receive_maximum=16, max_packet_size=None, topic_alias_maximum=0,
                 request_response_info=False, request_problem_info=True,
                 user_properties=None, username=None, password=None, will=None,
                 rx_size=2048, tx_size=2048, max_inflight=16):
        self.client_id = client_id
        self.keepalive = keepalive
        self.clean_start = clean_start
        self.session_expiry = session_expiry
        if not 0 < receive_maximum <= 65535:  # 0 is a Protocol Error (spec 3.1.2.11.3)
            raise ValueError("receive_maximum must be 1..65535")
        self.receive_maximum = receive_maximum
        if not max_packet_size or max_packet_size > rx_size:
            max_packet_size = rx_size  # a packet must fit the receive buffer
        self.max_packet_size = max_packet_size
        self.topic_alias_maximum = topic_alias_maximum
        self.request_response_info = request_response_info
        self.request_problem_info = request_problem_info
        self.user_properties = user_properties
        self.username = username
        self.password = password
        self.will = will
        self._rx = RxBuffer(rx_size)
        self._aliases = [None] * topic_alias_maximum
        self._tx = TxBuffer(tx_size)
        self._inflight = Inflight(max_inflight)
        self._held = HeldIds(receive_maximum)
        self._ka = KeepAlive(keepalive)
        self._ev = Event()
        self._pending = []  # rare events from tick()/disconnect()/session loss: tuples
        self._has_state = False
        self._now = 0
        self.state = CLOSED
        _hs.reset(self)

    @property
    def is_connected(self):
        """True between CONNACK 0x00 and the end of the connection."""
        return self.state == ESTABLISHED

    @property
    def inflight_count(self):
        """Unacknowledged QoS 1/2 PUBLISH packets (Receive Maximum quota in use)."""
        return self._inflight.publishes

    # ---- connection lifecycle -------------------------------------------------------

    def connect(self, now_ms, clean_start=None):
        """Start a new transport connection: reset buffers, queue CONNECT; state
        CONNECTING.  clean_start overrides the constructor's value for this connection
        (a supervisor resuming a session passes False)."""
        if clean_start is None:
            clean_start = self.clean_start
        self._rx.reset()
        self._tx.reset()
        al = self._aliases  # inbound topic aliases live for one connection [MQTT-3.3.2-7]
        for i in range(len(al)):
            al[i] = None
        self._pending = []
        _hs.reset(self)
        self._ka.set_period(self.keepalive)
        self._ka.reset(now_ms)
        self._now = now_ms
        if clean_start:
            self._has_state = False
        pkt = _hs.connect_packet(self, clean_start)
        self._tx.packet(pkt)
        self.state = CONNECTING

    def connection_lost(self, now_ms=None):
        """The transport closed under us: state CLOSED, no event.  In-flight slots are
        kept for the next connect() (resend on Session Present is a later issue)."""
        self.state = CLOSED
        self._rx.reset()

    def disconnect(self, reason_code=0, props=None):
        """Queue DISCONNECT [MQTT-3.14] with reason code and props (e.g. reason string);
        state CLOSED, a DISCONNECTED event (by_server False) follows.  Flush
        data_to_send() then close the transport [MQTT-3.14.4-2]."""
        if self.state == CLOSED:
            return
        self._tx.packet(_p.Disconnect(reason_code=reason_code, props=props),
                        0, self.server_max_packet_size)
        self._close(DISCONNECTED, reason_code, None, False)

    def _close(self, kind, reason_code, error, by_server):
        self.state = CLOSED
        self._pending.append((kind, 0, reason_code, error, by_server))

    # ---- inbound --------------------------------------------------------------------

    def recv_buffer(self):
        """memoryview of the free space of the receive buffer, to readinto().

        Moves a partial packet to the front first, which invalidates MESSAGE payload
        views handed out earlier.  Empty when the buffer is full of unprocessed
        packets: drain next_event() first."""
        return self._rx.free()

    def received(self, n, now_ms):
        """n bytes were written into recv_buffer(); any bytes count as link activity."""
        self._now = now_ms
        if n > 0:
            self._rx.add(n)
            self._ka.on_rx(now_ms)

    def feed(self, data, now_ms):
        """Copy bytes into the receive buffer (tests, adapters without readinto).
        Returns how many were taken (fewer when the buffer is full)."""
        n = self._rx.copy_in(data)
        self._now = now_ms
        if n:
            self._ka.on_rx(now_ms)
        return n

    def next_event(self):
        """Parse the next complete packet and return the (reused) Event, or None.

        Acknowledgements the session owes (PUBACK, PUBREC, PUBREL, PUBCOMP) are queued
        here, so drain until None after received(), tick() and sent().  None also
        when the transmit buffer lacks room for such an ack: flush, then call again."""
        if self._pending:
            k, pid, rc, err, by_server = self._pending.pop(0)
            ev = self._ev
            ev._clear(k)
            ev.packet_id, ev.reason_code, ev.error, ev.by_server = pid, rc, err, by_server
            return ev
        rx = self._rx
        while self.state != CLOSED:
            try:
                total = rx.complete(self.max_packet_size)
                if not total:
                    return None
                b0 = rx.buf[rx.start]
                ptype = b0 >> 4
                if (ptype == _PUBREC or ptype == _PUBREL or (ptype == _PUBLISH and b0 & 6)) \
                        and not self._tx.room(ACK_ROOM):
                    return None  # no room for the ack: flush first
                if _in.handle(self, ptype, _p.decode(rx.take(total))):
                    return self._ev
            except ProtocolError as e:
                return self._fail(e)
        return None

    def _fail(self, err):
        """Protocol violation by the server: DISCONNECT with its reason code
        (spec 4.13, the link then closes [MQTT-4.13.2-1]), state CLOSED, ERROR event."""
        rc = getattr(err, "reason_code", 0x82)
        if self.state != CLOSED:
            try:
                self._tx.packet(_p.Disconnect(reason_code=rc, props=None))
            except MQTTError:
                pass  # no room: close without it
        self.state = CLOSED
        ev = self._ev
        ev._clear(ERROR)
        ev.reason_code, ev.error = rc, err
        return ev

    # ---- outbound -------------------------------------------------------------------

    def data_to_send(self):
        """memoryview of queued whole packets (possibly several), or None.

        Valid until sent(): while it is out, queued bytes are not moved.  Write all or
        part of it, then call sent(n)."""
        return self._tx.view()

    def sent(self, n, now_ms=None):
        """n bytes of data_to_send() were written (now_ms: time of the write, for keep
        alive; default: the last time the session was given)."""
        if now_ms is not None:
            self._now = now_ms
        self._tx.consumed(n)
        if n > 0:
            self._ka.on_tx(self._now)

    @property
    def pending_bytes(self):
        """Bytes queued and not yet marked sent."""
        return self._tx.tail - self._tx.head

    def _check_open(self):
        if self.state == CLOSED:
            raise MQTTError("not connected")

    def _take_slot(self, state):
        i = self._inflight.alloc(state)
        if i < 0:
            raise MQTTError("no free in-flight slot")
        return i

    def publish(self, topic, payload, qos=0, retain=False, props=None):
        """Queue PUBLISH; returns the packet id (0 for QoS 0); PUBLISH_DONE follows for
        QoS 1/2.

        topic: str, or UTF-8 bytes (spares the codec one encode allocation); payload:
        bytes-like.  For QoS 1/2 the session keeps references to topic/payload/props until
        PUBLISH_DONE (for resend): do not mutate them.  ValueError for invalid contents
        (codec: wildcard in topic, bad property ...).  MQTTError when not
        connected/connecting, no free slot, Receive Maximum quota used up
        [MQTT-3.3.4-7], QoS above the server's Maximum QoS [MQTT-3.2.2-11], retain not
        available [MQTT-3.2.2-14], or packet over the server's Maximum Packet Size
        [MQTT-3.2.2-15]; BufferFull when the transmit buffer has no room now."""
        self._check_open()
        if qos > self.maximum_qos:
            raise MQTTError("QoS %d above server maximum %d" % (qos, self.maximum_qos))
        if retain and not self.retain_available:
            raise MQTTError("retain not available")
        i = -1
        pid = 0
        fl = self._inflight
        if qos:
            if fl.publishes >= self.receive_maximum_out:
                raise MQTTError("server receive maximum reached")
            i = self._take_slot(WAIT_PUBACK if qos == 1 else WAIT_PUBREC)
            pid = fl.pid[i]
        try:
            self._tx.publish(_RESERVE, self.server_max_packet_size, topic, payload, qos,
                             retain, False, pid, props)
        except Exception:
            if i >= 0:
                fl.free(i, True)
            raise
        if i >= 0:
            fl.topic[i], fl.payload[i], fl.props[i] = topic, payload, props
            fl.flags[i] = qos | (4 if retain else 0)
        return pid

    def _request(self, state, cls, items, props):
        self._check_open()
        fl = self._inflight
        i = self._take_slot(state)
        try:
            self._tx.packet(cls(packet_id=fl.pid[i], topics=items, props=props), _RESERVE,
                            self.server_max_packet_size)
        except Exception:
            fl.free(i, True)
            raise
        fl.flags[i] = len(items)
        return fl.pid[i]

    def subscribe(self, topics, props=None):
        """Queue SUBSCRIBE for topics = [(filter, options), ...]; returns the packet id;
        SUBSCRIBED follows with one reason code per filter.

        options [MQTT-3.8.3.1]: QoS (bits 0-1) | NO_LOCAL | RETAIN_AS_PUBLISHED |
        retain handling << RETAIN_HANDLING_SHIFT.  props: e.g. Subscription Identifier."""
        return self._request(WAIT_SUBACK, _p.Subscribe, topics, props)

    def unsubscribe(self, filters, props=None):
        """Queue UNSUBSCRIBE for filters = [filter, ...]; returns the packet id;
        UNSUBSCRIBED follows with one reason code per filter."""
        return self._request(WAIT_UNSUBACK, _p.Unsubscribe, filters, props)

    # ---- time -----------------------------------------------------------------------

    def tick(self, now_ms):
        """Keep alive: queue PINGREQ when due [MQTT-3.1.2-22]; LINK_DEAD (state CLOSED)
        when nothing arrived for 1.5 x keep alive.  Returns ms until tick() is next
        needed (3600000 when keep alive is off or the session is closed)."""
        self._now = now_ms
        if self.state == CLOSED:
            return IDLE_MS
        ka = self._ka
        connected = self.state == ESTABLISHED
        what = ka.check(now_ms, connected)
        if what == DEAD:
            self._close(LINK_DEAD, 0, None, False)
            return 0
        if what == PING and self._tx.ping():
            ka.pinged(now_ms)
        return ka.wait_ms(now_ms, connected)
