# QoS 1 publishes to one topic, called in order a few ms apart, each awaited in a task
# of its own, with 2 waiter slots: most wait for a slot. The client subscribes to the
# topic and records the order the broker delivers them in, plain and supervised.
#   argv: port tag
import asyncio
import random

from client_util import args, emit, main
from mqtt5 import Client, Supervisor

PORT, TAG = args()
N = 200


async def burst(sub, topic):
    # (sub: the Client, or the Supervisor that subscribes for it)
    got = []
    await sub.subscribe(topic, qos=1, handler=lambda m: got.append(int(bytes(m.payload))))
    c = getattr(sub, "client", sub)
    tasks = []
    for i in range(N):
        tasks.append(asyncio.create_task(_awaited(c.publish(topic, b"%d" % i, qos=1))))
        await asyncio.sleep(random.randint(0, 3) / 1000)
    await asyncio.gather(*tasks)
    for _ in range(300):  # (the last ones on their way back)
        if len(got) == N:
            break
        await asyncio.sleep(0.01)
    return got


async def _awaited(aw):
    await aw


async def run():
    random.seed(7)
    url = "mqtt://127.0.0.1:%d" % PORT
    c = Client("order-" + TAG, max_inflight=2)
    await c.connect(url)
    plain = await burst(c, "order/%s/plain" % TAG)
    await c.disconnect()
    c = Client("order-sup-" + TAG, max_inflight=3)  # (one slot kept for re-subscribing)
    sup = Supervisor(c, url)
    sup.start()
    await sup.wait_up(5000)
    supervised = await burst(sup, "order/%s/sup" % TAG)
    await sup.stop()
    emit(step="order", plain=plain, supervised=supervised)


main(run())
