"""Sans-IO session: high-water-mark buffers (issue 11).  Both buffers start at
128 bytes (128; or their cap, rx_size / tx_size, when smaller), grow by doubling up to the cap only when
a packet needs it, and never shrink; the caps keep their meaning (largest packet
received / sent, Maximum Packet Size)."""

import mqtt5.session as S
import mqtt5.properties as P
import mqtt5.txbuf as txbuf
import mqtt5.rxbuf as rxbuf
from mqtt5.errors import MQTTError
from session_fake import (connected, out, split, feed, events, kinds, eq, raises,
    run_tests, publish, PUBLISH, PUBACK, DISCONNECT)

INITIAL = 128  # rxbuf's and txbuf's first size


def sizes(s):
    return len(s._rx[0]), len(s._tx[0])  # (the lists' buf slots: rxbuf.py, txbuf.py)


def test_buffers_start_small():
    eq(sizes(S.Session("x")), (INITIAL, INITIAL), "default caps 2048: start at INITIAL")
    eq(sizes(S.Session("x", rx_size=100, tx_size=120)), (100, 120), "cap below INITIAL")
    s = connected()
    s.subscribe([("a/b", 1)])
    out(s)
    eq(sizes(s), (INITIAL, INITIAL), "CONNECT, CONNACK, SUBSCRIBE: no growth")


def read_in(s, data, piece):
    """Write data into recv_buffer() as a reader does (at most `piece` bytes a read),
    draining events after each read; the free view is never empty meanwhile."""
    evs = []
    i = 0
    while i < len(data):
        mv = s.recv_buffer()
        assert len(mv), "empty receive view with %d bytes still to come" % (len(data) - i)
        k = min(len(mv), piece, len(data) - i)
        mv[:k] = data[i:i + k]
        s.received(k, 0)
        i += k
        evs.extend(events(s))
    return evs


def test_large_inbound_publish_grows_rx_and_arrives_intact():
    payload = bytes(i & 0xFF for i in range(1500))
    data = publish("big/t", payload, 1, pid=7)
    for piece in (100, 700, 4096):
        s = connected()
        evs = read_in(s, publish("small", b"x", 0) + data + publish("after", b"y", 0),
                      piece)
        eq(kinds(evs), [S.MESSAGE] * 3, "three messages (reads of %d)" % piece)
        eq((evs[1]["topic"], evs[1]["payload"]), ("big/t", payload), "intact")
        eq(evs[2]["payload"], b"y", "the packet after it too")
        eq(sizes(s)[0], len(data), "grown to the packet's size (over 2 x INITIAL)")
        eq([(t, p.packet_id) for t, p in out(s)], [(PUBACK, 7)], "acked")
        evs = read_in(s, data, piece)  # again: no growth, same buffer
        eq(sizes(s)[0], len(data), "never shrinks, not grown twice")
        eq(evs[0]["payload"], payload, "intact again")


def test_feed_takes_a_large_packet_whole():
    s = connected()
    data = publish("t", b"z" * 1000, 0)
    eq(s.feed(data, 0), len(data), "all taken: the buffer grew")
    eq([e["payload"] for e in events(s)], [b"z" * 1000], "delivered")


def test_growth_doubles_up_to_the_cap():
    s = connected(rx_size=1000)
    data = publish("t", b"a" * (INITIAL + 44), 0)  # INITIAL + 51 bytes
    eq(kinds(read_in(s, data, 64)), [S.MESSAGE], "INITIAL + 51 bytes")
    eq(sizes(s)[0], 2 * INITIAL, "doubled")
    data = publish("t", b"a" * (3 * INITIAL + 44), 0)  # 3 x INITIAL + 51 bytes
    eq(kinds(read_in(s, data, 64)), [S.MESSAGE], "3 x INITIAL + 51 bytes")
    eq(sizes(s)[0], 4 * INITIAL, "doubled again")
    assert 8 * INITIAL > 1000 > 907 > 4 * INITIAL, INITIAL
    data = publish("t", b"b" * 900, 0)  # 907 bytes: 4 x INITIAL -> min(1000, 8 x INITIAL)
    eq(kinds(read_in(s, data, 64)), [S.MESSAGE], "907 bytes")
    eq(sizes(s)[0], 1000, "capped")
    over = len(publish("t", b"c" * 200, 0)) - 200  # header bytes of such a PUBLISH
    data = publish("t", b"c" * (1000 - over), 0)
    eq(len(data), 1000, "exactly the cap")
    eq(kinds(read_in(s, data, 333)), [S.MESSAGE], "a packet of the cap fits")
    eq(sizes(s)[0], 1000, "still the cap")


