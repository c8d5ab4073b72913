"""Reconnect delays: exponential backoff with full jitter.

    delay = uniform(0, min(cap_ms, base_ms * factor ** attempt))

Pure functions: no clock and no random module inside. The caller passes the
random draw in, either as a number in [0, 1) or as any object with a
``random()`` method returning one (the ``random`` module itself, or the tiny
deterministic ``XorShift32`` below for tests and for ports without ``random``)::

    import random
    from mqtt5.backoff import delay_ms
    await sleep_ms(delay_ms(attempt, random))      # attempt 0, 1, 2, ...

Full jitter spreads a fleet of nodes that lost the same broker over the whole
window instead of letting them reconnect in lock step.

What a failure means for the next attempt: `classify` (fatal, redirect, transient),
`followed` (where a redirect may lead) and `reason_key` (how mqtt5.supervisor's Stats
count it).
"""

import asyncio

BASE_MS = 1000
FACTOR = 2
CAP_MS = 120000


def ceiling_ms(attempt, base_ms=BASE_MS, factor=FACTOR, cap_ms=CAP_MS):
    """The upper end of the window for ``attempt`` (0 = first retry):
    min(cap_ms, base_ms * factor ** attempt), computed without large numbers."""
    if attempt < 0:
        raise ValueError("attempt < 0")
    if factor < 1 or base_ms < 0 or cap_ms < 0:
        raise ValueError("backoff needs factor >= 1, base_ms >= 0, cap_ms >= 0")
    c = base_ms
    for _ in range(attempt):
        if c >= cap_ms or not c:
            break
        c *= factor
    return int(min(c, cap_ms))


def delay_ms(attempt, rand, base_ms=BASE_MS, factor=FACTOR, cap_ms=CAP_MS):
    """Milliseconds to wait before retry number ``attempt`` (0-based): an integer
    drawn uniformly from [0, ceiling_ms(attempt, ...)], both ends included.

    ``rand`` is the random draw in [0, 1), or an object whose ``random()``
    returns one (``random`` module, ``XorShift32``)."""
    r = rand.random() if hasattr(rand, "random") else rand
    if not 0 <= r < 1:
        raise ValueError("rand must be in [0, 1)")
    c = ceiling_ms(attempt, base_ms, factor, cap_ms)
    d = int(r * (c + 1))
    return d if d <= c else c  # float rounding on single-precision ports


def __getattr__(name):
    # XorShift32, made by the first use (tests, ports without ``random``) and kept:
    # a node using ``random`` keeps no class, methods nor class dict for it
    if name != "XorShift32":
        raise AttributeError(name)

    class XorShift32:
        """A tiny deterministic PRNG (Marsaglia xorshift32), same sequence on
        CPython and MicroPython for the same seed. Not for cryptography."""

        def __init__(self, seed=2463534242):
            self.x = (seed & 0xFFFFFFFF) or 2463534242  # 0 is a fixed point

        def next32(self):
            """The next 32-bit unsigned integer of the sequence."""
            x = self.x
            x ^= (x << 13) & 0xFFFFFFFF
            x ^= x >> 17
            x ^= (x << 5) & 0xFFFFFFFF
            self.x = x
            return x

        def random(self):
            """A float in [0, 1) from the top 24 bits (exact even in single precision)."""
            return (self.next32() >> 8) / 16777216

    globals()[name] = XorShift32
    return XorShift32


# CONNACK/DISCONNECT codes after which retrying the same way cannot help (spec 3.2.2.2):
# version, client id, credentials, not authorized, banned, auth method, and the Will's
# retain or QoS, which the server does not support
FATAL_CODES = (0x84, 0x85, 0x86, 0x87, 0x8A, 0x8C, 0x9A, 0x9B)
# Server redirection (spec 4.11): 0x9C Use another server, 0x9D Server moved
REDIRECT_CODES = (0x9C, 0x9D)
FATAL = "fatal"
REDIRECT = "redirect"
TRANSIENT = "transient"  # 0x88, 0x89, 0x97, 0x9F, network errors, everything else


def classify(code):
    """FATAL, REDIRECT or TRANSIENT for a CONNACK/DISCONNECT reason code (None: a
    network error, transient)."""
    if code in FATAL_CODES:
        return FATAL
    if code in REDIRECT_CODES:
        return REDIRECT
    return TRANSIENT


def followed(url, ref, creds):
    """The URL a Server Reference ``ref`` leads to from ``url`` (spec 4.11: the first
    of several; host:port keeps the scheme), or None: one that does not parse,
    changes the scheme (either way), or goes over plain TCP to another host while
    ``creds`` (a user name or password) would go there in clear (not the server's
    choice to make)."""
    from .transport import parse_url

    scheme, host, _ = parse_url(url)
    ref = ref and ref.split(" ")[0]
    if not ref:
        return None
    ref = ref if "://" in ref else scheme + "://" + ref
    try:
        to = parse_url(ref)
    except ValueError:
        return None
    return None if to[0] != scheme or scheme == "mqtt" and to[1] != host and creds else ref


def reason_key(err):
    """The Stats key of a failure: its reason code (int), else 'timeout',
    'network' (socket errors), 'tls' (a refused TLS handshake), 'keepalive'
    (dead link), 'ack' (nothing acknowledged for ack_timeout_ms), 'heap' (a
    MemoryError: a full or fragmented heap) or 'other'."""
    code = getattr(err, "reason_code", None)
    if code is not None:
        return code
    if isinstance(err, asyncio.TimeoutError):
        return "timeout"
    if isinstance(err, MemoryError):
        return "heap"
    if isinstance(err, OSError):
        return "network"
    m = str(err)
    if m.startswith("TLS"):
        return "tls"
    if "keep alive" in m:
        return "keepalive"
    if m.startswith("ack timeout"):
        return "ack"
    if m.startswith("connection lost: heap full"):
        return "heap"
    if m.startswith("connection lost"):
        return "network"
    return "other"
