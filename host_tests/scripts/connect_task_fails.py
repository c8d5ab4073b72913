# connect() whose tasks find no heap (asyncio.create_task raises MemoryError, here at
# its Nth call) ends the half-made link: the error reaches the caller, the client is
# not connected, and the next connect() works.  argv: port tag N
import asyncio
import sys

from client_util import args, emit
from mqtt5 import Client

PORT, TAG = args()
N = int(sys.argv[3])
real = asyncio.create_task
calls = [0]


def failing(coro):
    calls[0] += 1
    if calls[0] == N:
        coro.close()
        raise MemoryError("no heap for the task")
    return real(coro)


async def main():
    c = Client("ctf-" + TAG, connect_timeout_ms=3000)
    url = "mqtt://127.0.0.1:%d" % PORT
    asyncio.create_task = failing
    try:
        await c.connect(url)
        first = None
    except BaseException as e:
        first = type(e).__name__
    asyncio.create_task = real
    down = c.is_connected
    try:
        await c.connect(url)
        second = None
    except Exception as e:
        second = "%s: %s" % (type(e).__name__, e)
    up = c.is_connected
    if up:
        await c.publish("ctf/%s" % TAG, b"x", qos=1)
        await c.disconnect()
    emit(first=first, down=down, second=second, up=up)


asyncio.run(main())
