# Client._ended_within(ms) (mqtt5.link.ended_within): disconnect()'s wait for the server's close and the
# Supervisor's hourly wake while a link is up, with no asyncio.wait_for: False after
# ms on a live link, True as soon as the link ends.
# argv: port tag
import asyncio

from client_util import args, emit
from mqtt5 import Client
from mqtt5._compat import monotonic_ms, sleep_ms, ticks_diff

PORT, TAG = args()


async def main():
    c = Client("ew-" + TAG)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    t0 = monotonic_ms()
    live = await c._ended_within(300)
    live_ms = ticks_diff(monotonic_ms(), t0)

    async def later():
        await sleep_ms(100)
        await c.disconnect()

    asyncio.create_task(later())
    t0 = monotonic_ms()
    ended = await c._ended_within(5000)
    ended_ms = ticks_diff(monotonic_ms(), t0)
    emit(live=live, live_ms=live_ms, ended=ended, ended_ms=ended_ms, error=str(c.error),
         again=await c._ended_within(5000))


asyncio.run(main())
