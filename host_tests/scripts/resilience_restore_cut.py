# Three remembered subscriptions (rc/<tag>/a, b, c; QoS 1, one handler) under a
# Supervisor; prints each message it gets and its state changes, until killed.
# argv: port tag
import asyncio

from client_util import args, emit, main, text
from resilience_util import ms, supervised

PORT, TAG = args()
BASE = "rc/" + TAG


def on_msg(m):
    emit(got=text(m.payload), topic=m.topic, ms=ms())


async def run():
    c, sup = supervised(PORT, "rc-" + TAG, keepalive=5)
    for t in "abc":
        await sup.subscribe(BASE + "/" + t, qos=1, handler=on_msg)
    sup.start()
    await asyncio.sleep(120)
    await sup.stop()


main(run())
