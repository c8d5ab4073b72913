# peterhinch's mqtt_as (asyncio, MQTT 3.1.1 here) under the 32-bit bench columns.
#   mqtt_as_peer.py mem PORT      (heap after import/connect/subscribe, bytes per publish)
#   mqtt_as_peer.py fixed PORT
# mqtt_as expects a board: `network.WLAN` and `machine.unique_id`. The unix port has
# neither, so stand-ins go into sys.modules before the heap baseline (on a board they
# are built in). Its QoS 1 publish polls for the PUBACK every 100 ms, so QoS 1 work
# takes 0.1 s per message whatever the broker does: the memory figures are unaffected.
import sys


class _Stub:
    def __init__(self, *a):
        pass

    def active(self, *a):
        return True

    def isconnected(self):
        return True

    def connect(self, *a):
        pass

    def disconnect(self):
        pass

    def status(self):
        return 3


_network = _Stub()
_network.WLAN, _network.STA_IF, _network.STAT_IDLE = _Stub, 0, 0
_machine = _Stub()
_machine.unique_id = lambda: b"\x02\x00\x00\x00\x00\x01"
sys.modules["network"] = _network
sys.modules["machine"] = _machine

from _bench import (args, emit, fixed_publishes, heap, heap_start, publish_allocs,  # noqa: E402
                    ticks_us)

MODE, A = args()
PORT = A[0]
ID = "bench-as-%d" % (ticks_us() & 0xFFFFFF)
heap0 = heap_start()
import asyncio  # noqa: E402  (counted in the import figure, as for Fieldnode)
from mqtt_as import MQTTClient, config  # noqa: E402

heap_import = heap()


async def connected():
    config.update(server="127.0.0.1", port=PORT, client_id=ID, keepalive=60, queue_len=0,
                  subs_cb=lambda *a: None)
    c = MQTTClient(config)
    await c.connect(quick=True)   # quick: skips the 5 s Wi-Fi stability check
    return c


async def fixed():
    c = await connected()
    await c.subscribe("bench/fixed/%s/cmd" % ID, 1)
    await fixed_publishes(c, "bench/fixed/data")


async def mem():
    c = await connected()
    emit("heap_import", heap_import - heap0)
    emit("heap_connected", heap() - heap0)
    await c.subscribe("bench/as/%s/cmd" % ID, 1)
    emit("heap_subscribed", heap() - heap0)
    await publish_allocs(c, "bench/as/data")
    await c.disconnect()


asyncio.run(fixed() if MODE == "fixed" else mem())
