# A TCP connect that never completes (the listener's backlog is full, so its SYNs go
# unanswered), or a CONNACK that never comes, ends with asyncio.TimeoutError after
# connect_timeout_ms, naming which, and the loop runs other tasks meanwhile.
# argv: port tag
import asyncio

from client_util import args, emit
from mqtt5 import Client
from mqtt5._compat import monotonic_ms, sleep_ms, ticks_diff

PORT, TAG = args()


async def main():
    turns = [0]

    async def other():
        while True:
            turns[0] += 1
            await sleep_ms(10)

    t = asyncio.create_task(other())
    c = Client("cto-" + TAG, connect_timeout_ms=800)
    t0 = monotonic_ms()
    try:
        await c.connect("mqtt://127.0.0.1:%d" % PORT)
        name = text = None
    except Exception as e:
        name, text = type(e).__name__, str(e)
    emit(error=name, text=text, ms=ticks_diff(monotonic_ms(), t0), turns=turns[0],
         connected=c.is_connected)
    t.cancel()


asyncio.run(main())
