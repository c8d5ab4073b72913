"""Sans-IO MQTT v5 client session (layer 2): bytes in, events out, bytes to send out.

No sockets, no clock, no asyncio: the adapter passes time in as ``now_ms``, the
wrapping ``_compat.ticks_ms()``; times are compared only through ``ticks_diff()``.

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
receive buffer: no event queue, and a MESSAGE payload is a memoryview into
that buffer, valid until the next ``recv_buffer()``/``feed()``.  Drain
``next_event()`` until it returns None after ``received()``, ``tick()`` and ``sent()``
(it also pauses, returning None, while the transmit buffer has no room for an ack the
next packet needs: flush, then drain again).  Every connection ends with exactly one
DISCONNECTED, LINK_DEAD or ERROR event (unless the adapter calls connection_lost()).

Memory: two buffers (128 B at first, doubled on demand up to ``rx_size``/``tx_size``),
in-flight slots (made on demand up to ``max_inflight``) and ONE reusable Event: 3.2 KB
for a new Session on the unix port (host_tests/scripts/session_mem.py). Each protocol
feature lives in its own module (docs/design.md).
"""

import mqtt5.inbound as _in
import mqtt5.outbound as _out
import mqtt5.txbuf as _tb
from .outbound import find as _find
from .wire import frame as _frame
import mqtt5.codec as _c
from .errors import ProtocolError
import mqtt5.rxbuf as _rxb

_DISCONNECTED = const(6)
_PUBLISH_DONE = const(3)
_CLOSED = const(0)
_ESTABLISHED = const(2)
_ACK_ROOM = const(8)  # txbuf's
_WAIT_PUBACK = const(1)  # outbound.py's slot kinds
_WAIT_SUBACK = const(4)
_WAIT_UNSUBACK = const(5)
_SUBSCRIBE = const(8)
_UNSUBSCRIBE = const(10)
_H_N = const(11)  # slots of the receive list's held ids, acks and events (inbound.py)
_H_PENDING = const(12)
_F_PUBLISHES = const(6)  # slots of the in-flight table (outbound.py)
_F_QUEUED = const(7)
_TX_MV = const(1)  # slots of the transmit buffer's list (txbuf.py)
_TX_HEAD = const(2)
_TX_TAIL = const(3)
_TX_SPOS = const(5)
_TX_LENT = const(6)
_TX_BLOCKED = const(7)
_POS_MASK = const(0x3FFFFFFF)  # the transmit stream's positions wrap (txbuf.py)

_RX_BUF = const(0)  # slots of the receive buffer's list (rxbuf.py)
_RX_MV = const(1)
_RX_START = const(2)
_RX_END = const(3)
_INITIAL = const(128)  # rxbuf's and txbuf's

_KA_TX = const(1)  # slots of the keep-alive state (keepalive.py)
_KA_RX = const(2)
_KA_PING_OUT = const(3)
_KA_ACK_TIMEOUT = const(4)
_KA_ACK_SINCE = const(5)
_KA_NOW = const(6)


def __getattr__(name):
    if name == "BufferFull":  # API; the module's dict keeps no name it need not
        return _tb.BufferFull  # (allocates nothing: a full buffer's except clauses)
    if name == "SessionLost":  # mqtt5.session_lost, loaded on use
        from .session_lost import SessionLost

        return SessionLost
    from mqtt5.names import SESSION  # event kinds, states, subscribe() options
    import mqtt5.packets as _p

    v = globals()[name] = _p.named(SESSION, name, False)  # kept: an adapter's loop resolves once
    return v


# control packet types that need an ack from us [MQTT-2.1.2]
_PUBLISH = const(3)
_PUBACK = const(4)
_PUBREC = const(5)
_PUBREL = const(6)
_AUTH = const(15)


