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
            handle(ev)                       # ev and ev.packet.payload: valid until next call
            ev = s.next_event()
        wait_ms = s.tick(now)               # keep-alive; call again within wait_ms

Inbound packets are parsed lazily, one per ``next_event()`` call, straight from the
preallocated receive buffer: no event queue, and a MESSAGE payload is a memoryview into
that buffer.  Always drain ``next_event()`` until it returns None after ``received()``,
``tick()`` and ``sent()``.

Memory: one receive buffer (``rx_size``), one transmit buffer (``tx_size``), a fixed
number of in-flight slots (``max_inflight``, parallel lists, no per-message objects) and
ONE reusable :class:`Event` object.  Per inbound message the only allocations are the
codec's (Publish object, topic str, props dict if any).
"""

from ._compat import const
from .errors import MQTTError, ProtocolError
from . import packets as _p
from . import properties as _pr
from .packets.publish import encode_publish, encode_ack
from .wire import frame
from .inflight import Inflight, HeldIds, WAIT_PUBACK, WAIT_PUBREC, WAIT_PUBCOMP, \
    WAIT_SUBACK, WAIT_UNSUBACK
from .keepalive import KeepAlive, PING, DEAD, IDLE_MS

# subscription options [MQTT-3.8.3.1] (public, for subscribe())
NO_LOCAL = 0x04
RETAIN_AS_PUBLISHED = 0x08
RETAIN_HANDLING_SHIFT = 4  # 0 send retained, 1 only if new subscription, 2 never

# control packet types [MQTT-2.1.2]
_CONNACK = const(2)
_PUBLISH = const(3)
_PUBACK = const(4)
_PUBREC = const(5)
_PUBREL = const(6)
_PUBCOMP = const(7)
_SUBACK = const(9)
_UNSUBACK = const(11)
_PINGRESP = const(13)
_DISCONNECT = const(14)

_ACK_ROOM = const(8)  # one ack with a reason code and no props: 5 bytes
_RESERVE = const(32)  # tx bytes publish/subscribe leave free for acks and PINGREQ
_NO_PROPS = {}  # read-only stand-in for absent props
_OVERFLOW = (IndexError, ValueError)  # what encoding past the end of a buffer raises

# ---- event kinds (public) -------------------------------------------------------------
CONNECTED = 1  # ev.packet = Connack; ev.session_present, ev.reason_code, ev.props
MESSAGE = 2  # ev.packet = Publish (topic, payload memoryview, qos, retain, dup, props)
PUBLISH_DONE = 3  # ev.packet_id, ev.reason_code, ev.props, ev.error (None on success)
SUBSCRIBED = 4  # ev.packet_id, ev.reason_codes (one per filter), ev.props, ev.error
UNSUBSCRIBED = 5  # ev.packet_id, ev.reason_codes, ev.props, ev.error
DISCONNECTED = 6  # ev.reason_code, ev.props, ev.by_server (True: server sent DISCONNECT)
LINK_DEAD = 7  # keep-alive expired: nothing received for 1.5 x keep alive
ERROR = 8  # fatal: ev.error (MQTTError naming the code), ev.reason_code, ev.packet

# ---- session states (public) ----------------------------------------------------------
CLOSED = 0  # no connection (initial, after DISCONNECT either way, error, link dead)
CONNECTING = 1  # CONNECT queued, waiting for CONNACK
CONNECTED = 2  # CONNACK 0x00 received


class Event:
    """The session's single, reusable event object.

    ``next_event()`` refills and returns the SAME instance each time: it is valid until
    the next ``next_event()`` call; copy what you need.  Fields not relevant to
    ``kind`` are None/0/False.

    - kind: one of CONNECTED, MESSAGE, PUBLISH_DONE, SUBSCRIBED, UNSUBSCRIBED,
      DISCONNECTED, LINK_DEAD, ERROR
    - packet: decoded packet (Connack for CONNECTED / refused-connect ERROR, Publish for
      MESSAGE, the ack for PUBLISH_DONE/SUBSCRIBED/UNSUBSCRIBED, Disconnect for a
      server DISCONNECTED), else None
    - packet_id, reason_code, reason_codes (list, SUBSCRIBED/UNSUBSCRIBED), props
    - session_present (CONNECTED), by_server (DISCONNECTED)
    - error: None on success, else an MQTTError whose message names the reason code
      (e.g. "PUBACK 0x87 Not authorized"); reason codes < 0x80 are success (0x10 No
      matching subscribers included).  For SUBSCRIBED/UNSUBSCRIBED: the first failing
      per-filter code.
    """

    def __init__(self):
        self._clear(0)

    def _clear(self, kind):
        self.kind = kind
        self.packet = None
        self.packet_id = 0
        self.reason_code = 0
        self.reason_codes = None
        self.props = None
        self.session_present = False
        self.by_server = False
        self.error = None


class BufferFull(MQTTError):
    """The transmit buffer has no room now: flush data_to_send(), call sent(), retry."""


def _rc_error(what, code):
    """MQTTError naming a failing reason code, e.g. 'PUBACK 0x87 Not authorized'."""
    from .reason_codes import name  # lazy: error path only
    e = MQTTError("%s 0x%02X %s" % (what, code, name(code)))
    e.reason_code = code
    return e


class Session:
    """MQTT v5 client session state machine (sans-IO).

    Constructor arguments map to CONNECT fields/properties [MQTT-3.1.2]:
    client_id, keepalive (s), clean_start, session_expiry (s), receive_maximum (our
    inbound QoS>0 quota, also bounds held QoS 2 packet ids), max_packet_size (what we
    accept; default and upper bound: rx_size), topic_alias_maximum,
    request_response_info, request_problem_info, user_properties (list of (k, v)),
    username (str), password (bytes), will (passed through as Connect.will; see
    ``mqtt5.packets`` for its type).
    Buffers: rx_size (receive buffer = largest inbound packet), tx_size (transmit buffer =
    largest outbound packet), max_inflight (slots for unacknowledged QoS 1/2 PUBLISH,
    SUBSCRIBE and UNSUBSCRIBE; ids of slots are never reused before completion).

    After CONNACK the server's limits are attributes: server_keepalive (None if not
    sent), assigned_client_id, receive_maximum_out (server Receive Maximum),
    maximum_qos, retain_available, server_max_packet_size (0: no limit),
    server_topic_alias_maximum, wildcard_available, sub_id_available,
    shared_available, session_present, reason_string.  ``keepalive_s`` is the period
    in use (Server Keep Alive overrides ours [MQTT-3.1.2-21]).

    Every connection ends with exactly one DISCONNECTED, LINK_DEAD or ERROR event,
    unless the adapter reports connection_lost() itself.
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
        self._rx = bytearray(rx_size)
        self._rxmv = memoryview(self._rx)
        self._tx = bytearray(tx_size)
        self._txmv = memoryview(self._tx)
        self._rs = self._re = self._ts = self._te = 0
        self._lent = False  # a data_to_send() view is out: do not move tx bytes
        self._inflight = Inflight(max_inflight)
        self._held = HeldIds(receive_maximum)
        self._ka = KeepAlive(keepalive)
        self._ev = Event()
        self._pending = []  # rare events from tick()/disconnect()/session loss: tuples
        self._has_state = False
        self._now = 0
        self.state = CLOSED
        self._server_defaults()

    def _server_defaults(self):
        # values that apply when CONNACK omits the property [MQTT-3.2.2.3]
        self.session_present = False
        self.server_keepalive = None
        self.assigned_client_id = None
        self.receive_maximum_out = 65535
        self.maximum_qos = 2
        self.retain_available = True
        self.server_max_packet_size = 0
        self.server_topic_alias_maximum = 0
        self.wildcard_available = True
        self.sub_id_available = True
        self.shared_available = True
        self.reason_string = None
        self.keepalive_s = self.keepalive

    @property
    def is_connected(self):
        """True between CONNACK 0x00 and the end of the connection."""
        return self.state == CONNECTED

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
        self._rs = self._re = self._ts = self._te = 0
        self._lent = False
        self._pending = []
        self._server_defaults()
        self._ka.set_period(self.keepalive)
        self._ka.reset(now_ms)
        self._now = now_ms
        if clean_start:
            self._has_state = False
        props = {_pr.MAXIMUM_PACKET_SIZE: self.max_packet_size}
        if self.session_expiry:
            props[_pr.SESSION_EXPIRY_INTERVAL] = self.session_expiry
        if self.receive_maximum != 65535:
            props[_pr.RECEIVE_MAXIMUM] = self.receive_maximum
        if self.topic_alias_maximum:
            props[_pr.TOPIC_ALIAS_MAXIMUM] = self.topic_alias_maximum
        if self.request_response_info:
            props[_pr.REQUEST_RESPONSE_INFORMATION] = 1
        if not self.request_problem_info:
            props[_pr.REQUEST_PROBLEM_INFORMATION] = 0
        if self.user_properties:
            props[_pr.USER_PROPERTY] = list(self.user_properties)
        pkt = _p.Connect(client_id=self.client_id, clean_start=clean_start,
                         keepalive=self.keepalive, username=self.username,
                         password=self.password, will=self.will, props=props)
        self._clean = clean_start
        self._append(pkt, 0)
        self.state = CONNECTING

    def connection_lost(self, now_ms=None):
        """The transport closed under us: state CLOSED, no event.  In-flight slots are
        kept for the next connect() (resend on Session Present is a later issue)."""
        self.state = CLOSED
        self._rs = self._re = 0

    def disconnect(self, reason_code=0, props=None):
        """Queue DISCONNECT [MQTT-3.14] with reason code and props (e.g. reason string);
        state CLOSED, a DISCONNECTED event (by_server False) follows.  Flush
        data_to_send() then close the transport [MQTT-3.14.4-2]."""
        if self.state == CLOSED:
            return
        self._append(_p.Disconnect(reason_code=reason_code, props=props), 0)
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
        rs, re = self._rs, self._re
        if rs:
            if rs < re:  # overlapping move: memmove on both runtimes
                self._rxmv[0:re - rs] = self._rxmv[rs:re]
            self._rs, self._re = 0, re - rs
        return self._rxmv[self._re:]

    def received(self, n, now_ms):
        """n bytes were written into recv_buffer(); any bytes count as link activity."""
        self._now = now_ms
        if n > 0:
            self._re += n
            self._ka.on_rx(now_ms)

    def feed(self, data, now_ms):
        """Copy bytes into the receive buffer (tests, adapters without readinto).
        Returns how many were taken (fewer when the buffer is full)."""
        mv = self.recv_buffer()
        n = min(len(mv), len(data))
        mv[:n] = data[:n]
        self.received(n, now_ms)
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
        while self.state != CLOSED and self._rs < self._re:
            rs = self._rs
            try:
                total = frame(rx, rs, self._re, self.max_packet_size)
            except ProtocolError as e:
                return self._fail(e)
            if total <= 0 or rs + total > self._re:
                return None  # incomplete
            b0 = rx[rs]
            ptype = b0 >> 4
            if (ptype == _PUBREC or ptype == _PUBREL or (ptype == _PUBLISH and b0 & 6)) \
                    and not self._room(_ACK_ROOM):
                return None  # no room for the ack: flush first
            self._rs = rs + total
            try:
                if self._handle(ptype, _p.decode(self._rxmv[rs:rs + total])):
                    return self._ev
            except ProtocolError as e:
                return self._fail(e)
        return None

    def _fail(self, err):
        """Protocol violation by the server: DISCONNECT with its reason code
        [MQTT-4.13.1-1], state CLOSED, ERROR event."""
        rc = getattr(err, "reason_code", 0x82)
        if self.state != CLOSED:
            try:
                self._append(_p.Disconnect(reason_code=rc, props=None), 0)
            except MQTTError:
                pass  # no room: close without it
        self.state = CLOSED
        ev = self._ev
        ev._clear(ERROR)
        ev.reason_code, ev.error = rc, err
        return ev

    def _handle(self, ptype, pkt):
        """Act on one decoded packet; True when self._ev was filled."""
        if self.state == CONNECTING and ptype != _CONNACK and ptype != _DISCONNECT:
            raise ProtocolError(0x82, "packet before CONNACK")  # [MQTT-3.2.0-1]
        if ptype == _PUBLISH:
            return self._on_publish(pkt)
        if ptype == _CONNACK:
            return self._on_connack(pkt)
        if ptype == _PINGRESP:
            return False  # activity already counted in received()
        fl = self._inflight
        pid = getattr(pkt, "packet_id", 0)
        if ptype == _PUBACK:
            i = fl.find(pid, WAIT_PUBACK)
            return i >= 0 and self._done(i, PUBLISH_DONE, pkt, pkt.reason_code, "PUBACK")
        if ptype == _PUBREC:
            i = fl.find(pid, WAIT_PUBREC)
            if i < 0:
                self._ack(_PUBREL, pid, 0x92)  # Packet Identifier not found
                return False
            rc = pkt.reason_code
            if rc >= 0x80:  # flow ends, no PUBREL [MQTT-4.3.3-4]
                return self._done(i, PUBLISH_DONE, pkt, rc, "PUBREC")
            fl.state[i] = WAIT_PUBCOMP | rc << 8  # keep 0x10 for PUBLISH_DONE
            fl.topic[i] = fl.payload[i] = None  # never resent after PUBREL [MQTT-4.3.3-6]
            self._ack(_PUBREL, pid, 0)
            return False
        if ptype == _PUBCOMP:
            i = fl.find(pid, WAIT_PUBCOMP)
            if i < 0:
                return False
            rc = pkt.reason_code
            return self._done(i, PUBLISH_DONE, pkt, rc if rc else fl.state[i] >> 8, "PUBCOMP")
        if ptype == _PUBREL:
            # answer PUBCOMP [MQTT-4.3.3-11]; the id is then free for a new message
            # [MQTT-4.3.3-12]
            self._ack(_PUBCOMP, pid, 0 if self._held.remove(pid) else 0x92)
            return False
        if ptype == _SUBACK or ptype == _UNSUBACK:
            sub = ptype == _SUBACK
            i = fl.find(pid, WAIT_SUBACK if sub else WAIT_UNSUBACK)
            if i < 0:
                return False
            if len(pkt.reason_codes) != fl.flags[i]:  # one per filter [MQTT-3.9.3-1]
                raise ProtocolError(0x82, "reason code count")
            rc = 0
            for c in pkt.reason_codes:
                if c >= 0x80:
                    rc = c
                    break
            return self._done(i, SUBSCRIBED if sub else UNSUBSCRIBED, pkt, rc,
                              "SUBACK" if sub else "UNSUBACK")
        if ptype == _DISCONNECT:
            self.state = CLOSED
            ev = self._ev
            ev._clear(DISCONNECTED)
            ev.packet, ev.reason_code, ev.props, ev.by_server = \
                pkt, pkt.reason_code, pkt.props, True
            if pkt.reason_code >= 0x80:
                ev.error = _rc_error("DISCONNECT", pkt.reason_code)
            return True
        # CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ from a server; AUTH without an
        # Authentication Method (enhanced auth is a later issue) [MQTT-4.12.0-6]
        raise ProtocolError(0x82, "unexpected packet type %d" % ptype)

    def _done(self, i, kind, pkt, rc, what):
        """Complete slot i: free its packet id and fill the event."""
        ev = self._ev
        ev._clear(kind)
        ev.packet, ev.packet_id, ev.reason_code, ev.props = \
            pkt, self._inflight.pid[i], rc, pkt.props
        if kind != PUBLISH_DONE:
            ev.reason_codes = pkt.reason_codes
        if rc >= 0x80:
            ev.error = _rc_error(what, rc)
        self._inflight.free(i)
        return True

    def _on_publish(self, pkt):
        qos = pkt.qos
        props = pkt.props
        if props and _pr.TOPIC_ALIAS in props and \
                props[_pr.TOPIC_ALIAS] > self.topic_alias_maximum:
            raise ProtocolError(0x94, "topic alias")  # [MQTT-3.3.2-9]; maps: later issue
        pid = pkt.packet_id
        if qos == 2:
            if pid in self._held:
                # re-sent before PUBREL: acknowledge, never deliver twice [MQTT-4.3.3-10]
                self._ack(_PUBREC, pid, 0)
                return False
            if not self._held.add(pid):
                raise ProtocolError(0x93, "receive maximum exceeded")  # [MQTT-3.3.4-9]
            self._ack(_PUBREC, pid, 0)  # ownership taken [MQTT-4.3.3-8]
        elif qos == 1:
            self._ack(_PUBACK, pid, 0)  # [MQTT-4.3.2-4]
        ev = self._ev
        ev._clear(MESSAGE)
        ev.packet, ev.packet_id, ev.props = pkt, pid, props
        return True

    def _on_connack(self, pkt):
        if self.state != CONNECTING:
            raise ProtocolError(0x82, "second CONNACK")  # [MQTT-3.2.0-2]
        ev = self._ev
        rc = pkt.reason_code
        props = pkt.props or _NO_PROPS
        self.reason_string = props.get(_pr.REASON_STRING)
        if rc >= 0x80:  # refused; the server closes the connection [MQTT-3.2.2-7]
            self.state = CLOSED
            ev._clear(ERROR)
            ev.packet, ev.reason_code, ev.props = pkt, rc, pkt.props
            ev.error = _rc_error("CONNACK", rc)
            return True
        if pkt.session_present and not self._has_state:
            # we hold no session state for the server to resume [MQTT-3.2.2-4]
            raise ProtocolError(0x82, "unexpected Session Present")
        g = props.get
        self.session_present = bool(pkt.session_present)
        self.server_keepalive = g(_pr.SERVER_KEEP_ALIVE)
        if self.server_keepalive is not None:
            self.keepalive_s = self.server_keepalive  # [MQTT-3.1.2-21]
            self._ka.set_period(self.server_keepalive)
        self.assigned_client_id = g(_pr.ASSIGNED_CLIENT_IDENTIFIER)
        if self.assigned_client_id:
            self.client_id = self.assigned_client_id  # reuse it to resume the session
        self.receive_maximum_out = g(_pr.RECEIVE_MAXIMUM, 65535)
        self.maximum_qos = g(_pr.MAXIMUM_QOS, 2)
        self.retain_available = g(_pr.RETAIN_AVAILABLE, 1) == 1
        self.server_max_packet_size = g(_pr.MAXIMUM_PACKET_SIZE, 0)
        self.server_topic_alias_maximum = g(_pr.TOPIC_ALIAS_MAXIMUM, 0)
        self.wildcard_available = g(_pr.WILDCARD_SUBSCRIPTION_AVAILABLE, 1) == 1
        self.sub_id_available = g(_pr.SUBSCRIPTION_IDENTIFIER_AVAILABLE, 1) == 1
        self.shared_available = g(_pr.SHARED_SUBSCRIPTION_AVAILABLE, 1) == 1
        if not self.session_present:
            self._discard_state()
        self._has_state = self.session_expiry != 0
        self.state = CONNECTED
        ev._clear(CONNECTED)
        ev.packet, ev.reason_code, ev.props = pkt, rc, pkt.props
        ev.session_present = self.session_present
        return True

    def _discard_state(self):
        """No session on the server: forget inbound QoS 2 ids and fail what was in
        flight (queued as events after CONNECTED) [MQTT-3.2.2-5]."""
        self._held.clear()
        fl = self._inflight
        for i in range(fl.size):
            if fl.pid[i]:
                st = fl.state[i] & 0xFF
                kind = PUBLISH_DONE if st <= WAIT_PUBCOMP else (
                    SUBSCRIBED if st == WAIT_SUBACK else UNSUBSCRIBED)
                err = MQTTError("session lost")
                err.reason_code = 0x80
                self._pending.append((kind, fl.pid[i], 0x80, err, False))
                fl.free(i)

    # ---- outbound -------------------------------------------------------------------

    def data_to_send(self):
        """memoryview of queued whole packets (possibly several), or None.

        Valid until sent(): while it is out, queued bytes are not moved.  Write all or
        part of it, then call sent(n)."""
        if self._ts == self._te:
            return None
        self._lent = True
        return self._txmv[self._ts:self._te]

    def sent(self, n, now_ms=None):
        """n bytes of data_to_send() were written (now_ms: time of the write, for keep
        alive; default: the last time the session was given)."""
        self._lent = False
        if n > 0:
            self._ts += n
            self._ka.on_tx(self._now if now_ms is None else now_ms)
        if now_ms is not None:
            self._now = now_ms
        if self._ts >= self._te:
            self._ts = self._te = 0

    @property
    def pending_bytes(self):
        """Bytes queued and not yet marked sent."""
        return self._te - self._ts

    def _room(self, n):
        """Make n bytes free at the tail of the transmit buffer if possible."""
        ts, te = self._ts, self._te
        if ts and not self._lent:
            if ts < te:
                self._txmv[0:te - ts] = self._txmv[ts:te]
            self._ts, self._te = 0, te - ts
        return len(self._tx) - self._te >= n

    def _check_fit(self, n, reserve):
        if self._te + n + reserve > len(self._tx):
            if self._ts == self._te and not reserve:
                raise MQTTError("packet of %d bytes exceeds tx_size" % n)
            raise BufferFull("transmit buffer full")
        self._te += n

    def _append(self, pkt, reserve):
        """Encode a packet object at the tail; keep ``reserve`` bytes free for acks."""
        self._room(0)
        try:
            n = _p.encode(pkt, self._txmv[self._te:])
        except _OVERFLOW:
            n = len(self._tx) + 1
        self._check_fit(n, reserve)

    def _ack(self, ptype, pid, rc):
        # room was checked before the packet was consumed (next_event)
        self._room(_ACK_ROOM)
        self._te += encode_ack(self._txmv[self._te:], ptype, pid, rc)

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

        For QoS 1/2 the session keeps references to topic/payload/props until
        PUBLISH_DONE (for resend): do not mutate them.  Raises MQTTError when not
        connected/connecting, no free slot, Receive Maximum quota used up
        [MQTT-3.3.4-7], QoS above the server's Maximum QoS [MQTT-3.2.2-11], retain not
        available [MQTT-3.2.2-14], or packet over the server's Maximum Packet Size
        [MQTT-3.1.2-24]; BufferFull when the transmit buffer has no room now."""
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
            self._room(0)
            try:
                n = encode_publish(self._txmv[self._te:], topic, payload, qos, retain,
                                   False, pid, props)
            except _OVERFLOW:
                n = len(self._tx) + 1
            if self.server_max_packet_size and n > self.server_max_packet_size:
                raise MQTTError("packet of %d bytes exceeds server maximum" % n)
            self._check_fit(n, _RESERVE)
        except Exception:
            if i >= 0:
                fl.free(i)
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
            self._append(cls(packet_id=fl.pid[i], topics=items, props=props), _RESERVE)
        except Exception:
            fl.free(i)
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
        """Keep alive: queue PINGREQ when due [MQTT-3.1.2-20]; LINK_DEAD (state CLOSED)
        when nothing arrived for 1.5 x keep alive.  Returns ms until tick() is next
        needed (3600000 when keep alive is off or the session is closed)."""
        self._now = now_ms
        if self.state == CLOSED:
            return IDLE_MS
        ka = self._ka
        connected = self.state == CONNECTED
        what = ka.check(now_ms, connected)
        if what == DEAD:
            self._close(LINK_DEAD, 0, None, False)
            return 0
        if what == PING and self._room(2):
            self._tx[self._te] = 0xC0  # PINGREQ [MQTT-3.12]
            self._tx[self._te + 1] = 0
            self._te += 2
            ka.pinged(now_ms)
        return ka.wait_ms(now_ms, connected)
