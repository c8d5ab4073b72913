# The lean5 sketch under the bench's memory figures, as bench/workloads/fieldnode.py
# measures the real client (bench/sketch/README.md).
#   workload.py mem PORT      heap after import/connect/subscribe, bytes per publish
#   workload.py fixed PORT    the fixed workload of the min-heapsize search
#   workload.py check PORT    a round trip that shows the sketch works: QoS 0 and 1 to
#                             itself through the broker, a PINGRESP, a clean disconnect
import sys

from _bench import (args, emit, fixed_publishes, heap, heap_start, info, publish_allocs,
                    ticks_us)

MODE, A = args()
PORT = A[0]
ID = "bench-lean-%d" % (ticks_us() & 0xFFFFFF)
heap0 = heap_start()
import asyncio  # noqa: E402  (counted in the import figure, as for Fieldnode)
from lean5.client import Client  # noqa: E402

heap_import = heap()
URL = "mqtt://127.0.0.1:%d" % PORT


async def fixed():
    c = Client(ID)
    await c.connect(URL)
    await c.subscribe("bench/fixed/%s/cmd" % ID, 1, lambda *m: None)
    await fixed_publishes(c, "bench/fixed/data")


async def mem():
    c = Client(ID)
    await c.connect(URL)
    emit("heap_import", heap_import - heap0)
    emit("heap_connected", heap() - heap0)
    await c.subscribe("bench/lean/%s/cmd" % ID, 1, lambda *m: None)
    emit("heap_subscribed", heap() - heap0)
    await publish_allocs(c, "bench/lean/data")
    await c.disconnect()
    info(modules=sorted(k for k in sys.modules if k.split(".")[0] in ("mqtt5", "lean5")))


async def check():
    from mqtt5._compat import sleep_ms
    got = []
    c = Client(ID, keepalive=2)
    await c.connect(URL)
    t = "bench/lean/%s/echo" % ID
    rc = await c.subscribe(t + "/#", 1, lambda topic, p, props: got.append((topic, bytes(p))))
    await c.publish(t + "/0", b"zero")
    rc1 = await c.publish(t + "/1", b"one", qos=1)
    for _ in range(300):
        if len(got) == 2:
            break
        await sleep_ms(10)
    await sleep_ms(4500)  # over two keep-alive periods of silence: PINGREQs go out
    print('{"subscribed": %d, "puback": %d, "got": %d, "alive": %s}' % (
        rc, rc1, len(got), "true" if c.t is not None and c.s.connected else "false"))
    await c.disconnect()


asyncio.run({"fixed": fixed, "mem": mem, "check": check}[MODE]())