class Session:
    """MQTT v5 client session state machine (sans-IO).

    Constructor arguments map to CONNECT fields/properties [MQTT-3.1.2]:
    client_id, keepalive (s), clean_start, session_expiry (s), receive_maximum (our
    inbound QoS>0 quota, 1..65535; it bounds the held QoS 2 ids, made on demand),
    max_packet_size (what we accept; at most rx_size, the default), topic_alias_maximum
    (sizes the inbound alias table), request_response_info, request_problem_info,
    user_properties (list of (k, v)), username (str), password (bytes, str as UTF-8,
    or a callable returning one, called at every connect(); TypeError otherwise),
    will (a ``mqtt5.Will``, or any object with its topic, payload, qos, retain and
    props: the Will properties).
    Buffers: rx_size/tx_size cap the receive/transmit buffer (largest packet in/out;
    starts at 128 B, doubles when a packet needs it), max_inflight (slots for
    unacknowledged QoS 1/2 PUBLISH, SUBSCRIBE, UNSUBSCRIBE; ids not reused before completion).
    strict_receive_maximum (default True): a server sending more unacknowledged QoS
    1/2 PUBLISH than receive_maximum gets DISCONNECT 0x93 [MQTT-3.3.4-9]; False
    tolerates it (acked, counted in receive_maximum_exceeded: Debian's Mosquitto
    2.0.11 bursts over the quota), for QoS 2 up to 512 ids held beyond
    receive_maximum (4 B each on 32-bit), 0x93 past that.
    topic_alias_out (default 0: off): outbound Topic Aliases, assigned automatically
    (least recently used replaced) within the server's Topic Alias Maximum; 8 suits a
    node (about 100 B).  Opt-in: a repeated topic then goes out empty on the wire.
    ack_timeout_ms (default 0: off): while something we sent waits for its
    acknowledgement, a connection that acknowledges nothing for this long ends with
    LINK_DEAD (ev.error "ack timeout: ..."): a reconnect resends [MQTT-4.4.0-1].
    auth_method (str) and authenticator (an object with start()/step(data), optional
    finish(data); see mqtt5.auth): enhanced authentication (spec 4.12).

    After CONNACK the server's limits are attributes: server_keepalive (None if not
    sent), assigned_client_id, receive_maximum_out (server Receive Maximum),
    maximum_qos, retain_available, server_max_packet_size (0: no limit),
    server_topic_alias_maximum, wildcard_available, sub_id_available,
    shared_available, session_present, reason_string, response_information,
    server_reference, session_expiry_granted (the server's Session Expiry Interval if it
    sent one, else ours).  ``keepalive_s`` is the period in use (Server Keep Alive
    overrides ours [MQTT-3.2.2-21]).  ``server_reference`` is also set by a refused
    CONNACK or a server DISCONNECT (0x9C Use another server / 0x9D Server moved).
    """

    _aout = None  # OutAliases, on the instance only with topic_alias_out (a spare slot
    # in the instance's dict, whose 47-slot table a method lookup scans when it is full)

    def __init__(self, client_id="", keepalive=60, clean_start=True, session_expiry=0,
                 receive_maximum=16, max_packet_size=None, topic_alias_maximum=0,
                 request_response_info=False, request_problem_info=True,
                 user_properties=None, username=None, password=None, will=None,
                 rx_size=2048, tx_size=2048, max_inflight=16, topic_alias_out=0,
                 auth_method=None, authenticator=None, strict_receive_maximum=True,
                 ack_timeout_ms=0):
        v = (keepalive, session_expiry, receive_maximum, max_inflight, rx_size, tx_size,
             max_packet_size, topic_alias_out, topic_alias_maximum, ack_timeout_ms)
        for i in range(len(v)):  # (a float passed the range checks, to fail at connect)
            if v[i] is not None and not isinstance(v[i], int):
                raise TypeError("%s must be an int" % (
                    "keepalive session_expiry receive_maximum max_inflight rx_size tx_size "
                    "max_packet_size topic_alias_out topic_alias_maximum ack_timeout_ms"
                ).split()[i])
        if max_inflight < 1 or rx_size < 64 or tx_size < 64 or (max_packet_size or 0) < 0:
            raise ValueError("max_inflight must be >= 1, rx_size and tx_size >= 64, "
                             "max_packet_size >= 0 (None or 0: rx_size)")
        if not (0 <= (session_expiry or 0) <= 0xFFFFFFFF and 0 <= (topic_alias_out or 0)
                <= 0xFFFF and 0 <= (topic_alias_maximum or 0) <= 0xFFFF):  # (None: 0)
            raise ValueError("session_expiry must be 0..2**32-1, topic_alias_maximum and "
                             "topic_alias_out 0..65535")
        if not isinstance(client_id, (str, bytes)) or not (will is None or hasattr(will, "qos")):
            raise TypeError("client_id must be a str, will a mqtt5.Will or None")
        self.client_id = client_id
        self.keepalive = keepalive
        self.clean_start = clean_start
        self.session_expiry = session_expiry
        if not 0 < receive_maximum <= 65535:  # 0 is a Protocol Error (spec 3.1.2.11.3)
            raise ValueError("receive_maximum must be 1..65535")
        self.receive_maximum = receive_maximum
        self.strict_receive_maximum = strict_receive_maximum
        self.receive_maximum_exceeded = 0  # QoS 1/2 over the quota, tolerated (not strict)
        if not max_packet_size or max_packet_size > rx_size:
            max_packet_size = rx_size  # a packet must fit the receive buffer
        self.max_packet_size = max_packet_size
        self.topic_alias_maximum = topic_alias_maximum
        self.request_response_info = request_response_info
        self.request_problem_info = request_problem_info
        self.user_properties = user_properties
        if username is not None and not isinstance(username, str):
            raise TypeError("username must be str")
        self.username = username
        self.password = _out.password(password, "password must be bytes, str or a callable")
        self.will = will
        if (auth_method is None) != (authenticator is None):
            raise ValueError("auth_method and authenticator go together")
        self.auth_method = auth_method
        self.authenticator = authenticator
        b = bytearray(_INITIAL if rx_size > _INITIAL else rx_size)
        # the receive buffer (rxbuf.py), the inbound topic aliases (aliases.py), the
        # held QoS 2 ids and unwritten acks, their lists made by the first, and the
        # rare events from tick()/disconnect()/session loss, a list made by the first (a
        # connection's end, at the latest) (inbound.py)
        self._rx = [b, memoryview(b), 0, 0, rx_size,
                    [None] * topic_alias_maximum if topic_alias_maximum else (),
                    receive_maximum, (), 0, (), 0, 0, None]
        b = bytearray(_INITIAL if tx_size > _INITIAL else tx_size)
        self._tx = [b, memoryview(b), 0, 0, tx_size, 0, False, False, {}]  # (txbuf.py)
        # the in-flight table (outbound.py): its six lists made by the first slot (a node
        # that publishes only QoS 0 keeps none)
        self._inflight = [(), (), (), (), (), (), 0, 0, 0, 0, max_inflight, False, False, 0]
        if topic_alias_out:  # outbound aliases (aliases.py): loaded only when asked for
            from .aliases import OutAliases
            self._aout = OutAliases(topic_alias_out)
        if not 0 <= keepalive <= 65535:  # a Two Byte Integer of seconds (3.1.2.10)
            raise ValueError("keepalive must be 0..65535")
        if not 0 <= ack_timeout_ms <= 86400000:  # (ticks_diff() holds 6.2 days at most)
            raise ValueError("ack_timeout_ms must be 0..86400000 (a day)")
        self._ka = [0, 0, 0, False, ack_timeout_ms, None, 0]  # mqtt5.keepalive's state
        self._ev = _in.Event()
        self._ev._clear(0)
        self.state = _CLOSED
        _in.limits(self, {})  # (what a new connection starts with)

    def __getattr__(self, name):
        """Two computed, read-only attributes: ``is_connected``, True between CONNACK
        0x00 and the end of the connection; ``inflight_count``, the unacknowledged
        QoS 1/2 PUBLISH packets (the server's Receive Maximum quota in use)."""
        # (not properties: a class with one makes MicroPython look the name up in the
        # class at every attribute store and method call on its instances)
        if name == "is_connected":
            return self.state == _ESTABLISHED
        if name == "inflight_count":
            return self._inflight[_F_PUBLISHES]
        raise AttributeError(name)

    def send_quota(self):
        """How many more QoS 1/2 publish() calls the server's Receive Maximum allows
        now [MQTT-3.3.4-7] (0: wait for a PUBLISH_DONE); 65535 before CONNACK."""
        n = self.receive_maximum_out - self._inflight[_F_PUBLISHES]
        return n if n > 0 else 0

    def pending_bytes(self):
        """Bytes queued and not yet marked sent."""
        return self._tx[_TX_TAIL] - self._tx[_TX_HEAD]

    # ---- connection lifecycle -------------------------------------------------------

    # connect(now_ms, clean_start=None): a new transport connection, CONNECT queued:
    # mqtt5/outbound.py, the method itself
    connect = _out.connect

    def connection_lost(self, now_ms=None):
        """The transport closed under us: state CLOSED, no event.  In-flight slots are
        kept: the next connect(clean_start=False) resends them if CONNACK says Session
        Present 1, else reports them lost (see Event)."""
        self.state = _CLOSED
        rx = self._rx
        rx[_RX_START] = rx[_RX_END] = 0

    def disconnect(self, reason_code=0, props=None):
        """Queue DISCONNECT [MQTT-3.14] with reason code and props (e.g. reason string);
        state CLOSED, a DISCONNECTED event (by_server False) follows.  Flush
        data_to_send() then close the transport [MQTT-3.14.4-2].  ValueError, nothing
        sent, for a code only a server sends (spec 3.14.2.1), or a Session Expiry
        Interval set when CONNECT's was 0 (spec 3.14.2.2.2: the server would take it
        as a Protocol Error, and publish the Will)."""
        if self.state == _CLOSED:
            return
        # 0x00 and no props: the 2-byte form (3.14.2.1); else Reason String / User
        # Property go first if over the server's Maximum Packet Size [MQTT-3.14.2-3]
        if reason_code or props or not _tb.short(self._tx, 0xE0):
            import mqtt5.packets.control as _pc  # (the checks: there, loaded on use)
            import mqtt5.backlog as _bl  # (its writer of packet objects)

            _bl.fit(self, _pc.ours(self, reason_code, props))
        self.state = _CLOSED
        _out.post(self, (_DISCONNECTED, 0, reason_code, None, False, None))

    # ---- inbound --------------------------------------------------------------------

    def recv_buffer(self):
        """memoryview of the free space of the receive buffer, to readinto().

        Moves a partial packet to the front first, which invalidates MESSAGE payload
        views handed out earlier.  Empty when the buffer is full of unprocessed
        packets: drain next_event() first."""
        rx = self._rx
        if rx[_RX_START] == rx[_RX_END]:  # drained, the usual: free() inline
            rx[_RX_START] = rx[_RX_END] = 0
            return rx[_RX_MV]
        return _rxb.free(rx)

    def received(self, n, now_ms):
        """n bytes were written into recv_buffer(); any bytes count as link activity."""
        ka = self._ka  # (the time is a slot, not an attribute: stored faster)
        ka[_KA_NOW] = now_ms
        if n > 0:
            self._rx[_RX_END] += n
            ka[_KA_RX] = now_ms  # the link is alive, an outstanding ping answered
            ka[_KA_PING_OUT] = False

    # feed(data, now_ms) -> bytes taken, for tests and adapters without readinto():
    # mqtt5/rxbuf.py, the method itself
    feed = _rxb.feed

    def next_event(self):
        """Parse the next complete packet and return the (reused) Event, or None.

        Acknowledgements the session owes (PUBACK, PUBREC, PUBREL, PUBCOMP) are queued
        here, so drain until None after received(), tick() and sent().  None also
        when the transmit buffer lacks room for such an ack (or, before an AUTH from
        the server, is not empty): flush, then call again."""
        rx = self._rx
        if rx[_H_PENDING]:
            k, pid, rc, err, by_server, pkt = rx[_H_PENDING].pop(0)
            ev = self._ev
            ev._clear(k)
            ev.packet_id, ev.reason_code, ev.error, ev.by_server = pid, rc, err, by_server
            ev.packet = pkt
            return ev
        fl = self._inflight
        if fl[_F_QUEUED] and self.state == _ESTABLISHED:
            _out.pump(self)  # an ack may have freed send quota
            if rx[_H_PENDING]:
                return self.next_event()
        if rx[_RX_START] >= rx[_RX_END]:  # nothing buffered (the usual last call of a drain)
            return None
        tx = self._tx
        while self.state != _CLOSED:
            try:
                s0, e = rx[_RX_START], rx[_RX_END]
                if s0 >= e:
                    return None
                buf = rx[_RX_BUF]
                b0 = buf[s0]
                # the packet's length: one byte of Remaining Length inline, the rest in
                # wire.frame (0x81 for a bad length, 0x95 over max_packet_size)
                total = buf[s0 + 1] + 2 if e - s0 > 1 else 0
                if total > 0x81 or not total or total > self.max_packet_size:
                    total = _frame(buf, s0, e, self.max_packet_size)
                if not 0 < total <= e - s0:
                    _c.check_first(b0)  # still arriving: refuse a bad first byte now
                    return None
                # the two commonest packets, acted on in the buffer without a packet
                # object: a PUBACK without properties (spec 3.4.2.1), unless its packet
                # id is 0 or its code one PUBACK may not carry (decoded then: it fails
                # there), and a PINGRESP (its activity was counted in received())
                if b0 == 0x40 and total < 6 and self.state == _ESTABLISHED:
                    pid = buf[s0 + 2] << 8 | buf[s0 + 3] if total > 3 else 0
                    rc = buf[s0 + 4] if total == 5 else 0
                    if pid and (not rc or rc == 0x10 or _c.rc_allowed(rc, _PUBACK)):
                        # (0x10 No matching subscribers: the common one, Table 2-6)
                        rx[_RX_START] = s0 + total
                        i = _find(fl, pid, _WAIT_PUBACK)  # (an id we do not wait on
                        if i >= 0:  # is ignored)
                            return _in.complete(self, i, _PUBLISH_DONE, None, rc, "PUBACK")
                        continue
                if b0 == 0xD0 and total == 2 and self.state == _ESTABLISHED:
                    rx[_RX_START] = s0 + 2
                    continue
                ptype = b0 >> 4
                if (ptype == _PUBREC or ptype == _PUBREL or (ptype == _PUBLISH and b0 & 6)) \
                        and not _tb.room(tx, _ACK_ROOM):
                    return None  # no room for the ack: flush first
                if ptype == _AUTH and tx[_TX_TAIL] != tx[_TX_HEAD]:
                    return None  # the AUTH answer gets the whole buffer: flush first
                rx[_RX_START] = s0 + total
                if _in.handle(self, b0, rx[_RX_MV][s0:s0 + total]):
                    return self._ev
            except ProtocolError as err:  # DISCONNECT (mqtt5.backlog, loaded on use)
                return __import__("mqtt5.backlog").backlog.violation(self, err)
        return None

    # ---- outbound -------------------------------------------------------------------

    def data_to_send(self):
        """memoryview of queued whole packets (possibly several), or None.

        Valid until sent(): while it is out, queued bytes are not moved.  Write all or
        part of it, then call sent(n)."""
        tx = self._tx
        if tx[_TX_HEAD] == tx[_TX_TAIL]:
            return None
        tx[_TX_LENT] = True
        return tx[_TX_MV][tx[_TX_HEAD]:tx[_TX_TAIL]]

    def sent(self, n, now_ms=None):
        """n bytes of data_to_send() were written (now_ms: time of the write, for keep
        alive; default: the last time the session was given).  True when a resend
        backlog exists and was pumped (it may have queued more): then drain
        next_event() and check data_to_send() again."""
        ka = self._ka
        if now_ms is not None:
            ka[_KA_NOW] = now_ms
        tx = self._tx  # n bytes of the lent view were written (txbuf.py)
        tx[_TX_LENT] = False
        tx[_TX_HEAD] += n
        tx[_TX_SPOS] = (tx[_TX_SPOS] + n) & _POS_MASK
        if tx[_TX_HEAD] >= tx[_TX_TAIL]:
            tx[_TX_HEAD] = tx[_TX_TAIL] = 0
        if n > 0:
            ka[_KA_TX] = ka[_KA_NOW]
            if ka[_KA_ACK_TIMEOUT] and ka[_KA_ACK_SINCE] is None and \
                    _out.awaiting(self._inflight):
                ka[_KA_ACK_SINCE] = ka[_KA_NOW]  # an acknowledgement is awaited from now
            rx = self._rx
            if rx[_H_N]:
                _in.acks_pending(rx, tx[_TX_SPOS])  # forget acks now written
            if self._inflight[_F_QUEUED]:
                tx[_TX_BLOCKED] = False
                _out.pump(self)  # room for the resend backlog
                return True
        return False

    # publish(topic, payload, qos=0, retain=False, props=None, alias=True) -> packet id:
    # mqtt5/outbound.py, the method itself (one call fewer on the hot path)
    publish = _out.publish

    def subscribe(self, topics, props=None):
        """Queue SUBSCRIBE for topics = [(filter, options), ...]; returns the packet id;
        SUBSCRIBED follows with one reason code per filter.

        options [MQTT-3.8.3.1]: QoS (bits 0-1) | NO_LOCAL | RETAIN_AS_PUBLISHED |
        retain handling << RETAIN_HANDLING_SHIFT.  props: e.g. Subscription Identifier."""
        return _out.request(self, _WAIT_SUBACK, _SUBSCRIBE, topics, props)

    def unsubscribe(self, filters, props=None):
        """Queue UNSUBSCRIBE for filters = [filter, ...]; returns the packet id;
        UNSUBSCRIBED follows with one reason code per filter."""
        return _out.request(self, _WAIT_UNSUBACK, _UNSUBSCRIBE, filters, props)

    def reauthenticate(self):
        """Start a re-authentication (spec 4.12.1): queue AUTH 0x19 with our
        Authentication Method and ``authenticator.start()`` data; AUTH 0x18 rounds
        follow through ``authenticator.step()``, and REAUTHENTICATED on the server's
        AUTH 0x00 (a failure: the server's DISCONNECT).  MQTTError without an
        auth_method [MQTT-4.12.0-7], when not connected, or while one is running."""
        import mqtt5.auth as _auth
        _auth.reauthenticate(self)

    # ---- time -----------------------------------------------------------------------

    # tick(now_ms) -> ms until it is needed again: keep alive, mqtt5/keepalive.py, the
    # method itself (imported into the class: the module's dict keeps no name for it)
    from .keepalive import tick
