# A supervised QoS 1 publish that needs the transmit buffer to grow, on a heap with no
# block for it (fake: mqtt5.txbuf's bytearray fails at 1 KB and above).  argv: port tag
import asyncio

import mqtt5.txbuf as txbuf
from client_util import args, emit, main
from mqtt5 import Client, Supervisor

PORT, TAG = args()
BASE = "aud/" + TAG
_bytearray = bytearray


def no_large_block(n):
    if n >= 1024:
        raise MemoryError("fake: no block of %d bytes" % n)
    return _bytearray(n)


async def attempt(a, payload):
    try:
        return await asyncio.wait_for(a.publish(BASE + "/t", payload, qos=1), 5)
    except Exception as e:
        return repr(e)


async def run():
    a = Client("big-" + TAG, keepalive=5, session_expiry=60)
    sup = Supervisor(a, "mqtt://127.0.0.1:%d" % PORT, base_ms=50, cap_ms=200)
    got = []
    await sup.subscribe(BASE + "/t", qos=1, handler=lambda m: got.append(len(m.payload)))
    sup.start()
    await sup.wait_up(5000)
    txbuf.bytearray = no_large_block
    big = await attempt(a, b"x" * 1500)
    small = await attempt(a, b"small")
    del txbuf.bytearray  # the heap has room again
    later = await attempt(a, b"y" * 1500)
    await asyncio.sleep(0.5)
    st = sup.stats.as_dict()
    emit(step="end", big=big, small=small, later=later, got=got, links_lost=st["links_lost"],
         connects=st["connects"], queued=st["queued"])
    await sup.stop()


main(run())
