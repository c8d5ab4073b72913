# const(): MicroPython's compiler folds `NAME = const(1)` at a module's top level, so
# the library's modules do not import it (a name imported is a slot of the module's
# dict, kept for nothing).  On CPython it is a builtin that returns its argument, set
# by mqtt5._compat_cpython (imported at the end of this module; the package's
# __init__ imports this module first on CPython).  The firmware and the boards import
# it from here.
try:
    from micropython import const

    _MICROPYTHON = True
except ImportError:
    _MICROPYTHON = False


# ---- adapters: clock, sleep, sockets, asyncio streams ---------------------------------
# Everything below is what differs between CPython and MicroPython for the asyncio
# client and the transport; nothing else in the library tests which runtime it is on.


# The clock is the runtime's wrapping millisecond counter: on MicroPython ticks_ms()
# stays a small int forever (it wraps at TICKS_PERIOD, 2**30 on 32-bit ports), so
# reading it never allocates, however long the node is up.  Times are compared only
# through ticks_diff() (valid while they are less than TICKS_PERIOD/2 apart: about
# 6.2 days on 32-bit, far beyond keep-alive's 18 h maximum) and moved with ticks_add().
# (CPython's: mqtt5._compat_cpython, at the end; monotonic_ms is ticks_ms on both)
if _MICROPYTHON:
    from time import ticks_ms, ticks_diff, ticks_add


# asyncio is imported inside the adapter helpers, never at module level: the codec
# and the session import this module for const() and must not load asyncio.


def sleep_ms(ms):
    """asyncio sleep in milliseconds."""
    import asyncio

    return asyncio.sleep_ms(ms) if _MICROPYTHON else asyncio.sleep(ms / 1000)


def set_nodelay(sock):
    """Disable Nagle (TCP_NODELAY) where the runtime allows it; True if set.

    MicroPython's unix port has no socket.TCP_NODELAY constant: use the Linux/lwIP
    numbers (IPPROTO_TCP 6, TCP_NODELAY 1), guarded.
    """
    import socket

    try:
        sock.setsockopt(getattr(socket, "IPPROTO_TCP", 6), getattr(socket, "TCP_NODELAY", 1), 1)
        return True
    except (OSError, AttributeError, TypeError):
        return False


_core = None  # MicroPython: asyncio.core, bound by the first Signal or TCP connection

if _MICROPYTHON:

    class _TcpTransport:
        # A plain TCP connection as the client's transport (mqtt5._compat_streams's
        # Transport API over a socket), so that a node without TLS never loads
        # asyncio.stream (928 B of heap on a 32-bit port) or a stream wrapper.  It
        # waits on the socket in asyncio's own I/O queue, as asyncio's Stream does.
        def __init__(self, s):
            self.s = s
            self.out_buf = b""  # what the socket did not take yet (write, drain)
            self.nodelay = set_nodelay(s)
            self.parked = False  # readable(): the reader waits in asyncio's I/O queue

        # readable() is awaited for every read: the transport itself is the awaitable
        # (no generator made per read), parked on the socket as Stream.readinto() does
        def __iter__(self):
            return self

        readable = __iter__  # (one function object for both: each costs heap)

        # (asyncio resumes a task with send(None), and the task's `await` on this
        # object with __next__(): no send() here, so the class's dict keeps 12 slots)
        def __next__(self):
            if not self.parked:
                self.parked = True
                # (None: the task waits for the socket; _core: bound by open_tcp())
                return _core._io_queue.queue_read(self.s)
            self.parked = False
            e = _STOPS[0]
            e.__traceback__ = None
            raise e

        # (no throw(): cancelled while parked, the error goes through to the reader, as
        # MicroPython does for an awaited object without one, and ends the link)

        def write(self, buf):
            # what the socket does not take now is kept, as a copy, for drain()
            if not self.out_buf:
                n = self.s.write(buf)
                if n == len(buf):
                    return
                if n:
                    buf = buf[n:]
            self.out_buf += buf

        def drain(self):  # a generator: awaited; always yields, as Stream.drain does
            if not self.out_buf:
                return (yield from _core.sleep_ms(0))
            mv = memoryview(self.out_buf)
            while mv:
                yield _io().queue_write(self.s)
                n = self.s.write(mv)
                if n:
                    mv = mv[n:]
            self.out_buf = b""

        def read_now(self, mv):
            # what has arrived, without waiting: bytes read, 0 at the end of the
            # stream, None when nothing has; OSError once only the connection's
            # error is left
            return self.s.readinto(mv)

        def backlog(self):
            return len(self.out_buf)

        def close(self):
            try:
                self.s.close()
            except Exception:
                pass

    def _io():
        global _core, _STOPS
        if _core is None:
            from asyncio import core  # type: ignore[attr-defined]  # MicroPython only

            _core = core
            # StopIteration for rc None, 0, 0x10: raised again and again (the ends of
            # Signal waits and of _TcpTransport.readable())
            _STOPS = (StopIteration(), StopIteration(0), StopIteration(0x10))
        return _core._io_queue

    async def open_tcp(host, port, timeout_ms):
        """await: the transport of a TCP connection (readable, read_now, write,
        backlog, drain, close; see mqtt5._compat_streams); asyncio.TimeoutError when it
        is not up within timeout_ms.  The name lookup blocks, as in asyncio."""
        import select
        import socket
        from errno import EINPROGRESS

        ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]
        s = socket.socket(ai[0], ai[1], ai[2])
        s.setblocking(False)
        try:
            try:
                s.connect(ai[-1])
            except OSError as e:
                if e.errno != EINPROGRESS:
                    raise
            # until the socket is writable: connected, or failed (the first read says
            # which); looked at every few ms, which needs no asyncio.wait_for (asyncio.funcs)
            _io()  # binds _core
            p = select.poll()
            p.register(s, select.POLLOUT)
            end = ticks_add(ticks_ms(), timeout_ms)
            ms = 1
            while not p.poll(0):
                if ticks_diff(end, ticks_ms()) <= 0:
                    raise _core.TimeoutError("no TCP connection within %d ms" % timeout_ms)
                await _core.sleep_ms(ms)
                ms = ms * 2 if ms < 16 else 16
            return _TcpTransport(s)
        except BaseException:  # (cancelled too; or no heap for the transport)
            s.close()
            raise


