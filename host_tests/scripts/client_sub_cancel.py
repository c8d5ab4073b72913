# Subscribes cut short: a re-subscribe (same filter, a new handler) that times out
# left no route, though the server keeps the subscription: its messages lost their
# handler; and a subscribe cancelled after its SUBSCRIBE went out freed its
# Subscription Identifier, which the next subscribe took: the cancelled filter's
# messages reached that unrelated handler.   client_sub_cancel.py PORT TAG
import asyncio

from client_util import args, emit, main
from mqtt5 import Client


async def run():
    port, tag = args()
    other = []
    c = Client("subcancel-" + tag, on_message=lambda m: other.append(m.topic))
    await c.connect("mqtt://127.0.0.1:%d" % port)
    base = "subcancel/" + tag
    h1, h2, hb = [], [], []
    await c.subscribe(base + "/f", qos=1, handler=lambda m: h1.append(bytes(m.payload)))
    try:
        await asyncio.wait_for(c.subscribe(base + "/f", qos=1,
                                           handler=lambda m: h2.append(bytes(m.payload))),
                               0.0001)
        resub = "in time"
    except asyncio.TimeoutError:
        resub = "timed out"
    await asyncio.sleep(0.2)
    await c.publish(base + "/f", b"two", qos=1)
    t = asyncio.create_task(c.subscribe(base + "/a/#", qos=1, handler=lambda m: None))
    for _ in range(50):
        await asyncio.sleep(0)
        if max(c._wpid) > 0:  # its packet id: the SUBSCRIBE is queued
            break
    t.cancel()
    try:
        await t
    except asyncio.CancelledError:
        pass
    await asyncio.sleep(0.2)
    await c.subscribe(base + "/b/#", qos=1, handler=lambda m: hb.append(m.topic))
    await c.publish(base + "/a/1", b"for a", qos=1)
    await c.publish(base + "/b/1", b"for b", qos=1)
    await asyncio.sleep(0.3)
    emit(step="done", resub=resub, handled=len(h1) + len(h2), b=hb, other=other)
    await c.disconnect()


main(run())
