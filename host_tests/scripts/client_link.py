# Link behaviour through the test's fault proxy (argv: proxy_port tag):
# - keep-alive: idle for 2.25 x keepalive (2 s) and still connected (PINGREQs);
#   2 s, not 1: Mosquitto counts whole seconds, and for 1 s its 1.5 x grace is
#   one tick of its clock, too tight for pings every ~1.05 s
# - batching: 10 concurrent publishes leave in one transport write; 20 awaited
#   QoS 1 publishes are written by publish() itself (no writer turns but the ticker's)
# - dead link: after "blackhole" (the peer's trigger on <base>/ready), a QoS 1
#   publish fails with the keep-alive error within ~1.5 x keepalive (3 s)
import asyncio

from client_util import args, emit, main
from mqtt5 import Client, MQTTError

try:
    from time import ticks_ms, ticks_diff
except ImportError:
    from time import monotonic

    def ticks_ms():
        return int(monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b

PORT, TAG = args()
BASE = "link/" + TAG

writes = [0]


def count_writes(t):
    # count the writes of the class of transport t (what mqtt5.transport opened)
    cls = type(t)
    write = cls.write

    def counting_write(self, buf):
        writes[0] += 1
        write(self, buf)

    cls.write = counting_write


async def run():
    c = Client("link-" + TAG, keepalive=2)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    count_writes(c._t)
    await asyncio.sleep(4.5)
    emit(step="idle", connected=c.is_connected)

    writes[0] = 0
    async def pub(i):  # all 10 publish() calls made in the same loop turn
        await c.publish(BASE + "/batch", b"%d" % i, qos=i % 2)

    await asyncio.gather(*[pub(i) for i in range(10)])
    emit(step="batch", writes=writes[0])

    writes[0] = 0  # awaited one by one: each written by publish() itself, no writer turn
    turns = c._wgen
    for i in range(20):
        await c.publish(BASE + "/alone", b"%d" % i, qos=1)
    emit(step="alone", writes=writes[0], turns=c._wgen - turns)

    await c.publish(BASE + "/ready", b"1")   # the test blackholes the proxy now
    await asyncio.sleep(0.3)
    t0 = ticks_ms()
    try:
        await c.publish(BASE + "/lost", b"x", qos=1)
        emit(step="dead", error=None)
    except MQTTError as e:
        err = await c.wait_closed()
        emit(step="dead", error=str(e), ms=ticks_diff(ticks_ms(), t0),
             connected=c.is_connected, closed_error=str(err))
    try:
        await c.publish(BASE + "/after", b"x")
        emit(step="after", error=None)
    except MQTTError as e:
        emit(step="after", error=str(e))


main(run())
