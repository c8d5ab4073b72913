"""The session's receive buffer: the adapter reads straight into its free tail;
complete packets are handed out from its head as memoryviews.

High-water mark: it starts at 128 bytes (or its cap, rx_size, when smaller) and grows,
doubling up to the cap, only when a packet that cannot fit has begun to arrive; it never
shrinks, so once grown nothing is allocated per message.  A packet must fit the cap
whole, so the Maximum Packet Size we announce in CONNECT is at most rx_size
[MQTT-3.1.2-27].  Views handed out stay valid until the next ``free()``, which may
move a partial packet to the front (a view of a bytearray the buffer outgrew keeps it
alive until dropped).  Whoever writes into ``free()`` advances the end by the count.

The state is a list the session keeps, ``[buf, mv, start, end, cap]`` (unparsed bytes
are ``buf[start:end]``), not an object: functions over five slots cost less RAM than a
class and its methods, as keep alive's do.  The session resets it itself (start and end
0) and reads start, end and buf on its hot path.
"""

from mqtt5._compat import const
from mqtt5.wire import frame
from mqtt5.packets import check_first
from mqtt5.errors import ProtocolError

INITIAL = const(128)  # first size of both buffers (a sensor's packets are a few dozen bytes)

_BUF = const(0)  # slots of the list (the session and inbound keep copies)
_MV = const(1)
_START = const(2)
_END = const(3)
_CAP = const(4)


def new(cap):
    """A receive buffer growing up to ``cap`` bytes, empty."""
    b = bytearray(INITIAL if cap > INITIAL else cap)
    return [b, memoryview(b), 0, 0, cap]


def free(rx):
    """memoryview of the free tail, after moving a partial packet to the front; when a
    partial packet fills the buffer, after growing it for that packet.  Empty when
    the buffer is full of complete packets (drain them) or the head packet cannot fit
    the cap (complete() refuses it)."""
    s, e = rx[_START], rx[_END]
    if s:
        if s < e:  # overlapping move: memmove on both runtimes
            rx[_MV][0:e - s] = rx[_MV][s:e]
        e -= s
        rx[_START], rx[_END] = 0, e
    if e == 0:
        return rx[_MV]  # whole view when empty: no allocation
    if e == len(rx[_BUF]) < rx[_CAP]:
        # Filled by one packet's head: reallocate to min(cap, max(2 * size, its
        # total)), or its total when the heap has no larger block, unless it is
        # complete or cannot fit the cap (garbage: complete() refuses it)
        try:
            total = frame(rx[_BUF], 0, e, None)
        except ProtocolError:
            total = 0
        if e < total <= rx[_CAP]:
            grown = min(rx[_CAP], max(2 * e, total))
            try:
                b = bytearray(grown)
            except MemoryError:  # a fragmented heap may still hold a block of total
                if grown == total:
                    raise
                b = bytearray(total)
            b[0:e] = rx[_MV][0:e]
            rx[_BUF] = b
            rx[_MV] = memoryview(b)
    return rx[_MV][e:]


def complete(rx, max_size):
    """Length of the complete packet at the head, or 0 while it is incomplete.
    ProtocolError 0x81 (bad length, or a first byte no packet starts with: not
    waiting for the rest of garbage) or 0x95 (over max_size) from wire.frame."""
    s, e = rx[_START], rx[_END]
    if s >= e:
        return 0
    total = frame(rx[_BUF], s, e, max_size)
    if 0 < total <= e - s:
        return total
    check_first(rx[_BUF][s])  # still arriving: refuse a bad first byte now
    return 0


def take(rx, total):
    """The head packet of length total as a memoryview; advances past it."""
    s = rx[_START]
    rx[_START] = s + total
    return rx[_MV][s:s + total]
