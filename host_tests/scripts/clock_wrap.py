"""2**31 ms of simulated uptime through the compat clock and the keep-alive tracker.

Time advances with _compat.ticks_add (wrapping like the device's ticks_ms: twice on a
32-bit port), the keep-alive decisions are checked against ages kept as small
numbers, and with the GC off the loop must not allocate (every value stays a small
int). Prints one JSON record.
"""

import gc
import json

from mqtt5._compat import monotonic_ms, ticks_add, ticks_diff
from mqtt5.keepalive import due

# keepalive.py's private consts: the state list's slots and due()'s two answers
# besides a wait (its docstring)
PERIOD, LAST_TX, LAST_RX, PING_OUT = 0, 1, 2, 3
DEAD, PING = -1, -2

STEP = 30000            # ms per simulated tick
SPAN = 1 << 31          # simulated uptime, ms
P = 60000               # keep-alive period, ms


def expect(rx_age, tx_age, ping_out):
    # what keepalive.due() must answer, from ages kept as plain numbers
    if rx_age >= P + (P >> 1):
        return DEAD
    if not ping_out and (tx_age >= P or rx_age >= P):
        return PING
    left = P + (P >> 1) - rx_age
    if not ping_out:
        left = min(left, P - tx_age, P - rx_age)
    return left


def run():
    now = monotonic_ms()          # start from the real clock, wherever it is
    ka = [0, 0, 0, False, 0, None]  # the session's keep-alive state (keepalive.py)
    ka[PERIOD] = P
    ka[LAST_TX] = ka[LAST_RX] = now
    rx_age = tx_age = 0
    wraps = wrong = checks = 0
    i = 0
    step_n = SPAN // STEP + 1
    gc.collect()
    has_gc = hasattr(gc, "mem_alloc")
    if has_gc:
        gc.disable()
        a0 = gc.mem_alloc()
    while i < step_n:
        prev = now
        now = ticks_add(now, STEP)
        if now < prev:
            wraps += 1
        rx_age += STEP
        tx_age += STEP
        got = due(ka, now, True)
        checks += 1
        if got != expect(rx_age, tx_age, ka[PING_OUT]):
            wrong += 1
        if got == PING:                 # the session queues PINGREQ
            ka[LAST_TX] = now
            ka[PING_OUT] = True
            tx_age = 0
            checks += 1
            if due(ka, now, True) != expect(rx_age, tx_age, True):
                wrong += 1
        if got == DEAD or i % 5 == 0:   # a packet arrives (or a new link starts)
            ka[LAST_RX] = now
            ka[PING_OUT] = False
            rx_age = 0
        if i % 3 == 0:
            ka[LAST_TX] = now
            tx_age = 0
        if ticks_diff(now, prev) != STEP:
            wrong += 1
        monotonic_ms()                  # the real clock: a small int too
        i += 1
    alloc = gc.mem_alloc() - a0 if has_gc else None
    try:  # MicroPython: the session's clock is the wrapping ticks_ms itself
        from time import ticks_ms
        same = abs(ticks_diff(monotonic_ms(), ticks_ms())) <= 1
    except ImportError:
        same = True
    if has_gc:
        gc.enable()
    print(json.dumps({"checks": checks, "wrong": wrong, "wraps": wraps, "alloc": alloc, "ticks_clock": same,
                      "simulated_ms": i * STEP}))


run()