def test_burst_of_small_packets_does_not_grow_rx():
    s = connected()
    data = b"".join(publish("t", b"%03d" % i, 0) for i in range(100))  # 1,000 bytes
    evs = feed(s, data)
    eq([e["payload"] for e in evs], [b"%03d" % i for i in range(100)], "all, in order")
    eq(sizes(s)[0], INITIAL, "complete packets are drained, never grown for")


def test_over_the_cap_still_refused_with_0x95():
    s = connected(rx_size=512)
    data = publish("t", b"x" * 600, 0)
    evs = feed(s, data[:3])  # the fixed header alone: refused before the body
    eq((kinds(evs), evs[0]["reason_code"]), ([S.ERROR], 0x95), "0x95 from the header")
    eq([(t, p.reason_code) for t, p in out(s)], [(DISCONNECT, 0x95)], "DISCONNECT 0x95")
    eq(sizes(s)[0], INITIAL, "not grown for a packet it refuses")
    s = connected(rx_size=512)
    eq(s.feed(data, 0) <= 512, True, "never more than the cap taken")
    evs = events(s)
    eq((kinds(evs), evs[0]["reason_code"]), ([S.ERROR], 0x95), "0x95 after feed()")
    assert sizes(s)[0] <= 512, sizes(s)
    s = connected(rx_size=512, max_packet_size=300)  # our own maximum, below the cap
    evs = read_in(s, publish("t", b"x" * 298, 0), 100)
    eq((kinds(evs), evs[0]["reason_code"]), ([S.ERROR], 0x95), "over max_packet_size")
    eq(out(s)[0][1].reason_code, 0x95, "DISCONNECT 0x95")
    s = S.Session("x", rx_size=512, max_packet_size=4096)
    s.connect(0)
    eq(out(s)[0][1].props[P.MAXIMUM_PACKET_SIZE], 511, "announced: the cap (less a byte), not INITIAL")


def test_large_outbound_publish_grows_tx():
    s = connected()
    payload = bytes((i * 7) & 0xFF for i in range(1500))
    pid = s.publish("big/t", payload, 1)
    size = sizes(s)[1]
    assert INITIAL < size < 2048, ("grown as far as the packet needs", size)
    pk = out(s)
    eq([(t, p.packet_id, bytes(p.payload)) for t, p in pk], [(PUBLISH, pid, payload)],
       "queued whole, intact")
    e = raises(MQTTError, s.publish, "t", b"x" * 2100, 0)
    assert not isinstance(e, S.BufferFull) and "tx_size 2048" in str(e), str(e)
    eq(sizes(s)[1], size, "not grown for a packet that can never fit")
    eq(s.pending_bytes(), 0, "nothing queued")


def test_burst_while_a_view_is_lent_keeps_every_byte():
    s = connected()
    sent = []
    written = bytearray()
    s.publish("t", b"first", 0)
    sent.append(b"first")
    lent = s.data_to_send()  # lent to a writer, which has not written yet
    grew = 0
    for i in range(60):  # ~1,300 bytes: doubled up to 2048 while lent
        size = sizes(s)[1]
        p = b"m%02d" % i + b"." * (i % 17)
        s.publish("burst/topic", p, 0)
        sent.append(p)
        grew += sizes(s)[1] != size
        if i == 30:  # the writer writes half of its view now, then takes a new one
            k = len(lent) // 2
            written += lent[:k]
            s.sent(k, 0)
            lent = s.data_to_send()
    assert grew >= 2 and sizes(s)[1] <= 2048, (grew, sizes(s))
    written += lent  # the old view, written after the buffer grew past it
    s.sent(len(lent), 0)
    rest = s.data_to_send()
    written += rest
    s.sent(len(rest), 0)
    eq(s.pending_bytes(), 0, "all written")
    eq([bytes(p.payload) for t, p in split(bytes(written))], sent,
       "bytes written == bytes queued, in order")


def burst(s, lend=False):
    """Publish 40-byte payloads until BufferFull; returns (count, the view lent after
    the first one if lend)."""
    lent = None
    n = 0
    while True:
        try:
            s.publish("t", b"p" * 40, 0)
        except S.BufferFull:
            return n, lent
        n += 1
        if lend and lent is None:
            lent = s.data_to_send()


