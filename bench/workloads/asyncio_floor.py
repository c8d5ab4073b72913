# The ceiling of any asyncio MQTT client on this machine, for the awaited QoS 1 figure:
# one task writes a prebuilt QoS 1 PUBLISH and reads its PUBACK with Stream.readinto,
# with no client code (nothing encoded, nothing parsed beyond the PUBACK's length).
# bench/run.py prints its rate beside Fieldnode's awaited rate.  MicroPython only.
#   asyncio_floor.py full PORT N BUDGET_MS
import asyncio

from _bench import PAYLOAD16, args, emit, rate, ticks_diff, ticks_us

_, (PORT, N, BUDGET_MS) = args()
CLIENT_ID = b"bench-floor-%d" % (ticks_us() & 0xFFFFFF)
TOPIC = b"bench/floor/data"


async def packet(r, mv):
    """Read one whole packet (remaining length < 128) into mv; returns its length."""
    got = 0
    while got < 2 or got < 2 + mv[1]:
        n = await r.readinto(mv[got:])
        if not n:
            raise OSError("connection closed by the broker")
        got += n
    return got


async def main():
    r, w = await asyncio.open_connection("127.0.0.1", PORT)
    w.s.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY, as the client sets it
    # CONNECT: MQTT v5, Clean Start, keep alive 60 s, no properties
    body = b"\x00\x04MQTT\x05\x02\x00\x3c\x00" + bytes([0, len(CLIENT_ID)]) + CLIENT_ID
    w.write(bytes([0x10, len(body)]) + body)
    buf = bytearray(64)
    mv = memoryview(buf)
    await packet(r, mv)
    if buf[0] != 0x20 or buf[3]:
        raise OSError("CONNACK refused: %r" % bytes(buf[:4]))
    # PUBLISH QoS 1: topic, packet id (patched per message), no properties, payload
    pub = bytearray(bytes([0x32, 2 + len(TOPIC) + 3 + len(PAYLOAD16), 0, len(TOPIC)])
                    + TOPIC + b"\x00\x00\x00" + PAYLOAD16)
    at = 4 + len(TOPIC)
    t0 = ticks_us()
    n = 0
    while n < N:
        pid = n % 65535 + 1
        pub[at] = pid >> 8
        pub[at + 1] = pid & 0xFF
        w.write(pub)
        await packet(r, mv)
        if buf[0] != 0x40 or buf[2] != pid >> 8 or buf[3] != pid & 0xFF:
            raise OSError("expected PUBACK %d, got %r" % (pid, bytes(buf[:4])))
        n += 1
        if not n & 63 and ticks_diff(ticks_us(), t0) > BUDGET_MS * 1000:
            break
    emit("qos1_rate_floor", rate(n, t0), n=n)
    w.write(b"\xe0\x00")  # DISCONNECT, Normal disconnection
    await w.drain()
    w.close()
    await w.wait_closed()


asyncio.run(main())
