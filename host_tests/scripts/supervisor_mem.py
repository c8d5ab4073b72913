# Heap cost of supervision on this runtime (argv: port tag): the Supervisor and
# its offline queue, and the transient allocation of one QoS 0 / QoS 1 publish,
# plain client vs supervised client (MicroPython's gc.mem_alloc; 0 elsewhere).
import gc

import asyncio
from client_util import args, emit, main
from mqtt5 import Client, Supervisor

PORT, TAG = args()
URL = "mqtt://127.0.0.1:%d" % PORT
N = 20


def heap():
    gc.collect()
    return gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0


async def per_publish(c, topic, qos):
    payload = b"x" * 32
    await c.publish(topic, payload, qos=qos)  # warm up (aliases, first slot)
    if not hasattr(gc, "mem_alloc"):
        return 0
    gc.collect()
    gc.disable()
    a0 = gc.mem_alloc()
    for _ in range(N):
        await c.publish(topic, payload, qos=qos)
    a = (gc.mem_alloc() - a0) // N
    gc.enable()
    return a


async def run():
    plain = Client("mp-" + TAG)
    await plain.connect(URL)
    p0 = await per_publish(plain, "mem/%s/p" % TAG, 0)
    p1 = await per_publish(plain, "mem/%s/p" % TAG, 1)
    await plain.disconnect()
    c = Client("ms-" + TAG, session_expiry=60)
    h0 = heap()
    sup = Supervisor(c, URL)
    h_sup = heap() - h0
    sup.start()
    await sup.wait_up(5000)
    s0 = await per_publish(c, "mem/%s/s" % TAG, 0)
    s1 = await per_publish(c, "mem/%s/s" % TAG, 1)
    await sup.stop()
    emit(supervisor_bytes=h_sup, plain_qos0=p0, plain_qos1=p1, supervised_qos0=s0,
         supervised_qos1=s1)


main(run())
