"""The session's transmit buffer: whole packets appended at the tail, written out
from the head.

A packet is encoded straight into the free tail, so a packet is either wholly queued or
not at all, and several packets can go out in one write.  High-water mark: it starts at
128 bytes (or its cap, tx_size, when smaller) and, when a packet does not fit the free
tail, grows by doubling up to the cap; it never shrinks.  Growing copies the queued
bytes to the same offsets of the new bytearray, and while a view of the queued bytes
is lent to the adapter (``lent``: Session.data_to_send() until sent(), which read and
move ``head``/``tail`` themselves on the hot path) queued bytes are never moved (the lent
view keeps the old bytearray alive while it is written).  Only at the cap can a packet
find no room (BufferFull).
"""

from .errors import MQTTError, ProtocolError
import mqtt5.packets as _p
from .packets.publish import encode_publish, encode_ack, publish_size
from .wire import vbi_size, to_utf8, topic_name_ok
from .rxbuf import INITIAL

_TOO_LARGE = const(0x95)  # what the codec raises when a packet does not fit a buffer
ACK_ROOM = const(8)  # one ack with a reason code and no props is 5 bytes
_TOPICS = const(4)  # str topics whose UTF-8 is kept (by identity)


class BufferFull(MQTTError):
    """The transmit buffer has no room now: flush data_to_send(), call sent(), retry."""


def too_large(what, n, limit):
    """The MQTTError refusing a packet above the server's Maximum Packet Size
    [MQTT-3.2.2-15]; ``.reason_code`` 0x95."""
    e = MQTTError("0x95 Packet too large: %s of %d bytes exceeds the server's Maximum "
                  "Packet Size %d" % (what, n, limit))
    e.reason_code = _TOO_LARGE
    return e


