"""The session's transmit buffer: whole packets appended at the tail, written out
from the head.

A packet is encoded straight into the free tail, so a packet is either wholly queued or
not at all, and several packets can go out in one write.  High-water mark: it starts at
128 bytes (or its cap, tx_size, when smaller) and, when a packet does not fit the free
tail, grows by doubling up to the cap; it never shrinks.  Growing copies the queued
bytes to the same offsets of the new bytearray, and while a view of the queued bytes
is lent to the adapter (``LENT``: Session.data_to_send() until sent()) queued bytes
are never moved (the lent view keeps the old bytearray alive while it is written).
Only at the cap can a packet find no room (BufferFull).

The state is a list the session keeps, ``[buf, mv, head, tail, cap, spos, lent,
blocked, topics]`` (slots ``_TX_*`` below; the modules that read them keep copies),
not an object: functions over a list cost less RAM than a class, its methods and an
instance dict, and a slot is read faster than an attribute.  ``spos`` counts the bytes
written on this connection, masked to 30 bits (small ints on every port); ``blocked``:
a resend did not fit, backlog.pump() waits for sent(); ``topics``: a dict of the
last few str topics published and their UTF-8 (cleared when full).  The session makes
it (Session.__init__: an empty buffer of ``INITIAL`` bytes, or the cap when smaller).
"""

from .errors import MQTTError
import mqtt5.codec as _c  # (modules, not their names: each name imported is a slot of
import mqtt5.wire as _w  # this module's dict, and the table keeps one slot spare)

_TX_BUF = const(0)
_TX_MV = const(1)
_TX_HEAD = const(2)
_TX_TAIL = const(3)
_TX_CAP = const(4)
_TX_SPOS = const(5)
_TX_LENT = const(6)
_TX_BLOCKED = const(7)
_TX_TOPICS = const(8)

_INITIAL = const(128)  # first size of both buffers (a sensor's packets are a few dozen
# bytes; the session's copy makes them)
_TOO_LARGE = const(0x95)  # what the codec raises when a packet does not fit a buffer
_ACK_ROOM = const(8)  # one ack with a reason code and no props is 5 bytes
_TOPICS = const(4)  # str topics whose UTF-8 is kept


class BufferFull(MQTTError):
    """The transmit buffer has no room now: flush data_to_send(), call sent(), retry."""


def too_large(what, n, limit):
    """The MQTTError refusing a packet above the server's Maximum Packet Size
    [MQTT-3.2.2-15]; ``.reason_code`` 0x95."""
    e = MQTTError("0x95 Packet too large: %s of %d bytes exceeds the server's Maximum "
                  "Packet Size %d" % (what, n, limit))
    e.reason_code = _TOO_LARGE
    return e


def room(tx, n):
    """Move queued bytes to the front if allowed, grow if needed (up to the cap);
    True when n bytes are free at the tail.

    Growing reallocates to min(cap, max(2 * size, tail + n)), the queued bytes at the
    same offsets (head/tail and a lent view stay valid).  A fragmented heap may have no
    block that large but one of tail + n: then that.  With no block at all and only
    queued bytes in the way, False: the caller flushes (BufferFull, or an ack waits)
    and the buffer stays as it is."""
    h, t = tx[_TX_HEAD], tx[_TX_TAIL]
    mv = tx[_TX_MV]
    if h and not tx[_TX_LENT]:
        if h < t:
            mv[0:t - h] = mv[h:t]  # overlapping move: memmove
        tx[_TX_HEAD], tx[_TX_TAIL] = 0, t - h
        h, t = 0, t - h
    size = len(tx[_TX_BUF])
    if size - t >= n:
        return True
    cap = tx[_TX_CAP]
    if size >= cap or n > cap:  # at the cap, or a packet that could never fit
        return False
    need = t + n
    grown = min(cap, max(2 * size, need))
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
    b[h:t] = mv[h:t]
    tx[_TX_BUF] = b
    tx[_TX_MV] = memoryview(b)
    return need <= grown


