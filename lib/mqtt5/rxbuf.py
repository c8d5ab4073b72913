"""The session's receive buffer, allocated once: the adapter reads straight into its
free tail; complete packets are handed out from its head as memoryviews.

A packet must fit the buffer whole, so the Maximum Packet Size we announce in CONNECT
is at most its size [MQTT-3.1.2-27].  Views handed out stay valid until the next
``free()`` (or ``copy_in()``), which may move a partial packet to the front.
"""

from mqtt5.wire import frame
from mqtt5.packets import check_first


class RxBuffer:
    """Fixed-size receive buffer: unparsed bytes are ``buf[start:end]``."""

    def __init__(self, size):
        self.buf = bytearray(size)
        self.mv = memoryview(self.buf)
        self.start = self.end = 0

    def reset(self):
        self.start = self.end = 0

    def free(self):
        """memoryview of the free tail, after moving a partial packet to the front."""
        s, e = self.start, self.end
        if s:
            if s < e:  # overlapping move: memmove on both runtimes
                self.mv[0:e - s] = self.mv[s:e]
            self.start, self.end = 0, e - s
        e = self.end
        return self.mv if e == 0 else self.mv[e:]  # whole view when empty: no allocation

    def add(self, n):
        """n bytes were written into free()."""
        self.end += n

    def copy_in(self, data):
        """Copy as much of data as fits; returns the count."""
        mv = self.free()
        n = min(len(mv), len(data))
        mv[:n] = data[:n]
        self.end += n
        return n

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
