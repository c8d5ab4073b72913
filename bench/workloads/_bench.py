# Helpers shared by the bench workloads (MicroPython unix port and CPython).
# Each workload prints one JSON object per line: {"fig": name, "value": number}
# for a measurement, {"info": ...} for context.
import gc
import json
import sys
import time

MICRO = sys.implementation.name == "micropython"

if MICRO:
    ticks_us = time.ticks_us
    ticks_diff = time.ticks_diff
else:
    def ticks_us():
        return time.perf_counter_ns() // 1000

    def ticks_diff(a, b):
        return a - b

PAYLOAD16 = b"0123456789abcdef"
WARMUP = 5          # publishes of each QoS before allocations are counted
N_ALLOC0 = 250      # QoS 0 publishes averaged for bytes/publish (GC off meanwhile)
N_ALLOC1 = 50       # QoS 1 publishes averaged for bytes/publish
_tm = None


def emit(fig, value, **extra):
    extra["fig"] = fig
    extra["value"] = value
    print(json.dumps(extra))


def info(**kw):
    print(json.dumps({"info": kw}))


def args():
    """argv after the script name: mode first, then integers."""
    a = sys.argv[1:]
    return a[0], [int(x) for x in a[1:]]


def heap_start():
    """Baseline for heap(): MicroPython gc.mem_alloc(); CPython tracemalloc."""
    global _tm
    if not MICRO:
        import tracemalloc
        _tm = tracemalloc
        tracemalloc.start()
    return heap()


def heap():
    gc.collect()
    if MICRO:
        return gc.mem_alloc()
    return _tm.get_traced_memory()[0]


def heap_stop():
    if _tm is not None:
        _tm.stop()


class Alloc:
    """Bytes allocated by a stretch of code (MicroPython only: GC off, so
    gc.mem_alloc() only grows). On CPython the figure is None."""

    def __enter__(self):
        if MICRO:
            gc.collect()
            gc.disable()
            self.a = gc.mem_alloc()
        return self

    def per(self, n):
        return self.bytes / n if self.bytes is not None else None

    def __exit__(self, *exc):
        self.bytes = gc.mem_alloc() - self.a if MICRO else None
        if MICRO:
            gc.enable()
            gc.collect()


async def fixed_publishes(c, t):
    """The fixed workload's traffic for an asyncio client (min-heapsize search): 1,000
    QoS 0 then 200 QoS 1 publishes of 16 bytes, disconnect, then report ok."""
    for _ in range(1000):
        await c.publish(t, PAYLOAD16)
    for _ in range(200):
        await c.publish(t, PAYLOAD16, qos=1)
    await c.disconnect()
    print('{"fixed": "ok"}')


async def publish_allocs(c, t):
    """Emit bytes allocated per QoS 0 and QoS 1 publish by an asyncio client whose
    ``await c.publish(topic, payload, qos=...)`` returns once done, after warm-up."""
    for _ in range(WARMUP):
        await c.publish(t, PAYLOAD16)
        await c.publish(t, PAYLOAD16, qos=1)
    for _ in range(N_ALLOC0):  # one burst first: buffers that grow reach their size
        await c.publish(t, PAYLOAD16)
    with Alloc() as al:
        for _ in range(N_ALLOC0):
            await c.publish(t, PAYLOAD16)
    emit("alloc_qos0", al.per(N_ALLOC0))
    with Alloc() as al:
        for _ in range(N_ALLOC1):
            await c.publish(t, PAYLOAD16, qos=1)
    emit("alloc_qos1", al.per(N_ALLOC1))


def rate(n, t0):
    """Messages per second for n messages since ticks_us() value t0."""
    dt = ticks_diff(ticks_us(), t0)
    return n * 1000000 / dt if dt > 0 else 0.0


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def sensor_payload(seq, value):
    """A binary sensor reading as the firmware sends it: schema version byte,
    16-bit sequence number, signed 16-bit value (centi-degrees)."""
    return bytes((1, (seq >> 8) & 0xFF, seq & 0xFF, (value >> 8) & 0xFF, value & 0xFF))


def awaited_loop(publish, n_max, budget_ms):
    """Call publish() (blocking until its PUBACK) up to n_max times or until
    budget_ms has passed; returns (count, msg/s)."""
    t0 = ticks_us()
    n = 0
    while n < n_max:
        publish()
        n += 1
        if not n & 63 and ticks_diff(ticks_us(), t0) > budget_ms * 1000:
            break
    return n, rate(n, t0)
