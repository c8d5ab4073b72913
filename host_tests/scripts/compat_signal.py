# mqtt5._compat.Signal, the Event the link waits on: set before and after a wait, a
# pulse (set then clear) waking every waiter, a cancelled waiter, a wait_for timeout,
# the outcome (rc, err) and the hand-back to its slot (home), running as a task.  On
# MicroPython a wait must allocate nothing.
import asyncio
import gc
import sys

from client_util import emit
from mqtt5._compat import Signal

MICROPYTHON = sys.implementation.name == "micropython"
out = {}


async def waits(sig, log, name):
    await sig.wait()
    log.append(name)


async def cancelled(t):
    # True when awaiting task t raises CancelledError
    try:
        await t
        return "not cancelled"
    except asyncio.CancelledError:
        return True


async def main():
    s = Signal()
    s.set()
    out["set_before"] = await s.wait()          # returns at once: rc None

    s = Signal()
    log = []
    ts = [asyncio.create_task(waits(s, log, n)) for n in ("a", "b", "c")]
    await asyncio.sleep(0)                        # all three parked
    s.pulse()                                     # set, clear: the woken still end their wait
    late = asyncio.create_task(waits(s, log, "late"))
    try:
        await asyncio.wait_for(asyncio.gather(*ts), 2)
    except asyncio.TimeoutError:
        pass                                      # still parked: the pulse was lost
    await asyncio.sleep(0)
    out["pulse"] = sorted(log)                    # "late" waits for the next pulse
    s.set()
    await late
    out["next_pulse"] = log[-1]

    s = Signal()
    t = asyncio.create_task(waits(s, [], "x"))
    await asyncio.sleep(0)
    t.cancel()
    out["cancelled"] = await cancelled(t)
    s.set()                                       # nobody is parked any more
    s.clear()
    t = asyncio.create_task(waits(s, [], "y"))
    await asyncio.sleep(0)
    s.set()                                       # woken, then cancelled before it runs
    s.clear()
    t.cancel()
    out["woken_cancelled"] = await cancelled(t)
    try:
        await asyncio.wait_for(s.wait(), 0.05)    # runs the Signal as a task
        out["timeout"] = "no timeout"
    except asyncio.TimeoutError:
        out["timeout"] = True
    log = []
    t = asyncio.create_task(waits(s, log, "after"))
    await asyncio.sleep(0)
    s.set()
    await t
    out["after_cancel"] = log

    s = Signal()
    s.rc = 0x10
    home = [None, None]
    s.home, s.slot = home, 1
    t = asyncio.create_task(s.wait())             # the Signal itself as a task (MicroPython)
    await asyncio.sleep(0)
    s.set()
    out["rc"] = await t
    out["home"] = home[1] is s and s.rc is None and s.home is None
    s.err = ValueError("refused")
    s.set()
    try:
        await s.wait()
        out["err"] = "no error"
    except ValueError as e:
        out["err"] = str(e)

    if MICROPYTHON:                               # a waiting task and a setter, 200 times
        a, b = Signal(), Signal()
        n = 200

        async def ping():
            for _ in range(n):
                await a.wait()
                a.clear()
                b.set()

        t = asyncio.create_task(ping())
        await asyncio.sleep(0)
        for _ in range(3):                        # warm up: tracebacks of the stops
            a.set()
            await b.wait()
            b.clear()
        gc.collect()
        gc.disable()
        m0 = gc.mem_alloc()
        for _ in range(n - 3):
            a.set()
            await b.wait()
            b.clear()
        m1 = gc.mem_alloc()
        gc.enable()
        await t
        out["bytes_per_wait"] = (m1 - m0) / (2 * (n - 3))
    emit(**out)


asyncio.run(main())
