"""The session's receive buffer: the adapter reads straight into its free tail;
complete packets are handed out from its head as memoryviews.

High-water mark: it starts at 128 bytes (or its cap, rx_size, when smaller) and grows,
doubling up to the cap, only when a packet that cannot fit has begun to arrive; it never
shrinks, so once grown nothing is allocated per message.  A packet must fit the cap
whole, so the Maximum Packet Size we announce in CONNECT is at most rx_size
[MQTT-3.1.2-24].  Views handed out stay valid until the next ``free()``, which may
move a partial packet to the front (a view of a bytearray the buffer outgrew keeps it
alive until dropped).  Whoever writes into ``free()`` advances the end by the count.

The state is a list the session keeps, ``[buf, mv, start, end, cap, aliases, ...]``
(unparsed bytes are ``buf[start:end]``; ``aliases``: the inbound Topic Alias table,
mqtt5.aliases; slots 6-12 are mqtt5.inbound's: the held QoS 2 ids, the acks not yet
written and the rare events), not an object: a list costs less RAM than a class and
its methods, as keep alive's does.  The session makes it, resets it (start and end 0),
frames and takes the packets at its head itself (Session.next_event(), the hot path);
this module only makes room for more, and copies bytes in for ``Session.feed()``.
"""

import mqtt5.wire as _w  # (its frame and ProtocolError: one name in this module's dict)

_RX_BUF = const(0)  # slots of the list (the session and outbound keep copies)
_RX_MV = const(1)
_RX_START = const(2)
_RX_END = const(3)
_RX_CAP = const(4)
_KA_NOW = const(6)  # the keep-alive list's slot of the time last given (keepalive.py)


def free(rx):
    """memoryview of the free tail, after moving a partial packet to the front; when a
    partial packet fills the buffer, after growing it for that packet.  Empty when
    the buffer is full of complete packets (drain them) or the head packet cannot fit
    the cap (Session.next_event() refuses it)."""
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
        # complete or cannot fit the cap (garbage: next_event() refuses it)
        try:
            total = _w.frame(rx[_RX_BUF], 0, e, None)
        except _w.ProtocolError:
            total = 0
        if e < total <= rx[_RX_CAP]:
            grown = min(rx[_RX_CAP], max(2 * e, total))
            try:
                grow(rx, grown)
            except MemoryError:  # a fragmented heap may still hold a block of total
                if grown == total:
                    raise
                grow(rx, total)
    return rx[_RX_MV][e:]


def grow(rx, n):
    """A buffer of ``n`` bytes in place of the current one, the unread bytes moved to
    its front (free(); Client.reserve()).  MemoryError leaves the buffer as it was."""
    s, e = rx[_RX_START], rx[_RX_END]
    b = bytearray(n)
    b[0:e - s] = rx[_RX_MV][s:e]
    rx[_RX_BUF], rx[_RX_MV], rx[_RX_START], rx[_RX_END] = b, memoryview(b), 0, e - s


def feed(s, data, now_ms):
    """``Session.feed(data, now_ms)``: copy bytes into the receive buffer (tests,
    adapters without readinto).  Returns how many were taken (fewer when the buffer
    is full)."""
    n = 0
    while n < len(data):
        mv = free(s._rx)
        k = min(len(mv), len(data) - n)
        if not k:
            break
        mv[:k] = data[n:n + k]
        s.received(k, now_ms)
        n += k
    s._ka[_KA_NOW] = now_ms
    return n
