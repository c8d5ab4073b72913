# The keep-alive task fails (the session's tick() raises MemoryError once connected):
# the link closes with that error instead of running on with no keep-alive and no
# dead-link check.
import asyncio

from client_util import args, emit, main
from mqtt5 import Client

PORT, TAG = args()


async def run():
    c = Client("ticker-" + TAG, keepalive=2)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)

    def tick(now):
        raise MemoryError("no room for the tick")

    c._s.tick = tick  # the ticker's next turn (within the 2 s keep alive) meets it
    try:
        err = await asyncio.wait_for(c.wait_closed(), 6)
        emit(closed=True, connected=c.is_connected, error=str(err))
    except asyncio.TimeoutError:
        emit(closed=False, connected=c.is_connected)


main(run())
