# A link that stops taking bytes (the test's proxy stops reading: the socket fills
# up) while 400 QoS 0 publishes of 1 KB are made, then flows again: every message
# arrives, in order, and what the socket did not take is not copied: MicroPython's
# Stream.write copied the rest of each partial write into a new bytes object (up to a
# whole transmit buffer, 2 KB by default), allocated while the link is slow.
# argv: proxy_port tag; the test blackholes the proxy at <base>/ready and lets it flow
# again 1.5 s later.
import asyncio
import sys

import mqtt5.transport as transport
from client_util import args, emit, main
from mqtt5 import Client
from mqtt5._compat import stream_socket

PORT, TAG = args()
BASE = "bp/" + TAG
N = 400
MICRO = sys.implementation.name == "micropython"

partial = [0]
copied = [0]  # the most bytes MicroPython's Stream held after a write: its copy
_write = transport.Transport.write


def counting_write(self, buf):
    n = _write(self, buf)
    if n is not None and n < len(buf):
        partial[0] += 1
    if MICRO:
        copied[0] = max(copied[0], len(self._w.out_buf))
    return n


transport.Transport.write = counting_write


async def run():
    c = Client("bp-" + TAG)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    # a small send buffer (SOL_SOCKET, SO_SNDBUF: Linux's numbers), as on a board, so the
    # socket fills before the proxy's receive window does
    stream_socket(c._t._w).setsockopt(1, 7, 4096)
    buf = bytearray(b"000" + b"x" * 1000)  # QoS 0 is encoded by the call: reusable
    await c.publish(BASE + "/ready", b"1", qos=1)  # the proxy stops reading now
    await asyncio.sleep(0.3)
    for i in range(N):
        buf[0:3] = b"%03d" % i
        await c.publish(BASE + "/data", buf)
    await c.publish(BASE + "/done", b"1", qos=1)
    emit(partial_writes=partial[0], stream_copy=copied[0] if MICRO else None)
    await c.disconnect()


main(run())
