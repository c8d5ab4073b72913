# Fieldnode's mqtt5 client under the bench (MicroPython unix port or CPython).
#   fieldnode.py full PORT PROXY_PORT N_QOS0 N_QOS1 N_WINDOW N_RTT BUDGET_MS
#   fieldnode.py fixed PORT      (the fixed workload run by the min-heapsize search)
#   fieldnode.py mem PORT        (heap after import/connect/subscribe, bytes per publish)
import sys

from _bench import (PAYLOAD16, args, emit, heap, heap_start, heap_stop, info, median,
                    fixed_publishes, publish_allocs, rate, sensor_payload, ticks_diff, ticks_us)

MODE, A = args()
PORT = A[0]
ID = "bench-fn-%d" % (ticks_us() & 0xFFFFFF)
heap0 = heap_start()
import asyncio  # noqa: E402  (counted in the import figure, as on a board)

heap_asyncio = heap()
from mqtt5 import Client  # noqa: E402

heap_import = heap()


async def fixed():
    c = Client(ID)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    await c.subscribe("bench/fixed/%s/cmd" % ID, qos=1, handler=lambda m: None)
    await fixed_publishes(c, "bench/fixed/data")


async def mem():
    c = Client(ID)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    emit("heap_import", heap_import - heap0)
    emit("heap_connected", heap() - heap0)
    await c.subscribe("bench/fn/%s/cmd" % ID, qos=1, handler=lambda m: None)
    emit("heap_subscribed", heap() - heap0)
    heap_stop()
    await publish_allocs(c, "bench/fn/data")
    await c.disconnect()
    info(modules=sorted(k for k in sys.modules if k == "mqtt5" or k.startswith("mqtt5.")))


async def full():
    proxy_port, n0, n1, nwin, nrtt, budget_ms = A[1:7]
    c = Client(ID)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    emit("heap_asyncio", heap_asyncio - heap0)
    emit("heap_import", heap_import - heap0)
    emit("heap_connected", heap() - heap0)
    heap_stop()
    t = "bench/fn/data"
    await publish_allocs(c, t)

    # QoS 0 rate: clock stops at the PUBACK of a final QoS 1
    t0 = ticks_us()
    for _ in range(n0):
        await c.publish(t, PAYLOAD16)
    await c.publish(t, PAYLOAD16, qos=1)
    emit("qos0_rate", rate(n0 + 1, t0))

    # QoS 1, each PUBACK awaited (stops early after budget_ms)
    t0 = ticks_us()
    n = 0
    while n < n1:
        await c.publish(t, PAYLOAD16, qos=1)
        n += 1
        if not n & 63 and ticks_diff(ticks_us(), t0) > budget_ms * 1000:
            break
    emit("qos1_rate", rate(n, t0), n=n)

    # QoS 1 with the Receive Maximum window: that many publishes in flight
    window = min(getattr(c.session, "receive_maximum_out", 0) or 16, 16)
    share = nwin // window

    async def worker():
        for _ in range(share):
            await c.publish(t, PAYLOAD16, qos=1)

    t0 = ticks_us()
    await asyncio.gather(*[worker() for _ in range(window)])
    emit("qos1_window_rate", rate(share * window, t0), window=window)

    # round trip: QoS 1 publish to our own QoS 1 subscription, until the handler runs
    rt = "bench/fn/%s/rtt" % ID
    ev = asyncio.Event()
    box = [0]

    def handler(m):
        box[0] = ticks_us()
        ev.set()

    await c.subscribe(rt, qos=1, handler=handler)
    samples = []
    for _ in range(nrtt):
        ev.clear()
        t0 = ticks_us()
        await c.publish(rt, PAYLOAD16, qos=1)
        await ev.wait()
        samples.append(ticks_diff(box[0], t0))
    emit("rtt_ms", median(samples) / 1000)
    await c.disconnect()
    # what the workload loaded: a basic node's connect, publishes, subscribe and
    # messages in (the wire part below opts into topic_alias_out, which loads
    # mqtt5.aliases: an option, not the core)
    info(modules=sorted(k for k in sys.modules if k == "mqtt5" or k.startswith("mqtt5.")))

    # wire bytes of a repeated sensor-state publish, through the counting proxy
    # outbound topic aliases are opt-in (Session topic_alias_out); a Client that
    # does not take the option yet sends the full topic each time
    try:
        w = Client(ID + "-wire", topic_alias_out=4)
        info(topic_alias_out=4)
    except TypeError:
        w = Client(ID + "-wire")
        info(topic_alias_out="not accepted by Client()")
    await w.connect("mqtt://127.0.0.1:%d" % proxy_port)
    for seq in range(3):
        await w.publish("fieldnode/v1/bench-node/state/temp", sensor_payload(seq, 2150 + seq),
                        qos=1, retain=True)
    await w.disconnect()


asyncio.run({"fixed": fixed, "mem": mem}.get(MODE, full)())
