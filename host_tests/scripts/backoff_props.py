# Properties of mqtt5.backoff under this runtime, one JSON record per check.
import json
import random
import sys

from mqtt5.backoff import XorShift32, ceiling_ms, delay_ms


def emit(**rec):
    print(json.dumps(rec))


# the window's upper end for attempts 0..24 (default 1 s doubling, 120 s cap),
# and for custom parameters
emit(check="ceilings", values=[ceiling_ms(n) for n in range(25)])
emit(check="ceilings_custom",
     values=[ceiling_ms(n, base_ms=100, factor=3, cap_ms=5000) for n in range(8)])
emit(check="huge_attempt", value=ceiling_ms(100000), delay=delay_ms(100000, 0.999999))

# the ends of the draw: 0 -> 0, just below 1 -> the ceiling
emit(check="ends", low=[delay_ms(n, 0.0) for n in range(10)],
     high=[delay_ms(n, 0.99999999) for n in range(10)])

# the same seed gives the same sequence on every runtime
p = XorShift32(12345)
emit(check="prng", values=[p.next32() for _ in range(5)])
p = XorShift32(0)
emit(check="prng_zero_seed", values=[p.next32() for _ in range(2)])

# distribution of delays at one attempt: 10 bins over [0, ceiling]
N = 20000
for attempt in (0, 3, 20):
    p = XorShift32(1 + attempt)
    c = ceiling_ms(attempt)
    bins = [0] * 10
    lo, hi, total = c, 0, 0
    for _ in range(N):
        d = delay_ms(attempt, p)
        lo = min(lo, d)
        hi = max(hi, d)
        total += d
        bins[min(d * 10 // (c + 1), 9)] += 1
    emit(check="distribution", attempt=attempt, ceiling=c, n=N, min=lo, max=hi,
         mean=total / N, bins=bins)

# the random module itself can be passed as the draw source
random.seed(7)
emit(check="random_module", values=[delay_ms(n, random) for n in range(6)])

# bad input is refused
bad = []
for args in ((-1, 0.5), (0, 1.0), (0, -0.1)):
    try:
        delay_ms(*args)
    except ValueError:
        bad.append(list(args))
for kw in ({"factor": 0.5}, {"base_ms": -1}, {"cap_ms": -1}):
    try:
        ceiling_ms(1, **kw)
    except ValueError:
        bad.append(kw)
emit(check="refused", values=bad)
emit(check="done", runtime=sys.implementation.name)
