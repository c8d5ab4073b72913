# A QoS 0 publish behind a resend backlog (a resumed session, the server's Receive
# Maximum 1, its acks slow) waits for an ack: it ran writer turn after writer turn
# (thousands a second) until one came.  A unit check: the broker is a fake transport
# (CONNACK with Session Present 1 and Receive Maximum 1, PUBACKs held until released).
import asyncio

from client_util import emit, main
import mqtt5.transport as T
from mqtt5 import Client


class Link:  # the transport API of mqtt5._compat_streams, over an in-memory broker
    def __init__(self, acks, present):
        self.inbox, self.acks, self.closed, self.present = bytearray(), acks, False, present
        self.ev = asyncio.Event()

    async def readable(self):
        while not self.inbox and not self.closed:
            self.ev.clear()
            await self.ev.wait()

    def read_now(self, mv):
        n = min(len(mv), len(self.inbox))
        if not n:
            return 0 if self.closed else None
        mv[:n] = self.inbox[:n]
        self.inbox[:n] = b""
        return n

    def feed(self, data):
        self.inbox += data
        self.ev.set()

    def write(self, buf):  # one whole packet per write here, or several: taken apart
        buf = bytes(buf)
        while buf:
            n, i = buf[1], 2  # (these packets' Remaining Lengths are one byte)
            b0, body, buf = buf[0], buf[i:i + n], buf[i + n:]
            if b0 >> 4 == 1:  # CONNECT: at first a new session, then the session
                self.feed(bytes([0x20, 3, 0, 0, 0]) if not self.present else  # resumed,
                          bytes([0x20, 6, 1, 0, 3, 0x21, 0, 1]))  # Receive Maximum 1
            elif b0 >> 4 == 3 and b0 & 6:  # a QoS 1 PUBLISH: its PUBACK held
                tl = body[0] << 8 | body[1]
                self.acks.append((self, body[2 + tl:4 + tl]))

    def backlog(self):
        return 0

    async def drain(self):
        pass

    def close(self):
        self.closed = True
        self.ev.set()


async def run():
    acks = []

    links = []

    async def open_transport(url, timeout_ms, tls):
        links.append(Link(acks, 1 if links else 0))
        return links[-1]

    T.open_transport = open_transport
    c = Client("q0-backlog", session_expiry=60, clean_start=False)
    await c.connect("mqtt://fake")
    for p in (b"a", b"b", b"c"):  # in flight, unacknowledged (the link is then cut):
        c.publish("t", p, qos=1)  # their slots kept for the resend
    await asyncio.sleep(0.01)
    c.abort()
    await c.connect("mqtt://fake")  # resumed: one resend at a time (Receive Maximum 1)
    del acks[:]
    await asyncio.sleep(0.01)
    turns = c._wgen
    q0 = asyncio.create_task(c.publish("t", b"q0"))
    await asyncio.sleep(0.3)
    turns = c._wgen - turns
    waited = not q0.done()
    for _ in range(20):  # the acks let the backlog go, then the QoS 0 publish
        while acks:
            link, pid = acks.pop(0)
            link.feed(b"\x40\x02" + pid)
        await asyncio.sleep(0.01)
    emit(step="q0", turns=turns, waited=waited, done=q0.done(), backlog=c._s._inflight[7])
    await c.disconnect()


main(run())
