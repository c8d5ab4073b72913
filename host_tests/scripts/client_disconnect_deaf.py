# disconnect() against a server that never closes after our DISCONNECT
# (host_tests/rogue_broker.py "deaf"): the client waits 2 s for it, then closes; a
# disconnect() cancelled meanwhile still closes the link (it stayed open for ever:
# wait_closed() never returned, connect() said "already connected"); two at once
# both end with the link closed; a connect() while a disconnect() waits is refused,
# saying so.
#   client_disconnect_deaf.py PORT
import asyncio

from client_util import args, emit, main
from mqtt5 import Client, MQTTError
from mqtt5._compat import ticks_diff, ticks_ms


async def run():
    url = "mqtt://127.0.0.1:%d" % args()[0]
    c = Client("deaf")
    await c.connect(url)
    t0 = ticks_ms()
    d = asyncio.create_task(c.disconnect())
    await asyncio.sleep(0.1)
    try:  # while that disconnect() waits: refused, and says why
        await c.connect(url)
        during = None
    except MQTTError as e:
        during = str(e)
    await d
    waited = ticks_diff(ticks_ms(), t0)
    c = Client("deaf")
    await c.connect(url)
    try:
        await asyncio.wait_for(c.disconnect(), 0.3)
        cancelled = False
    except asyncio.TimeoutError:
        cancelled = True
    closed = await asyncio.wait_for(c.wait_closed(), 1)
    c = Client("deaf")
    await c.connect(url)
    await asyncio.gather(c.disconnect(), c.disconnect())
    emit(step="deaf", waited_ms=waited, during=during, cancelled=cancelled, closed=str(closed),
         open=c._t is not None)


main(run())