def queued(tx, n, reserve, limit):
    """n bytes were encoded at the tail (-size: the packet did not fit there): True
    when they are queued, keeping ``reserve`` bytes free for acks; False when the
    buffer grew for them (encode again).  ``limit``: the server's Maximum Packet Size
    (0: none), checked before anything is queued [MQTT-3.2.2-15]."""
    size = n if n >= 0 else -n
    if limit and size > limit:
        raise too_large("packet", size, limit)
    t = tx[_TX_TAIL]
    if n >= 0 and t + n + reserve <= len(tx[_TX_BUF]):
        tx[_TX_TAIL] = t + n
        return True
    if room(tx, size + reserve):
        return False
    if tx[_TX_TAIL] > tx[_TX_HEAD] or tx[_TX_LENT]:
        raise BufferFull("transmit buffer full")
    raise MQTTError("packet of %d bytes exceeds tx_size %d (%d B kept for acks)" % (
        size, tx[_TX_CAP], reserve))


def request(tx, t, pid, items, props, reserve, limit):
    """Encode a SUBSCRIBE (``t`` 8) or UNSUBSCRIBE (10) at the tail (mqtt5.subcodec,
    loaded by the first; no packet object)."""
    import mqtt5.subcodec as _s

    room(tx, 0)
    while True:
        at = tx[_TX_TAIL]
        n = _s.encode(tx[_TX_MV][at:] if at else tx[_TX_MV], t, pid, items, props)
        if queued(tx, n, reserve, limit):
            return


def publish(tx, reserve, limit, topic, payload, qos, retain, dup, pid, props):
    """Encode a PUBLISH at the tail (no packet object).  A str topic's UTF-8 comes
    from the topic cache; the usual PUBLISH, once its topic is cached, is written in
    place by the session's publish() (outbound.py), in the same layout."""
    if tx[_TX_HEAD]:  # (room(0) only moves queued bytes to the front)
        room(tx, 0)
    checked = type(topic) is str  # then its UTF-8 was checked once, when cached
    if checked:
        topic = topic_utf8(tx, topic)
    while True:
        t = tx[_TX_TAIL]  # the free tail to encode into: the whole view when empty
        n = _c.encode_publish(tx[_TX_MV][t:] if t else tx[_TX_MV], topic, payload, qos,
                              retain, dup, pid, props, checked)  # (-size: no room)
        if 0 <= n <= (limit or n) and t + n + reserve <= len(tx[_TX_BUF]):
            tx[_TX_TAIL] = t + n  # (queued()'s usual case, inline)
            return
        if queued(tx, n, reserve, limit):
            return


def topic_utf8(tx, topic):
    """The UTF-8 of str ``topic``, checked (no wildcard, an MQTT UTF-8 string) and
    kept for the last few topics: a node that publishes the same topics encodes
    and checks each once, not on every publish (the session's publish() looks it up
    inline for the usual PUBLISH)."""
    u = tx[_TX_TOPICS]
    b = u.get(topic)
    if b is None:
        if not _w.topic_name_ok(topic):
            raise ValueError("wildcard in topic name: %r" % topic)  # [MQTT-3.3.2-2]
        b = _w.to_utf8(topic)  # ValueError for a str that is no MQTT UTF-8 string
        if len(u) >= _TOPICS:
            u.clear()
        u[topic] = b
    return b


def ack(tx, ptype, pid, rc):
    """Queue PUBACK/PUBREC/PUBREL/PUBCOMP; the caller checked room(tx, ACK_ROOM)."""
    room(tx, _ACK_ROOM)
    t = tx[_TX_TAIL]
    tx[_TX_TAIL] = t + _c.encode_ack(tx[_TX_MV][t:] if t else tx[_TX_MV], ptype, pid, rc)


def short(tx, first):
    """Queue a two-byte packet, Remaining Length 0: PINGREQ (0xC0) [MQTT-3.12], or
    DISCONNECT Normal without properties (0xE0, spec 3.14.2.1), with no packet
    object; False when there is no room."""
    if not room(tx, 2):
        return False
    b = tx[_TX_BUF]
    t = tx[_TX_TAIL]
    b[t] = first
    b[t + 1] = 0
    tx[_TX_TAIL] = t + 2
    return True