# DONE: a finished awaitable, what a publish that needed no waiting returns (and a
# waiter slot already resolved).  One shared object: awaiting it returns None at once
# and allocates nothing, and it also runs as a task (create_task, gather).
if _MICROPYTHON:  # a generator run to its end: the smallest such object

    def _finished():
        yield

    DONE = _finished()
    for _ in DONE:
        pass
    del _, _finished  # (names the module's dict need not keep)


# Signal: an asyncio Event (set, clear, pulse, `await sig.wait()`) that returns `sig.rc`
# or raises `sig.err` when awaited.  With `home` set (a list) the Signal puts itself back
# in `home[slot]` once awaited, if that is free (a detached publish's waiter slot:
# mqtt5.link finish()).  CPython's: mqtt5._compat_cpython.
if _MICROPYTHON:  # awaiting allocates nothing (Event.wait() makes a coroutine each time)
    _STOPS = None  # StopIteration for rc None, 0, 0x10: raised again and again

    class Signal:
        """An Event whose ``await sig.wait()`` allocates nothing.

        A waiting task parks itself on the Signal's queue as asyncio's own Event
        does (``core.cur_task``, ``Task.data``, ``core._task_queue``); set() marks
        the tasks it wakes (``Task.data`` False), so a woken task ends its wait
        even if the Signal was cleared since.  The wait ends by raising a
        preallocated StopIteration (traceback cleared, as asyncio's sleep_ms()
        does).  ``wait()`` returns the Signal itself, which also runs as a task
        (create_task, gather, wait_for) and is cancelled like one."""

        def __init__(self):
            if _STOPS is None:
                _io()  # binds _core and makes _STOPS
            self.state = False
            self.q = _core.TaskQueue()  # parked tasks; Task.cancel() removes from it

        rc = err = home = None  # per instance only once set (a waiter slot's Signal)
        slot = 0

        def set(self):
            q = self.q
            while q.peek():
                t = q.pop()
                _core._task_queue.push(t)
                t.data = False  # woken here (push() set it to None)
            self.state = True

        def clear(self):
            self.state = False

        def pulse(self):
            """Wake the tasks waiting now; later waiters wait for the next pulse."""
            if self.q.peek():  # (none, the usual: no call to set())
                self.set()
            self.state = False

        def __iter__(self):
            return self

        wait = __iter__  # (the Signal itself: one function object for both)

        def send(self, _=None):
            t = _core.cur_task
            if t.data is not False and not self.state:
                self.q.push(t)
                t.data = self.q
                return None
            t.data = None
            rc = self.rc  # the outcome (inline: a call fewer per awaited publish)
            e = self.err
            h = self.home
            if h is not None:  # back to its slot, if that is free (a new Signal took
                self.home = None  # it otherwise)
                if h[self.slot] is None:
                    self.state = False
                    self.rc = self.err = None
                    h[self.slot] = self
            if e is not None:
                raise e
            e = _STOPS[0] if rc is None else _STOPS[1] if rc == 0 else \
                _STOPS[2] if rc == 0x10 else StopIteration(rc)
            e.__traceback__ = None
            raise e

        __next__ = send

        def throw(self, e, *_):  # a cancelled task that ran the Signal as its coroutine
            raise e

        # close(): a coroutine's, which a publish's awaitable may get unawaited; nothing
        # to do (what it runs: returns the Signal, changes nothing)
        close = __iter__


if not _MICROPYTHON:  # CPython's versions of the names above, set apart so that
    # MicroPython never loads them (as .mpy their bytecode and names would take heap
    # for nothing); it also gives CPython's sys a print_exception()
    from ._compat_cpython import (DONE, Signal, const, open_tcp,  # noqa: F401
                                  ticks_add, ticks_diff, ticks_ms)

monotonic_ms = ticks_ms
