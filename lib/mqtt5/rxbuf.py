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

from mqtt5.wire import frame
from mqtt5.packets import check_first
from mqtt5.errors import ProtocolError

INITIAL = const(128)  # first size of both buffers (a sensor's packets are a few dozen bytes)

_RX_BUF = const(0)  # slots of the list (the session and inbound keep copies)
_RX_MV = const(1)
_RX_START = const(2)
_RX_END = const(3)
_RX_CAP = const(4)


def new(cap):
    """A receive buffer growing up to ``cap`` bytes, empty."""
    b = bytearray(INITIAL if cap > INITIAL else cap)
    return [b, memoryview(b), 0, 0, cap]


def free(rx):
    """memoryview of the free tail, after moving a partial packet to the front; when a
    partial packet fills the buffer, after growing it for that packet.  Empty when
    the buffer is full of complete packets (drain them) or the head packet cannot fit
    the cap (complete() refuses it)."""
    s, e = rx[_RX_START], rx[_RX_END]
    if s:
        if s < e:  # overlapping move: memmove on both runtimes
            rx[_RX_MV][0:e - s] = rx[_RX_MV][s:e]
        e -= s
        rx[_RX_START], rx[_RX_END] = 0, e
    if e == 0:
        return rx[_RX_MV]  # whole view when empty: no allocation
    if e == len(rx[_RX_BUF]) < rx[_RX_CAP]:
        # Filled by one packet's head: reallocate to min(cap, max(2 * size, its
        # total)), or its total when the heap has no larger block, unless it is
        # complete or cannot fit the cap (garbage: complete() refuses it)
        try:
            total = frame(rx[_RX_BUF], 0, e, None)
        except ProtocolError:
            total = 0
        if e < total <= rx[_RX_CAP]:
            grown = min(rx[_RX_CAP], max(2 * e, total))
            try:
                b = bytearray(grown)
            except MemoryError:  # a fragmented heap may still hold a block of total
                if grown == total:
                    raise
                b = bytearray(total)
            b[0:e] = rx[_RX_MV][0:e]
            rx[_RX_BUF] = b
            rx[_RX_MV] = memoryview(b)
    return rx[_RX_MV][e:]


def complete(rx, max_size):
    """Length of the complete packet at the head, or 0 while it is incomplete.
    ProtocolError 0x81 (bad length, or a first byte no packet starts with: not
    waiting for the rest of garbage) or 0x95 (over max_size) from wire.frame."""
    s, e = rx[_RX_START], rx[_RX_END]
    if s >= e:
        return 0
    b = rx[_RX_BUF]
    total = b[s + 1] + 2 if e - s > 1 else 0  # one byte of Remaining Length: frame()'s
    if total > 0x81 or not total or max_size is not None and total > max_size:  # usual
        total = frame(b, s, e, max_size)  # case inline, the rest there
    if 0 < total <= e - s:
        return total
    check_first(rx[_RX_BUF][s])  # still arriving: refuse a bad first byte now
    return 0


def take(rx, total):
    """The head packet of length total as a memoryview; advances past it."""
    s = rx[_RX_START]
    rx[_RX_START] = s + total
    return rx[_RX_MV][s:s + total]
