# Back-pressure: small buffers (rx 1024, tx 512) and 4 in-flight slots, 60
# concurrent publishes of 200 bytes at QoS 0/1/2 to a topic we subscribe to.
# Exercises waiting for a slot, for transmit room (BufferFull) and a receive
# buffer that holds only a few messages at a time. All 60 must arrive.
import asyncio

from client_util import Inbox, args, emit, main
from mqtt5 import Client

PORT, TAG = args()
TOPIC = "burst/" + TAG
N = 60


async def run():
    c = Client("burst-" + TAG, rx_size=1024, tx_size=512, max_inflight=4)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    inbox = Inbox()
    await c.subscribe(TOPIC, qos=2, handler=inbox)
    body = b"." * 196

    async def one(i):
        return await c.publish(TOPIC, b"%03d" % i + body[:197 - len(b"%03d" % i)] + b"|",
                               qos=i % 3)

    rcs = await asyncio.gather(*[one(i) for i in range(N)])
    got = await inbox.wait(N, timeout=20)
    emit(step="burst", rcs_ok=all(r in (None, 0) for r in rcs),
         received=sorted(int(m["payload"][:3]) for m in got),
         sizes=sorted(set(len(m["payload"]) for m in got)))
    await c.disconnect()

    # QoS 0 callers waiting for transmit room (a 256-byte buffer, 120-byte messages)
    # when the link goes: the first was queued by its call, each other one fails
    # naming why, none hangs
    c = Client("burst0-" + TAG, tx_size=256)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    ts = [asyncio.create_task(c.publish(TOPIC + "/x", body[:120])) for _ in range(4)]
    c.abort()
    errors = []
    for t in ts:
        try:
            errors.append(await asyncio.wait_for(t, 5))
        except Exception as e:  # noqa: BLE001 - the test reports what it was
            errors.append(str(e))
    emit(step="burst0", outcomes=errors)


main(run())
