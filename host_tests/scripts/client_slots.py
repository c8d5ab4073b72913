# QoS 1 publishes whose awaitable is dropped unawaited or cancelled while it waits:
# the messages still go out, and their in-flight slots free themselves, so a client
# with two slots goes on publishing.  QoS 0 publishes (a shared finished awaitable)
# go through gather() and create_task(). One dropped unawaited raises no warning.
import asyncio
import gc

from client_util import Inbox, args, emit, main
from mqtt5 import Client

PORT, TAG = args()
BASE = "slots/" + TAG


async def run():
    c = Client("slots-" + TAG, max_inflight=2)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    inbox = Inbox()
    await c.subscribe(BASE + "/#", qos=1, handler=inbox)

    aw = c.publish(BASE + "/dropped", b"d", qos=1)   # queued by the call itself
    aw.close()                                        # never awaited
    task = asyncio.create_task(c.publish(BASE + "/cancelled", b"c", qos=1))
    await asyncio.sleep(0)                            # it waits for its PUBACK...
    task.cancel()                                     # ...and is cancelled
    try:
        await task
    except asyncio.CancelledError:
        pass
    # both slots were taken: these wait for them, then each takes a freed one
    rcs = []
    for i in range(5):
        rcs.append(await asyncio.wait_for(c.publish(BASE + "/after", b"%d" % i, qos=1), 5))
    c.publish(BASE + "/unawaited", b"u", qos=1)  # dropped at once, not even closed:
    gc.collect()  # no "never awaited" warning on CPython (the test reads stderr)
    # QoS 0 publishes return one shared finished awaitable: gather and tasks take it
    done = await asyncio.gather(c.publish(BASE + "/q0", b"a"), c.publish(BASE + "/q0", b"b"))
    await asyncio.create_task(c.publish(BASE + "/q0", b"c"))
    got = await inbox.wait(11)
    emit(step="slots", rcs=rcs, done=done, topics=sorted(m["topic"][len(BASE):] for m in got),
         slots_free=c._wpid[1:].count(-1), slots=len(c._wpid) - 1,  # (0: connect()'s)
         waiting=c._s.inflight_count)
    await c.disconnect()


main(run())
