"""The session's receive buffer: the adapter reads straight into its free tail;
complete packets are handed out from its head as memoryviews.

High-water mark: it starts at 128 bytes (or its cap, rx_size, when smaller) and grows,
doubling up to the cap, only when a packet that cannot fit has begun to arrive; it never
shrinks, so once grown nothing is allocated per message.  A packet must fit the cap
whole, so the Maximum Packet Size we announce in CONNECT is at most rx_size
[MQTT-3.1.2-27].  Views handed out stay valid until the next ``free()``, which may
move a partial packet to the front (a view of a bytearray the buffer outgrew keeps it
alive until dropped).  Whoever writes into ``free()`` advances ``end`` by the count.
"""

from mqtt5._compat import const
from mqtt5.wire import frame
from mqtt5.packets import check_first
from mqtt5.errors import ProtocolError

INITIAL = const(128)  # first size of both buffers (a sensor's packets are a few dozen bytes)


class RxBuffer:
    """Receive buffer growing up to ``cap`` bytes: unparsed bytes are ``buf[start:end]``."""

    def __init__(self, cap):
        self.cap = cap
        self.buf = bytearray(INITIAL if cap > INITIAL else cap)
        self.mv = memoryview(self.buf)
        self.start = self.end = 0

    def reset(self):
        self.start = self.end = 0

    def free(self):
        """memoryview of the free tail, after moving a partial packet to the front; when a
        partial packet fills the buffer, after growing it for that packet.  Empty when
        the buffer is full of complete packets (drain them) or the head packet cannot fit
        the cap (complete() refuses it)."""
        s, e = self.start, self.end
        if s:
            if s < e:  # overlapping move: memmove on both runtimes
                self.mv[0:e - s] = self.mv[s:e]
            self.start, self.end = 0, e - s
        e = self.end
        if e == 0:
            return self.mv  # whole view when empty: no allocation
        if e == len(self.buf) < self.cap:
            self._grow()
        return self.mv[self.end:]

    def _grow(self):
        # The buffer holds buf[0:end] only, filled by one packet's head: reallocate to
        # min(cap, max(2 * size, its total)), or its total when the heap has no larger
        # block, unless it is complete or cannot fit the cap.
        e = self.end
        try:
            total = frame(self.buf, 0, e, None)
        except ProtocolError:
            return  # garbage: complete() refuses it
        if e < total <= self.cap:
            grown = min(self.cap, max(2 * e, total))
            try:
                b = bytearray(grown)
            except MemoryError:  # a fragmented heap may still hold a block of total
                if grown == total:
                    raise
                b = bytearray(total)
            b[0:e] = self.mv[0:e]
            self.buf = b
            self.mv = memoryview(b)

    def complete(self, max_size):
        """Length of the complete packet at the head, or 0 while it is incomplete.
        ProtocolError 0x81 (bad length, or a first byte no packet starts with: not
        waiting for the rest of garbage) or 0x95 (over max_size) from wire.frame."""
        s, e = self.start, self.end
        if s >= e:
            return 0
        total = frame(self.buf, s, e, max_size)
        if 0 < total <= e - s:
            return total
        check_first(self.buf[s])  # still arriving: refuse a bad first byte now
        return 0

    def take(self, total):
        """The head packet of length total as a memoryview; advances past it."""
        s = self.start
        self.start = s + total
        return self.mv[s:s + total]
