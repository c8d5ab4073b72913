# Heap cost of the client (import, construct, connect) and the round trip of a
# QoS 1 message to a topic the client itself subscribes to.
#   argv: port tag [count]
import gc
import sys

import asyncio  # counted apart: the runtime's, not ours

try:
    from time import ticks_us, ticks_diff
except ImportError:
    from time import perf_counter_ns

    def ticks_us():
        return perf_counter_ns() // 1000

    def ticks_diff(a, b):
        return a - b


def heap():
    gc.collect()
    return gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0


h0 = heap()
from mqtt5 import Client  # noqa: E402
h_import = heap()

from client_util import args, emit, main  # noqa: E402

PORT, TAG = args()
COUNT = int(sys.argv[3]) if len(sys.argv) > 3 else 100


async def run():
    c = Client("mem-" + TAG, keepalive=60)
    h_client = heap()
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    h_connect = heap()
    topic = "rtt/" + TAG
    got = asyncio.Event()
    await c.subscribe(topic, qos=1, handler=lambda m: got.set())
    h_sub = heap()
    payload = b"x" * 32
    rtts = []
    for _ in range(COUNT):
        got.clear()
        t0 = ticks_us()
        await c.publish(topic, payload, qos=1)
        await got.wait()
        rtts.append(ticks_diff(ticks_us(), t0))
    h_after = heap()
    # transient allocation per round trip (publish, PUBACK, delivery, handler)
    alloc = 0
    if hasattr(gc, "mem_alloc"):
        gc.disable()
        a0 = gc.mem_alloc()
        for _ in range(20):
            got.clear()
            await c.publish(topic, payload, qos=1)
            await got.wait()
        alloc = (gc.mem_alloc() - a0) // 20
        gc.enable()
    await c.disconnect()
    rtts.sort()
    emit(import_bytes=h_import - h0, client_bytes=h_client - h_import,
         connect_bytes=h_connect - h_client, after_connect_bytes=h_connect - h0,
         subscribe_bytes=h_sub - h_connect, after_rtt_bytes=h_after - h0,
         rtt_median_us=rtts[len(rtts) // 2], rtt_p90_us=rtts[len(rtts) * 9 // 10],
         count=COUNT, alloc_per_rtt_bytes=alloc,
         mpy=__import__("mqtt5.client").client.__file__.endswith(".mpy"))


main(run())
