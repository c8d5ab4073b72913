# A client under the Supervisor against brokers with restrictive limits (found by a
# capability audit). Port 1: Mosquitto with message_size_limit 100, which answers a
# larger QoS 1/2 message with PUBACK/PUBREC 0x95 (a code the spec does not list
# there): that message fails, the link stays. Port 2: retain_available false: a
# queued retained message the server refuses is counted, not lost silently, and a
# retained Will is a fatal refusal (0x9A), not retried for ever.
#   client_limits.py PORT_SIZE PORT_NORETAIN TAG
import asyncio
import sys

from client_util import emit, main
from mqtt5 import Client, MQTTError, Supervisor, Will

SIZE, NORETAIN = int(sys.argv[1]), int(sys.argv[2])
TAG = sys.argv[3]


async def outcome(aw):
    try:
        return await asyncio.wait_for(aw, 5)
    except MQTTError as e:
        return [getattr(e, "reason_code", None), str(e)]


async def size_limit():
    c = Client("limits-s-" + TAG)
    sup = Supervisor(c, "mqtt://127.0.0.1:%d" % SIZE)
    sup.start()
    await sup.wait_up(5000)
    big1 = await outcome(c.publish("limits/big", b"x" * 200, qos=1))
    big2 = await outcome(c.publish("limits/big", b"x" * 200, qos=2))
    small = await outcome(c.publish("limits/small", b"x", qos=1))
    await asyncio.sleep(0.5)
    emit(step="size", big1=big1, big2=big2, small=small, connects=sup.stats.connects,
         up=c.is_connected)
    await sup.stop()


async def no_retain():
    c = Client("limits-r-" + TAG)
    sup = Supervisor(c, "mqtt://127.0.0.1:%d" % NORETAIN,
                     birth=("limits/status", b"online", 1, True))
    await c.publish("limits/state", b"v1", 0, True)  # while down: queued
    sup.start()
    await sup.wait_up(5000)
    await asyncio.sleep(0.5)  # the drainer's turn: both refused by the server
    try:  # up: refused at the call
        now = await c.publish("limits/state", b"v2", 0, True)
    except MQTTError as e:
        now = [getattr(e, "reason_code", None), str(e)]
    emit(step="noretain", drops=sup.queue.drops, now=now, connects=sup.stats.connects,
         up=c.is_connected)
    await sup.stop()
    w = Client("limits-w-" + TAG, will=Will("limits/status", b"offline", qos=1, retain=True))
    sup = Supervisor(w, "mqtt://127.0.0.1:%d" % NORETAIN, base_ms=50, cap_ms=100)
    task = sup.start()
    await asyncio.wait_for(task, 5)  # a fatal refusal stops it (no fatal_backoff_ms)
    emit(step="will", state=sup.state, reason=str(sup.reason),
         attempts=sum(sup.stats.failures.values()))


async def run():
    await size_limit()
    await no_retain()
    emit(step="done")


main(run())
