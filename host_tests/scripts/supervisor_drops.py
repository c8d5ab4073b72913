# Publishes dropped by the offline queue (DROP_OLDEST, one entry, the link never up):
# each caller got the same MQTTError, whose traceback grew by every raise's frames
# (24 B a drop on a 32-bit port, for good).  Prints the heap used after 200 and after
# 600 drops (MicroPython), and the frames in the last error's traceback (CPython).
import asyncio
import gc

from client_util import emit, main
from mqtt5 import Client, Supervisor


async def run():
    c = Client("drops", max_inflight=4)
    Supervisor(c, "mqtt://127.0.0.1:9", queue_count=1)  # never started: no link
    heap = []
    last = a = None
    for n in (200, 400):
        for _ in range(n):
            aw = c.publish("t", b"x", qos=1)  # queued: the one before it dropped
            if a is not None:
                try:
                    await a
                except Exception as e:
                    last = e
            a = aw
        gc.collect()
        heap.append(gc.mem_alloc() if hasattr(gc, "mem_alloc") else None)
    tb = getattr(last, "__traceback__", None)
    depth = 0
    while tb is not None and hasattr(tb, "tb_next"):
        depth += 1
        tb = tb.tb_next
    emit(step="drops", error=str(last), code=last.reason_code, heap=heap, frames=depth)


main(run())
