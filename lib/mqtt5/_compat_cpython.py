"""CPython's versions of what mqtt5._compat takes from MicroPython: const(), the
ticks clock, the TCP transport, the finished awaitable, Signal, sys.print_exception.

Imported by mqtt5._compat on CPython only. On MicroPython this module is never
loaded, so a node running the library as `.mpy` files keeps none of its bytecode or
names in the heap.
"""

import builtins
import sys
import time as _time


def const(x):
    return x


builtins.const = const  # type: ignore[attr-defined]  # (the library calls const() unimported)


# The clock: what MicroPython's ticks functions do, over a clock that never wraps.
def ticks_ms():
    return _time.monotonic_ns() // 1000000  # type: ignore[attr-defined]  # CPython only


def ticks_diff(a, b):
    return a - b


def ticks_add(a, b):
    return a + b


async def open_tcp(host, port, timeout_ms):
    """await: the transport (mqtt5._compat_streams) of a TCP connection;
    asyncio.TimeoutError when it is not up within timeout_ms."""
    import asyncio
    from ._compat_streams import Transport

    try:
        r, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_ms / 1000)
    except asyncio.TimeoutError:  # said as on MicroPython (mqtt5._compat)
        raise asyncio.TimeoutError("no TCP connection within %d ms" % timeout_ms) from None
    return Transport(r, w)


class _Done:
    # the finished awaitable: an object with the coroutine methods (create_task
    # wants a coroutine)
    def __await__(self):
        return iter(())

    def send(self, _):
        raise StopIteration

    def throw(self, *_):
        raise StopIteration

    def close(self):
        pass


DONE = _Done()


def _outcome(sig):
    # What an awaited Signal returns (rc) or raises (err); a Signal with a home goes
    # back to its slot, if that is free (mqtt5._compat's Signal does the same inline)
    rc = sig.rc
    err = sig.err
    h = sig.home
    if h is not None:
        sig.home = None
        if h[sig.slot] is None:
            sig.clear()
            sig.rc = sig.err = None
            h[sig.slot] = sig
    if err is not None:
        raise err
    return rc


class Signal:
    """An asyncio Event; ``await sig.wait()`` returns rc or raises err."""

    def __init__(self):
        import asyncio

        self._ev = asyncio.Event()

    rc = err = home = None
    slot = 0

    def set(self):
        self._ev.set()

    def clear(self):
        self._ev.clear()

    def pulse(self):
        """Wake the tasks waiting now; later waiters wait for the next pulse."""
        self._ev.set()
        self._ev.clear()

    async def wait(self):
        await self._ev.wait()
        return _outcome(self)


# A QoS 1/2 publish need not be awaited: its slot frees itself at the ack
# (Client.publish). The Signal.wait coroutine it returned, dropped, is no fault.
try:  # (CPython's; the module still imports on MicroPython, where it is frozen too)
    import warnings  # type: ignore[import-not-found]

    warnings.filterwarnings("ignore", "coroutine 'Signal.wait' was never awaited",
                            RuntimeWarning)
except ImportError:
    pass


def print_exception(e, file=None):
    """Print a traceback of `e` to `file` (stderr by default), as MicroPython's
    sys.print_exception does."""
    import traceback  # type: ignore[import-not-found]  # CPython only

    traceback.print_exception(type(e), e, e.__traceback__, file=file)


# sys.print_exception, where MicroPython has it (set here, as const() is: mqtt5._compat's
# dict then keeps no name for it on MicroPython, where only mqtt5.message uses it)
if not hasattr(sys, "print_exception"):
    sys.print_exception = print_exception  # type: ignore[attr-defined]
