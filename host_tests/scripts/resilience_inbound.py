# A supervised subscriber with the Client's defaults (receive_maximum 16, the
# Receive Maximum tolerated): QoS 1 and QoS 2 subscriptions; prints every payload it
# gets and its state changes, until killed.  argv: port tag
import asyncio

from client_util import args, emit, main, text
from resilience_util import supervised

PORT, TAG = args()
BASE = "ri/" + TAG


def on_msg(m):
    emit(got=text(m.payload))


async def run():
    c, sup = supervised(PORT, "ri-" + TAG, keepalive=5)
    await sup.subscribe(BASE + "/q1", qos=1, handler=on_msg)
    await sup.subscribe(BASE + "/q2", qos=2, handler=on_msg)
    sup.start()
    await asyncio.sleep(120)
    await sup.stop()


main(run())