class TxBuffer:
    """Transmit queue of encoded packets, growing up to ``cap`` bytes."""

    def __init__(self, cap):
        self.cap = cap
        self.buf = bytearray(INITIAL if cap > INITIAL else cap)
        self.mv = memoryview(self.buf)
        self.head = self.tail = 0
        self.lent = False
        self.spos = 0  # bytes written on this connection, masked to 30 bits (session.py)
        self.blocked = False  # a resend did not fit: backlog.pump() waits for sent()
        self._utf8 = [None] * (2 * _TOPICS)  # str topic, its UTF-8, ... (last used)
        self._ui = 0

    def room(self, n):
        """Move queued bytes to the front if allowed, grow if needed (up to the cap);
        True when n bytes are free at the tail."""
        h, t = self.head, self.tail
        if h and not self.lent:
            if h < t:
                self.mv[0:t - h] = self.mv[h:t]  # overlapping move: memmove
            self.head, self.tail = 0, t - h
        return len(self.buf) - self.tail >= n or self._grow(n)

    def _grow(self, n):
        # Reallocate to min(cap, max(2 * size, tail + n)), the queued bytes at the same
        # offsets (head/tail and a lent view stay valid); True when n bytes are then
        # free.  Not for a packet that could never fit (n over the cap).  A fragmented
        # heap may have no block that large but one of tail + n: then that.  With no
        # block at all and only queued bytes in the way, False: the caller flushes
        # (BufferFull, or an ack waits) and the buffer stays as it is.
        size = len(self.buf)
        if size >= self.cap or n > self.cap:
            return False
        need = self.tail + n
        grown = min(self.cap, max(2 * size, need))
        try:
            b = bytearray(grown)
        except MemoryError:
            try:
                if need == grown:
                    raise
                b = bytearray(need)
                grown = need
            except MemoryError:
                if n > size:
                    raise  # the packet alone needs more than this buffer
                return False
        b[self.head:self.tail] = self.mv[self.head:self.tail]
        self.buf = b
        self.mv = memoryview(b)
        return need <= grown

    def _commit(self, n, reserve, limit):
        """Queue n encoded bytes (n < 0: did not fit the tail), keeping ``reserve``
        bytes free for acks; ``limit``: the server's Maximum Packet Size (0: none),
        checked before anything is queued [MQTT-3.2.2-15]."""
        if limit and n > limit:
            raise too_large("packet", n, limit)
        if n < 0 or self.tail + n + reserve > len(self.buf):
            if self.tail > self.head or self.lent:
                raise BufferFull("transmit buffer full")
            raise MQTTError("packet exceeds tx_size %d" % self.cap)
        self.tail += n

    def packet(self, pkt, reserve, limit):
        """Encode a packet object (mqtt5.packets) at the tail."""
        self.room(0)
        t = self.tail  # the free tail to encode into: the whole view when empty
        try:
            n = _p.encode(pkt, self.mv[t:] if t else self.mv)
        except ProtocolError as e:  # does not fit the tail; ValueError propagates
            if e.reason_code != _TOO_LARGE:
                raise
            rl = pkt._size()
            n = -(1 + vbi_size(rl) + rl)
        if (n < 0 or self.tail + n + reserve > len(self.buf)) and self._grown(n, reserve,
                                                                             limit):
            n = _p.encode(pkt, self.mv[t:])  # again, into the grown buffer
        self._commit(n, reserve, limit)

    def publish(self, reserve, limit, topic, payload, qos, retain, dup, pid, props):
        """Encode a PUBLISH at the tail (hot path, no packet object)."""
        if self.head:  # (room(0) only moves queued bytes to the front)
            self.room(0)
        checked = type(topic) is str  # then its UTF-8 was checked once, when cached
        if checked:
            topic = self.topic_utf8(topic)
        t = self.tail  # the free tail to encode into: the whole view when empty
        try:
            n = encode_publish(self.mv[t:] if t else self.mv, topic, payload, qos, retain,
                               dup, pid, props, checked)
        except ProtocolError as e:  # does not fit the tail; ValueError propagates
            if e.reason_code != _TOO_LARGE:
                raise
            n = -publish_size(topic, payload, qos, props)
        if (n < 0 or self.tail + n + reserve > len(self.buf)) and self._grown(n, reserve,
                                                                             limit):
            n = encode_publish(self.mv[t:], topic, payload, qos, retain, dup, pid, props,
                               checked)
        if 0 <= n <= (limit or n) and t + n + reserve <= len(self.buf):
            self.tail = t + n  # (_commit's usual case, inline on the hot path)
        else:
            self._commit(n, reserve, limit)

    def topic_utf8(self, topic):
        """The UTF-8 of str ``topic``, kept for the last few topic objects: a node that
        publishes the same topic strings encodes and checks each once (UTF-8, no
        wildcard), not on every publish."""
        u = self._utf8
        for i in range(0, 2 * _TOPICS, 2):
            if u[i] is topic:
                return u[i + 1]
        if not topic_name_ok(topic):
            raise ValueError("wildcard in topic name")  # [MQTT-3.3.2-2]
        b = to_utf8(topic)  # ValueError for a str that is no MQTT UTF-8 string
        i = self._ui
        u[i] = topic
        u[i + 1] = b
        self._ui = (i + 2) % (2 * _TOPICS)
        return b

    def _grown(self, n, reserve, limit):
        # n bytes encoded at the tail (-size: the packet did not fit) leave less than
        # reserve free: True when the buffer grew for them (then encode again).
        if n < 0:
            n = -n
            if limit and n > limit:  # too large anyway: say so [MQTT-3.2.2-15]
                raise too_large("packet", n, limit)
        return self._grow(n + reserve)

    def ack(self, ptype, pid, rc):
        """Queue PUBACK/PUBREC/PUBREL/PUBCOMP; the caller checked room(ACK_ROOM)."""
        self.room(ACK_ROOM)
        t = self.tail
        self.tail = t + encode_ack(self.mv[t:] if t else self.mv, ptype, pid, rc)

    def short(self, first):
        """Queue a two-byte packet, Remaining Length 0: PINGREQ (0xC0) [MQTT-3.12], or
        DISCONNECT Normal without properties (0xE0, spec 3.14.2.1), with no packet
        object; False when there is no room."""
        if not self.room(2):
            return False
        self.buf[self.tail] = first
        self.buf[self.tail + 1] = 0
        self.tail += 2
        return True
