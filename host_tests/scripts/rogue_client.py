# The client against each rogue broker mode (argv: config.json {"ports": {mode:
# port}, "sup": port of a "garbage" one for the Supervisor}).  One record per
# mode: the error (type, text, reason code), how long it took, and the heap in
# use before and after (MicroPython; run with a small -X heapsize, so a client
# allocating what a 256 MB Remaining Length announces would die of MemoryError).
import asyncio
import gc
import json
import sys

from client_util import emit, main
from mqtt5 import Client, Supervisor
from mqtt5._compat import monotonic_ms, ticks_diff

with open(sys.argv[1]) as f:
    CFG = json.load(f)


def heap():
    gc.collect()
    return gc.mem_alloc() if hasattr(gc, "mem_alloc") else None


async def one(mode, port, report=True):
    url = "mqtt://127.0.0.1:%d" % port
    c = Client("rogue-" + mode, connect_timeout_ms=1500, rx_size=1024, tx_size=1024)
    h0 = heap()
    t0 = monotonic_ms()
    rec = {"mode": mode, "error": None, "type": None, "code": None}
    try:
        await c.connect(url)
        rec["connected"] = True
        # connack_then_flood: we keep working while PINGRESPs pour in
        for i in range(20):
            await c.publish("rogue/x", b"%d" % i)
            await asyncio.sleep(0.05)
        rec["still_connected"] = c.is_connected
        rec["bytes_in"] = c.bytes_in
        await c.disconnect()
    except Exception as e:
        rec["error"] = str(e)
        rec["type"] = type(e).__name__
        rec["code"] = getattr(e, "reason_code", None)
    rec["ms"] = ticks_diff(monotonic_ms(), t0)
    del c
    h1 = heap()
    rec["heap_growth"] = None if h0 is None else h1 - h0
    if report:
        emit(**rec)


async def supervised(port):
    # the Supervisor against garbage: backs off, counts the failures by code
    c = Client("rogue-sup", connect_timeout_ms=1500)
    sup = Supervisor(c, "mqtt://127.0.0.1:%d" % port, base_ms=200, cap_ms=2000)
    sup.start()
    await asyncio.sleep(3)
    st = sup.stats.as_dict()
    await sup.stop()
    emit(step="supervisor", failures=st["failures"], connects=st["connects"],
         reason=str(sup.reason))


async def run():
    await one("warm-up", CFG["sup"], False)  # lazy imports before heap figures count
    for mode, port in sorted(CFG["ports"].items()):
        await one(mode, port)
    await supervised(CFG["sup"])


main(run())