def test_at_the_cap_a_burst_gets_buffer_full():
    s = connected(tx_size=512)
    n, lent = burst(s, True)
    eq(sizes(s)[1], 512, "grew to the cap, no further")
    assert n >= 9, n
    s.sent(len(lent), 0)  # BufferFull: flush, then retry
    rest = s.data_to_send()
    s.sent(len(rest), 0)
    eq(len(split(bytes(lent) + bytes(rest))), n, "every queued publish, once")
    s.publish("t", b"p" * 40, 0)
    eq(sizes(s)[1], 512, "same buffer after the flush")


def test_ack_room_grows_instead_of_pausing():
    # 80 inbound QoS 1 PUBLISH, none of our PUBACKs written: 320 bytes of acks, more
    # than INITIAL, so the transmit buffer grows for them instead of pausing the inbound
    # side
    s = connected(receive_maximum=200)
    data = b"".join(publish("in", b"1", 1, pid=i) for i in range(1, 81))
    evs = feed(s, data)
    eq(kinds(evs), [S.MESSAGE] * 80, "every one delivered, no pause")
    assert 320 <= sizes(s)[1] <= 4 * INITIAL, ("grown for the acks", sizes(s))
    eq([(t, p.packet_id) for t, p in out(s)], [(PUBACK, i) for i in range(1, 81)],
       "every PUBACK, in order")
    # at the cap the pause stays: no room for an ack, no event until a flush
    s = connected(tx_size=64, receive_maximum=200)
    data = b"".join(publish("in", b"1", 1, pid=i) for i in range(1, 21))  # 200 bytes
    k = s.feed(data, 0)
    n = len(events(s))
    assert 0 < n < 20 and s.pending_bytes() <= 64, (n, s.pending_bytes())
    acks = []
    while k < len(data) or s.pending_bytes():  # flush, then what is left (or still paused)
        acks += out(s)
        k += s.feed(data[k:], 0)
        n += len(events(s))
    eq(n, 20, "the rest after the flushes")
    eq([p.packet_id for t, p in acks], list(range(1, 21)), "every PUBACK")


def no_heap(n):
    raise MemoryError("fake: no block of %d bytes" % n)


def test_no_heap_block_for_a_burst_means_buffer_full():
    # a fragmented heap (fake: the module's bytearray fails) must not break a burst:
    # growth only for queued bytes gives way to BufferFull, the buffer stays as it is
    s = connected()
    txbuf.bytearray = no_heap
    try:
        n = burst(s)[0]
        eq(sizes(s)[1], INITIAL, "not grown")
        data = out(s)  # flush, then retry: the publish goes out in the same buffer
        s.publish("t", b"p" * 40, 0)
        eq(len(data) + len(out(s)), n + 1, "every publish")
        raises(MemoryError, s.publish, "t", b"p" * 400, 0)  # this one needs the room
        eq(s.pending_bytes(), 0, "nothing queued by it")
    finally:
        del txbuf.bytearray
    s.publish("t", b"p" * 400, 0)
    assert sizes(s)[1] > INITIAL, sizes(s)


_bytearray = bytearray


def heap_below(limit):
    """A fake `bytearray` for a fragmented heap: no free block of `limit` bytes or more."""
    def alloc(n):
        if n >= limit:
            raise MemoryError("fake: no block of %d bytes" % n)
        return _bytearray(n)
    return alloc


def test_a_fragmented_heap_grows_the_buffers_to_what_the_packet_needs():
    # Doubling finds no block, but the packet needs less: the buffer grows
    # to the packet's size.  It was a MemoryError and a lost link, and at every
    # reconnect the same packet (the queued publish, the broker's redelivery) again.
    s = connected()
    txbuf.bytearray = rxbuf.bytearray = heap_below(512)
    try:
        payload = b"o" * 300
        pid = s.publish("t", payload, 1)
        eq(sizes(s)[1], 309 + 32, "tx: the packet's 309 bytes and the 32 left free for acks")
        eq([(t, p.packet_id, bytes(p.payload)) for t, p in out(s)], [(PUBLISH, pid, payload)],
           "queued whole")
        data = publish("in", b"i" * 400, 1, pid=3)
        evs = read_in(s, data, 100)
        eq([e["payload"] for e in evs], [b"i" * 400], "rx: delivered")
        eq(sizes(s)[0], len(data), "rx: the packet's %d bytes, not 512" % len(data))
        raises(MemoryError, s.publish, "t", b"o" * 600, 0)  # no block of its size either
        eq(s.pending_bytes(), 4, "nothing queued by it (the PUBACK is)")
    finally:
        del txbuf.bytearray, rxbuf.bytearray
    s.publish("t", b"o" * 600, 0)
    eq(sizes(s)[1], 2 * 341, "a heap with room: doubled, as before")


