# lean5.session: a sans-IO MQTT v5 client session for a basic node (a sizing sketch of
# issue 11's core; bench/sketch/README.md).  Bytes in (recv_buffer, received), one event
# at a time out (next_event, details in attributes), packets out as memoryviews of one
# buffer (written by the caller before the next call); time is passed in, never read.
from mqtt5._compat import ticks_diff
from mqtt5.errors import MQTTError, ProtocolError

from . import codec
from .codec import publish as _put_publish

# the events of next_event() (public names; the private const()s cost no lookup)
_CONNACK = const(1)
_MESSAGE = const(2)
_PUBACK = const(3)
_SUBACK = const(4)
_PINGRESP = const(5)
_DISCONNECT = const(6)
CONNACK, MESSAGE, PUBACK, SUBACK, PINGRESP, DISCONNECT = 1, 2, 3, 4, 5, 6

_MALFORMED = const(0x81)
_PROTOCOL = const(0x82)
_TOO_LARGE = const(0x95)


class Session:
    """The client side of one MQTT v5 session: connect, QoS 0/1 both ways, subscribe,
    keep-alive, in-flight QoS 1 messages resent on resume [MQTT-4.4.0-1].

    After next_event(): ``rc`` (reason code), ``pid``, ``props`` (dict or None) and,
    for MESSAGE, ``topic``, ``payload`` (a memoryview valid until the next call),
    ``qos``, ``retain``; for SUBACK ``codes``.  After CONNACK the server's limits:
    ``quota`` (Receive Maximum left), ``max_qos``, ``retain_ok``, ``server_max``,
    ``keepalive`` (Server Keep Alive overrides ours [MQTT-3.2.2-21]), ``present``."""

    def __init__(self, client_id="", keepalive=60, clean_start=True, session_expiry=0,
                 will=None, username=None, password=None, max_packet_size=2048,
                 receive_maximum=16):
        if not 0 <= keepalive <= 65535 or not 0 <= session_expiry <= 0xFFFFFFFF or \
                not 0 < receive_maximum < 65536:
            raise ValueError("keepalive must be 0..65535, session_expiry 0..2**32-1, "
                             "receive_maximum 1..65535")
        if max_packet_size < 64:
            raise ValueError("max_packet_size must be >= 64")
        self.client_id = client_id
        self.ka_asked = keepalive
        self.clean = clean_start
        self.expiry = session_expiry
        self.will = will  # None or (topic, payload, qos, retain)
        self.user = username
        self.password = password
        self.max_in = max_packet_size
        self.recv_max = receive_maximum
        self.unacked = 0  # inbound QoS 1 not acknowledged yet
        self.tx = bytearray(128)  # packets out, built one at a time
        self.txv = memoryview(self.tx)
        self.rx = bytearray(128)  # packets in; grows to max_in
        self.rxv = memoryview(self.rx)
        self.rn = 0  # bytes held in rx
        self.used = 0  # bytes of rx the last event still refers to
        # QoS 1 PUBLISH sent and not acknowledged: pid -> (topic, payload, retain)
        self.inflight = {}
        self.last_pid = 0
        self.props = self.topic = self.payload = self.codes = None
        self.rc = self.pid = self.qos = 0
        self.retain = self.present = self.connected = False
        self.topic_s = self.topic_b = None
        self.ping_at = None  # when the PINGREQ awaiting its PINGRESP went out
        self.sent_at = 0

    # ---- packets out -------------------------------------------------------------

    def _room(self, n):
        if len(self.tx) < n:
            self.tx = bytearray(n)
            self.txv = memoryview(self.tx)
        return self.tx

    def _out(self, start, end, now_ms):
        self.sent_at = now_ms
        return self.txv[start:end]

    def connect(self, now_ms):
        """CONNECT (3.1); the session's server limits go back to their defaults."""
        w = self.will
        u, p = self.user, self.password
        buf = self._room(codec.size(24, self.client_id, *(w[:2] if w else ()),
                                    *(x for x in (u, p) if x is not None)))
        self.rn = self.used = self.unacked = 0
        self.quota, self.max_qos, self.retain_ok, self.server_max = 65535, 2, True, 0
        self.keepalive = self.ka_asked
        self.ping_at = None
        self.connected = False
        return self._out(*codec.connect(buf, self.client_id, self.ka_asked, self.clean,
                                       self.expiry, self.max_in, self.recv_max, w, u,
                                       p), now_ms)

    def publish(self, topic, payload, qos, retain, now_ms, pid=0):
        """PUBLISH (3.3) as a memoryview of the send buffer.  A QoS 1 message is kept
        until its PUBACK, its id in ``self.pid``.  ``pid``: resend that in-flight
        message with DUP set [MQTT-3.3.1-1]."""
        if qos > self.max_qos or qos > 1 or retain and not self.retain_ok:
            raise MQTTError("QoS %d%s not available" % (qos, " retained" if retain else ""))
        dup = again = 0
        if pid:  # (in flight already, counted in the quota)
            again = 1
            dup = 1 if self.present else 0
        elif qos:
            if not self.quota:
                raise MQTTError("no send quota")  # (the caller waits for a PUBACK)
            pid = self.last_pid
            while True:
                pid = pid % 65535 + 1
                if pid not in self.inflight:
                    break
            self.last_pid = pid
        tb = self.topic_b  # the topic's UTF-8, kept while the same str is published
        if topic is not self.topic_s:
            if not codec.topic_ok(topic):
                raise ValueError("bad topic name %r" % (topic,))
            tb = topic.encode()
            self.topic_s, self.topic_b = topic, tb
        buf = self.tx
        if len(buf) < len(tb) + len(payload) + 12:
            buf = self._room(len(tb) + len(payload) + 12)
        end = _put_publish(buf, 0x30 | dup << 3 | qos << 1 | (1 if retain else 0), tb,
                           payload, pid)
        if self.server_max and end > self.server_max:  # [MQTT-3.2.2-15]
            raise MQTTError("packet over the server's Maximum Packet Size")
        if qos and not again:
            self.inflight[pid] = (topic, payload, retain)
            self.quota -= 1
        self.pid = pid
        self.sent_at = now_ms
        return self.txv[:end]

    def resend(self, pid, now_ms):
        """An in-flight QoS 1 message again after a reconnect: with DUP in the
        resumed session [MQTT-4.4.0-1], as a new message (same id) in a new one."""
        t, p, r = self.inflight[pid]
        return self.publish(t, p, 1, r, now_ms, pid)

    def subscribe(self, filters, now_ms):
        """SUBSCRIBE of [(filter, options), ...] (3.8; options: codec.subscribe()); its
        packet id is ``self.pid``."""
        n = 5
        for f, o in filters:
            if not codec.filter_ok(f) or o & 3 > 1 or o > 0x2F:
                raise ValueError("bad filter %r or options %r" % (f, o))
            if o & 4 and f.startswith("$share/"):  # [MQTT-3.8.3-4]
                raise ValueError("No Local on a shared subscription")
            n += len(f) * 3 + 3
        self.last_pid = self.pid = self.last_pid % 65535 + 1
        return self._out(*codec.subscribe(self._room(n + 8), self.pid, filters), now_ms)

    def ack(self, pid, now_ms):
        """PUBACK for an inbound QoS 1 PUBLISH (3.4)."""
        self.unacked -= 1
        buf = self.tx
        buf[0:4] = b"\x40\x02\x00\x00"
        buf[2] = pid >> 8
        buf[3] = pid & 0xFF
        return self._out(0, 4, now_ms)

    def disconnect(self, rc, now_ms):
        """DISCONNECT with reason code rc (3.14)."""
        self.connected = False
        buf = self.tx
        buf[0:3] = b"\xe0\x01\x00"
        buf[2] = rc
        return self._out(0, 3, now_ms)

    def tick(self, now_ms):
        """(PINGREQ or None, ms until the next call is due) [MQTT-3.1.2-22]; MQTTError
        when a PINGRESP is over a keep-alive period late (3.1.2.10)."""
        ka = self.keepalive * 1000
        if not ka or not self.connected:
            return None, 60000
        if self.ping_at is not None:
            late = ticks_diff(now_ms, self.ping_at)
            if late >= ka:
                raise MQTTError("no PINGRESP within the keep-alive period")
            return None, ka - late
        idle = ticks_diff(now_ms, self.sent_at)
        if idle < ka:
            return None, ka - idle
        self.ping_at = now_ms
        self.tx[0:2] = b"\xc0\x00"
        return self._out(0, 2, now_ms), ka

    # ---- packets in --------------------------------------------------------------

    def recv_buffer(self):
        """Where the next bytes read go (received(n) after)."""
        if self.used == self.rn:  # all taken: the next packet starts at the front
            self.rn = self.used = 0
        return self.rxv[self.rn:]

    def received(self, n):
        self.rn += n

    def next_event(self):
        """The next event (CONNACK ... DISCONNECT), or 0 when a whole packet has not
        arrived yet.  ProtocolError carries the reason code to disconnect with."""
        rx = self.rx
        u = self.used
        if u:  # the last event's bytes go; what follows them moves to the front
            self.used = 0
            self.rn -= u
            if self.rn:
                rx[:self.rn] = rx[u:u + self.rn]
        if self.rn < 2:
            return 0
        mv = self.rxv
        n = mv[1]
        i = 2
        if n > 127:  # a Remaining Length over one byte (1.5.5)
            r = codec.get_vbi(mv, 1, self.rn)
            if r is None:
                return 0
            n, i = r
        end = i + n
        if end > self.max_in:  # what we told the server (3.1.2.11.4): 0x95
            raise ProtocolError(_TOO_LARGE, "packet over our Maximum Packet Size")
        if end > len(rx):  # the receive buffer grows once, to our Maximum Packet Size
            self.rx = bytearray(self.max_in)
            self.rx[:self.rn] = rx[:self.rn]
            self.rxv = memoryview(self.rx)
            return 0
        if end > self.rn:
            return 0
        self.used = end
        self.props = None
        b = rx[0]
        t = b >> 4
        if t == 3:
            return self._message(mv, b, i, end)
        if b != 0x20 and b != 0x40 and b != 0x90 and b != 0xD0 and b != 0xE0:
            raise ProtocolError(_MALFORMED if t in (2, 4, 9, 13, 14) else _PROTOCOL,
                                "unexpected packet 0x%02X" % b)
        if b == 0xD0:
            if n:
                raise ProtocolError(_MALFORMED, "PINGRESP with a body")
            self.ping_at = None
            return _PINGRESP
        if b == 0x20:
            return self._connack(mv, i, end)
        self.rc = 0
        if b == 0xE0:
            if self.connected and n:
                self.rc = mv[i]
                if n > 1:
                    self.props = codec.get_props(mv, i + 1, end, 8)[0]
            self.connected = False
            return _DISCONNECT
        if n < 2 or not self.connected:
            raise ProtocolError(_MALFORMED if n < 2 else _PROTOCOL, "bad acknowledgement")
        self.pid = pid = mv[i] << 8 | mv[i + 1]
        if b == 0x90:
            self.props, i = codec.get_props(mv, i + 2, end, 4)
            self.codes = bytes(mv[i:end])
            return _SUBACK
        if pid not in self.inflight:  # (spec 4.3.2): no such QoS 1 PUBLISH in flight
            raise ProtocolError(_PROTOCOL, "PUBACK for unknown packet id %d" % pid)
        if n > 2:
            self.rc = mv[i + 2]
            if n > 3:
                self.props = codec.get_props(mv, i + 3, end, 4)[0]
        del self.inflight[pid]
        self.quota += 1
        return _PUBACK

    def _connack(self, mv, i, end):
        if self.connected or end - i < 3 or mv[i] > 1:  # [MQTT-3.2.2-1]
            raise ProtocolError(_PROTOCOL if self.connected else _MALFORMED, "bad CONNACK")
        self.present = bool(mv[i])
        self.rc = mv[i + 1]
        p, _ = codec.get_props(mv, i + 2, end, 1)
        self.props = p
        if self.rc >= 0x80:
            return _CONNACK
        if self.present and self.clean:  # [MQTT-3.2.2-2]
            raise ProtocolError(_PROTOCOL, "session present after a clean start")
        if p:
            g = p.get
            self.quota = g(0x21, 65535)
            self.max_qos = g(0x24, 2)
            self.retain_ok = g(0x25, 1) == 1
            self.server_max = g(0x27, 0)
            self.keepalive = g(0x13, self.keepalive)
            if not self.quota or g(0x24, 0) > 1 or g(0x25, 1) > 1 or 0x27 in p and \
                    not self.server_max:  # spec 3.2.2.3.3, .4, .5, .6
                raise ProtocolError(_PROTOCOL, "bad CONNACK property")
            self.client_id = g(0x12, self.client_id)
        # what is in flight goes again (resend()): with DUP if the session was
        # resumed, else as new messages under the same ids
        self.quota -= len(self.inflight)
        self.connected = True
        return _CONNACK

    def _message(self, mv, b, i, end):
        qos = b >> 1 & 3
        if qos > 1 or b & 8 and not qos:  # [MQTT-3.3.1-2]; QoS 2 was never granted
            raise ProtocolError(_MALFORMED if qos == 3 or b & 8 else _PROTOCOL,
                                "bad PUBLISH flags")
        if not self.connected:
            raise ProtocolError(_PROTOCOL, "PUBLISH before CONNACK")
        topic, i = codec.get_str(mv, i, end)
        pid = 0
        if qos:
            if i + 2 > end:
                raise ProtocolError(_MALFORMED, "PUBLISH without a packet id")
            pid = mv[i] << 8 | mv[i + 1]
            i += 2
            if not pid:
                raise ProtocolError(_MALFORMED, "packet id 0")  # [MQTT-2.2.1-3]
            self.unacked += 1
            if self.unacked > self.recv_max:  # [MQTT-3.3.4-9]
                raise ProtocolError(0x93, "over our Receive Maximum")
        p, i = codec.get_props(mv, i, end, 2)
        if p and 0x23 in p:  # we allow no Topic Alias [MQTT-3.3.2-9]
            raise ProtocolError(0x94, "topic alias")
        if not codec.topic_ok(topic):  # [MQTT-3.3.2-1, -2]
            raise ProtocolError(_PROTOCOL, "bad topic name")
        self.topic, self.pid, self.qos, self.props = topic, pid, qos, p
        self.retain = bool(b & 1)
        self.payload = mv[i:end]
        return _MESSAGE
