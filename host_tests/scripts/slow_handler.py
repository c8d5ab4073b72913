# A slow async handler (100 ms a message) under a flood of QoS 1 messages, on a
# supervised client with a kept session. Every message must be handled at least
# once: one whose handler cannot start for want of heap is not acknowledged (the
# link drops first), so the broker sends it again.  argv: port tag n
import asyncio
import sys
import time

from client_util import args, emit, main
from mqtt5 import Client, Supervisor

PORT, TAG = args()
N = int(sys.argv[3])
seen = bytearray(N)
running = [0, 0]  # now, most at once


async def handler(m):
    running[0] += 1
    running[1] = max(running[1], running[0])
    try:
        await asyncio.sleep(0.1)
        seen[int(bytes(m.payload).split(b":")[0])] = 1
    finally:
        running[0] -= 1


async def run():
    c = Client("slow-" + TAG, keepalive=30, session_expiry=300)
    sup = Supervisor(c, "mqtt://127.0.0.1:%d" % PORT, base_ms=200, cap_ms=1000)
    await sup.subscribe("slow/%s/t" % TAG, qos=1, handler=handler)
    sup.start()
    await sup.wait_up(5000)
    print("ready")
    t0 = time.time()
    while time.time() - t0 < 60 and (sum(seen) < N or running[0]):
        await asyncio.sleep(0.2)
    emit(step="end", missing=N - sum(seen), most_at_once=running[1],
         links_lost=sup.stats.as_dict()["links_lost"], secs=round(time.time() - t0, 1))
    await sup.stop()


main(run())