def test_str_topic_encoded_once_per_topic():
    s = connected()
    t = "fieldnode/v1/node-1/state/temp"
    s.publish(t, b"1", 0)
    u = txbuf.topic_utf8(s._tx, t)
    eq(bytes(u), t.encode(), "its UTF-8")
    s.publish(t, b"2", 1)
    assert txbuf.topic_utf8(s._tx, t) is u, "the same topic: encoded once, then reused"
    t2 = "/".join(t.split("/"))  # an equal str, another object
    assert txbuf.topic_utf8(s._tx, t2) is u, "an equal topic string finds it too"
    for i in range(4):  # four other topics push it out
        s.publish("other/%d" % i, b"3", 0)
    assert txbuf.topic_utf8(s._tx, t) is not u, "kept for the last four topics only"
    raises(ValueError, s.publish, "bad\x00topic", b"4", 0)  # U+0000 [MQTT-1.5.4-2]
    # a bytes topic is the caller's: its UTF-8 is checked on every publish [MQTT-1.5.4-1]
    raises(ValueError, s.publish, b"bad\xfftopic", b"5", 0)
    raises(ValueError, s.publish, b"bad\xed\xa0\x80", b"6", 1)  # a surrogate
    raises(ValueError, s.publish, bytearray(b"bad\x00"), b"7", 0)
    eq([(p.topic, bytes(p.payload)) for t_, p in out(s)],
       [(t, b"1"), (t, b"2")] + [("other/%d" % i, b"3") for i in range(4)],
       "every PUBLISH went out with its topic")


def test_publish_written_in_place_matches_the_codec():
    # The session's publish() (outbound.py) writes a small PUBLISH (str topic already
    # cached, no properties, one-byte Remaining Length) itself; codec.encode_publish()
    # writes every other one (the topic's first publish, which caches it, too).  Both
    # sides of the 127/128-byte Remaining Length boundary, each QoS and RETAIN.
    from mqtt5.codec import encode_publish
    topic = "fieldnode/v1/n1/state/t"
    for qos in (0, 1, 2):
        for retain in (False, True):
            for rl in (30, 100, 126, 127, 128, 129, 200):
                n = rl - 3 - len(topic) - (2 if qos else 0)
                s = connected()
                s.publish(topic, b"g" * 220, 0)  # the buffer grown past 128 + room
                out(s)
                pid = s.publish(topic, b"p" * n, qos, retain)
                got = bytes(s.data_to_send())
                want = bytearray(300)
                k = encode_publish(want, topic, b"p" * n, qos, retain, False,
                                   pid if qos else None)
                eq(got, bytes(want[:k]), "QoS %d retain %s Remaining Length %d"
                   % (qos, retain, rl))
                eq(len(got), rl + (2 if rl < 128 else 3), "its length")
    s = connected()
    s.publish(topic, b"x", 1, False, {0x03: "text/plain"})  # with a property: the codec
    eq([(p.topic, p.props) for t, p in out(s)], [(topic, {0x03: "text/plain"})],
       "a PUBLISH with properties")


def test_capacity_never_exceeds_the_caps():
    s = connected(rx_size=700, tx_size=900)
    seen = set()
    for i in range(40):
        n = (i * 97) % 650
        evs = read_in(s, publish("t", b"i" * n, 0), 50 + i * 13)
        eq(evs[0]["payload"], b"i" * n, "inbound %d" % n)
        try:
            s.publish("t", b"o" * ((i * 131) % 850), 0)
        except S.BufferFull:
            out(s)
            s.publish("t", b"o" * ((i * 131) % 850), 0)
        if i % 3 == 0:
            out(s)
        seen.add(sizes(s))
        assert sizes(s)[0] <= 700 and sizes(s)[1] <= 900, sizes(s)
    eq(max(a for a, b in seen), 700, "rx reached its cap")
    eq(max(b for a, b in seen), 900, "tx reached its cap")


run_tests(globals())
