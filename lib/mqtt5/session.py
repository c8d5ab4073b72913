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

from .errors import MQTTError, ProtocolError

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


class Session:
    """MQTT v5 client session state machine (sans-IO).

    Constructor arguments map to CONNECT fields/properties [MQTT-3.1.2]:
    client_id, keepalive (s), clean_start, session_expiry (s), receive_maximum (our
    inbound QoS>0 quota, also bounds held QoS 2 packet ids), max_packet_size (what we
    accept; default and upper bound: rx_size), topic_alias_maximum,
    request_response_info, request_problem_info, user_properties (list of (k, v)),
    username (str), password (bytes/str), will (a ``mqtt5.packets`` Will object, passed
    through to Connect.will).
    Buffers: rx_size (receive buffer = largest inbound packet), tx_size (transmit buffer =
    largest outbound packet), max_inflight (slots for unacknowledged QoS 1/2 PUBLISH,
    SUBSCRIBE and UNSUBSCRIBE).

    After CONNACK the server's limits are attributes: server_keepalive,
    assigned_client_id, receive_maximum_out (server Receive Maximum), maximum_qos,
    retain_available, server_max_packet_size, server_topic_alias_maximum,
    wildcard_available, sub_id_available, shared_available, session_present.
    """

    def __init__(self, client_id="", keepalive=60, clean_start=True, session_expiry=0,
                 receive_maximum=16, max_packet_size=None, topic_alias_maximum=0,
                 request_response_info=False, request_problem_info=True,
                 user_properties=None, username=None, password=None, will=None,
                 rx_size=2048, tx_size=2048, max_inflight=16):
        raise NotImplementedError

    # ---- connection lifecycle ----
    def connect(self, now_ms):
        """Start a new transport connection: reset buffers, queue CONNECT; state CONNECTING."""

    def connection_lost(self, now_ms=None):
        """The transport closed under us: state CLOSED; in-flight state is kept for the
        next connect() (session resumption is a later issue)."""

    def disconnect(self, reason_code=0, props=None):
        """Queue DISCONNECT (reason code, props e.g. {REASON_STRING: ...}); state CLOSED.
        Flush data_to_send() then close the transport."""

    @property
    def is_connected(self):
        """True between CONNACK 0x00 and the end of the connection."""

    # ---- inbound ----
    def recv_buffer(self):
        """memoryview of the free space of the receive buffer, to readinto().

        Empty when the buffer holds only unprocessed packets: drain next_event() first.
        Invalidates views (MESSAGE payloads) handed out earlier."""

    def received(self, n, now_ms):
        """n bytes were written into recv_buffer(); counts as link activity."""

    def feed(self, data, now_ms):
        """Copy bytes into the receive buffer (tests, or adapters without readinto)."""

    def next_event(self):
        """Parse the next complete packet and return the (reused) Event, or None.

        Acks the session owes (PUBACK, PUBREC, PUBREL, PUBCOMP) are queued here.  None
        also when the transmit buffer lacks room for such an ack: flush and call again."""

    # ---- outbound ----
    def data_to_send(self):
        """memoryview of queued whole packets (possibly several), or None.

        Valid until sent(); write all or part of it, then call sent(n)."""

    def sent(self, n, now_ms=None):
        """n bytes of data_to_send() were written (now_ms: time of the write, for keep
        alive; default: the last time the session was given)."""

    def publish(self, topic, payload, qos=0, retain=False, props=None):
        """Queue PUBLISH; returns the packet id (0 for QoS 0).

        For QoS 1/2 the session keeps references to topic/payload/props until
        PUBLISH_DONE (needed for resend): do not mutate them.  Raises MQTTError when not
        connected/connecting, no free slot or Receive Maximum quota, QoS above the
        server's Maximum QoS, retain not available, or packet over the server's Maximum
        Packet Size; raises BufferFull when the transmit buffer has no room now."""

    def subscribe(self, topics, props=None):
        """Queue SUBSCRIBE for topics = [(filter, options_int), ...]; returns packet id.

        options bits [MQTT-3.8.3.1]: QoS (0-1), No Local 0x04, Retain As Published 0x08,
        Retain Handling (4-5)."""

    def unsubscribe(self, filters, props=None):
        """Queue UNSUBSCRIBE for filters = [filter, ...]; returns packet id."""

    # ---- time ----
    def tick(self, now_ms):
        """Keep alive: queue PINGREQ when needed, report LINK_DEAD; returns ms until the
        session next needs tick() (a large number when keep alive is off)."""


class BufferFull(MQTTError):
    """The transmit buffer has no room now: flush data_to_send() and retry."""
