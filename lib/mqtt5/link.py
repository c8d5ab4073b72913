"""The connection machinery under `mqtt5.Client`: tasks around the sans-IO Session,
waiter slots, event dispatch.

Tasks per connection: the reader (readable, read_now, dispatch: messages to handlers by
mqtt5.message, acks to callers); the writer (woken by any session call, ONE write per
loop turn; a lone QoS 1/2 publish is written by its caller: _write_out); the ticker
(keep-alive); supervised, the drainer (mqtt5.drain). A failed write reads what arrived
first: a DISCONNECT the server sent as it closed still names the reason.

Callers waiting for an ack hold one of at most `max_inflight` waiter slots (parallel
lists by packet id, made on demand; slot 0 is connect()'s), each with its own Signal:
an ack wakes only its caller. A publish that publish() queued itself, or one cancelled
after it went out, is detached: its slot frees itself when the flow ends. `_close()`
is the one place a connection ends (`error` says why); supervised QoS 1/2 waiters
outlive it. Counters (small ints): msgs_in, msgs_out, bytes_in, bytes_out (modulo 2^30).
"""

import asyncio

import mqtt5.session as _S
from mqtt5.events import rc_error
from ._compat import DONE, Signal, monotonic_ms, sleep_ms
from .errors import MQTTError

_CONNECTED = const(1)
_MESSAGE = const(2)
_PUBLISH_DONE = const(3)
_SUBSCRIBED = const(4)
_UNSUBSCRIBED = const(5)
_DISCONNECTED = const(6)
_LINK_DEAD = const(7)
_ERROR = const(8)
_CLOSED = const(0)

_CONNECT_PID = const(-2)
_COUNT_MASK = const(0x3FFFFFFF)  # byte counters wrap at 2^30 (small ints on 32-bit)
_FREE = const(-1)
_DETACHED = const(2)  # _wpub: a publish whose slot frees itself (_finish): fast path, cancelled
_ORPHAN = const(3)  # _wpub: a cancelled SUBSCRIBE/UNSUBSCRIBE's slot, freed by its ack


class Link:
    """Tasks, waiter slots and dispatch for one Session (see module doc)."""

    def __init__(self, session, max_inflight, on_message):
        self._s = session
        self.on_message = on_message
        self.error = None  # why the last connection ended (None: clean disconnect)
        self._router = None  # mqtt5.router.Router, made by the first subscribe
        self._msg = None  # the reusable mqtt5.message.Message, made on the first message
        self._wmax = max_inflight + 1  # slot 0 is connect()'s; more made on demand
        self._wpid = [_FREE]  # waiter slots, by packet id
        self._wres = [None]  # reason code, or list of them
        self._werr = [None]
        self._wdone = bytearray(1)
        self._wev = [None]  # per-slot Signal, made when the slot is first taken
        # pulsed when a waiter slot resolves or is released, after each writer turn
        # and when the link closes: its waiters check what they wait for, in a loop
        self._changed = Signal()
        self._npub = 0  # QoS 1/2 publishes awaiting their ack
        self._nwait = 0  # callers waiting for a slot to be freed (_wait_freed)
        self._wake = Signal()  # wakes the writer
        self._wgen = 0  # completed writer turns
        self._writing = False
        self._ending = False  # our DISCONNECT is queued: read until the server closes
        self._t = None
        self._tasks = None
        self._q = None  # OfflineQueue once supervised (mqtt5.drain)
        self._drain_t = None  # the transport the drainer runs for
        self._wpub = bytearray(1)  # 1: a supervised QoS 1/2 publish; 2: _DETACHED
        self._qev = None  # Signal set when something is queued (supervised)
        self.msgs_in = self.msgs_out = self.bytes_in = self.bytes_out = 0

    # ---- waiting callers ------------------------------------------------------------
    def _take(self, pid):
        # a free waiter slot (index) for packet id `pid`, or -1; slot 0 is connect()'s
        pids = self._wpid
        i = 0
        if pid != _CONNECT_PID:
            if pids.count(_FREE) > (pids[0] == _FREE):  # one free beside slot 0
                i = pids.index(_FREE, 1)
            else:  # all taken: one more, up to max_inflight
                i = len(pids)
                if i == self._wmax:
                    return -1
                self._wres.append(None)
                self._werr.append(None)
                self._wev.append(None)
                self._wdone.append(0)
                self._wpub.append(0)
                pids.append(_FREE)  # last: a MemoryError before leaves no half slot
        ev = self._wev[i]
        if ev is None:  # made before the slot is taken: a MemoryError leaves it free
            ev = self._wev[i] = Signal()
        else:
            ev.clear()
        pids[i] = pid
        self._wres[i] = self._werr[i] = None
        self._wdone[i] = self._wpub[i] = 0
        return i

    def _finish(self, w):
        # slot w has its outcome: wake its caller (only that one); True: the slot was
        # freed (_release() pulsed _changed)
        self._wdone[w] = 1
        ev = self._wev[w]  # (a taken slot has one: _take)
        k = self._wpub[w]
        if k >= _DETACHED:
            # detached (client _detach(), or cancelled after sending): freed now, the
            # Signal carries the outcome
            ev.rc = self._wres[w]
            ev.err = self._werr[w]
            self._wev[w] = None
            if k == _DETACHED:
                self._npub -= 1
            self._release(w)
        ev.set()
        return k >= _DETACHED

    def _take_free(self, keep):
        # A slot now (or -1), leaving `keep` free (for a restore's SUBSCRIBE)
        pids = self._wpid  # free ones, those not made yet too (slot 0: connect()'s)
        if keep and (self._wmax - len(pids) + pids.count(_FREE)
                     - (pids[0] == _FREE) <= keep):
            return -1
        return self._take(0)  # packet id filled in once the session assigns it

    async def _slot(self, keep):
        # A waiter slot, waiting for one to be freed if need be
        while True:
            if self._t is None and self._q is None:
                raise self._not_connected()
            w = self._take_free(keep)
            if w >= 0:
                return w
            await self._wait_freed()

    async def _wait_freed(self):
        # Until a slot is freed; meanwhile publish() takes none: waiters go first
        self._nwait += 1
        try:
            await self._changed.wait()
        finally:
            self._nwait -= 1

    def _done(self, w):
        # awaitable: slot w's outcome (its Signal, set once the slot is done)
        if self._wdone[w]:
            return DONE
        return self._wev[w].wait()  # (every taken slot has its Signal: _take)

    def _release(self, w):
        self._wpid[w] = _FREE
        self._wpub[w] = 0
        self._wres[w] = self._werr[w] = None
        self._changed.pulse()

    async def _request(self, fn, items, props):
        # SUBSCRIBE / UNSUBSCRIBE: queue, wait for the ack -> (codes or None, error)
        w = await self._slot(0)
        try:
            self._wpid[w] = await self._queue(fn, items, props)
            await self._done(w)
            return self._wres[w], self._werr[w]
        finally:
            self._leave(w, self._wpid[w] > 0, _ORPHAN)

    def _leave(self, w, gone, kind):
        # A caller leaves slot w: freed now, unless its packet went out (`gone`) and is
        # unanswered: then it stays taken until the ack and frees itself (_finish)
        if gone and not self._wdone[w]:
            self._wpub[w] = kind
            return
        if kind == _DETACHED:
            self._npub -= 1
        self._release(w)

    def _not_connected(self):
        # a new exception each time: MicroPython grows a raised exception's traceback
        e = self.error
        return MQTTError("not connected" + (": %s" % e if e else ""))

    async def _queue(self, fn, items, props):
        # Call a session method that queues a packet; wait for room when the
        # transmit buffer is full (_S.BufferFull), then wake the writer.
        while True:
            if self._t is None:
                raise self._not_connected()
            try:
                r = fn(items, props)
                break
            except _S.BufferFull:
                await self._flush()
        self._wake.set()
        return r

    def _write_out(self):
        # A lone QoS 1/2 publish, written by its caller: an awaited round trip then wakes
        # two tasks, not three. True if done; not during a writer turn, with a backlog in
        # the stream, or when the write fails (the writer's turn meets it and says why).
        # (Not for a QoS 0 burst that fills the buffer: written from the caller, it
        # halved the QoS 0 rate; the writer's turn, a loop pass later, does not.)
        t = self._t
        try:
            return not (self._writing or t.backlog()) and self._put(t)
        except Exception:
            return False

    def _put(self, t):
        # One write of what the session holds (False: nothing); the stream keeps any rest
        s = self._s
        out = s.data_to_send()
        if out is None:
            return False
        n = len(out)
        t.write(out)
        self.bytes_out = (self.bytes_out + n) & _COUNT_MASK
        if s.sent(n, monotonic_ms()):  # the resend backlog queued more
            self._wake.set()
        return True

    async def _flush(self):
        # Wait until a writer turn that started after this call has completed.
        target = self._wgen + (2 if self._writing else 1)
        self._wake.set()
        while self._wgen < target:
            if self._t is None:
                raise self._not_connected()
            await self._changed.wait()

    # ---- tasks ----------------------------------------------------------------------
    async def _writer(self, t):
        s = self._s
        try:
            while self._t is t:
                await self._wake.wait()
                self._wake.clear()
                self._writing = True
                if self._put(t) and t.backlog():  # one write per turn
                    await t.drain()
                self._pump()  # room in tx (here or by _write_out) may unblock events
                self._writing = False
                self._wgen += 1
                self._changed.pulse()
        except BaseException as e:  # (a Ctrl-C too: see _reader)
            try:  # a failed write: a DISCONNECT that arrived first says why (module doc)
                while self._t is t and isinstance(e, OSError):
                    n = t.read_now(s.recv_buffer())
                    if not n:
                        break
                    self.bytes_in = (self.bytes_in + n) & _COUNT_MASK
                    s.received(n, monotonic_ms())
                    self._pump()  # a DISCONNECT closes the link (_close)
            except Exception:
                pass  # the reset, once what had arrived is read: the write's error says it
            if self._t is t:
                self._close(e)
            if not isinstance(e, Exception):
                raise

    async def _reader(self, t):
        s = self._s
        try:
            while self._t is t:
                if self._ending:  # (see _pump) read and dropped until the server's end
                    await t.readable()
                    if t.read_now(memoryview(bytearray(16))) == 0:
                        break
                    continue
                mv = s.recv_buffer()
                if not len(mv):  # buffer full of packets blocked on tx room
                    await self._flush()
                    self._pump()
                    continue
                await t.readable()  # (awaiting it allocates nothing on MicroPython)
                n = t.read_now(mv)
                if n is None:  # nothing after all (a TLS record not whole yet)
                    continue
                if not n:
                    if self._ending:
                        break
                    raise OSError(104, "closed by the server")  # ECONNRESET
                self.bytes_in = (self.bytes_in + n) & _COUNT_MASK
                s.received(n, monotonic_ms())
                self._pump()
                if s.pending_bytes:  # acks (or a DISCONNECT) to send: a writer turn
                    self._wake.set()
        except BaseException as e:  # the link ends with its reader (a Ctrl-C too: the
            if self._t is t:  # task it lands in is dead; the link closes, the Will goes)
                self._close(None if self._ending and isinstance(e, Exception) else e)
            if not isinstance(e, Exception):
                raise
        if self._t is t:  # the server closed after our DISCONNECT
            self._close(None)

    async def _after(self, t, ms, w):
        # The timer the waits below use instead of asyncio.wait_for (which would load
        # asyncio.funcs): after `ms`, while connection `t` lasts, waiter slot `w` (>= 0:
        # connect()'s, unless done) ends with asyncio.TimeoutError, and _changed pulses
        await sleep_ms(ms)
        if self._t is t:
            if w >= 0 and not self._wdone[w]:
                self._werr[w] = asyncio.TimeoutError()
                self._finish(w)
            self._changed.pulse()

    async def _ended_within(self, ms):
        # True once the connection has ended, False after `ms` (disconnect()'s wait for
        # the server's close, the Supervisor's hourly wake: mqtt5.offline)
        t = self._t
        if t is None:
            return True
        timer = asyncio.create_task(self._after(t, ms, -1))
        try:
            while self._t is t and not timer.done():
                await self._changed.wait()
        finally:
            timer.cancel()
        return self._t is not t

    async def _ticker(self, t):
        s = self._s
        while self._t is t and not s.is_connected:  # keep-alive starts at CONNACK
            await self._changed.wait()  # pulsed by CONNACK and by _close()
        try:
            while self._t is t:
                wait = s.tick(monotonic_ms())
                self._pump()
                self._wake.set()
                await sleep_ms(10 if wait < 10 else 60000 if wait > 60000 else wait)
        except BaseException as e:  # no keep-alive, no dead-link check: the link ends
            if self._t is t:
                self._close(e)
            if not isinstance(e, Exception):
                raise

    def _close(self, err):
        # End the connection: wake every waiter with `err`, stop the other tasks.
        t = self._t
        if t is None:
            return
        self._t = None
        if isinstance(err, Exception):
            # kept as the link's error (or connect()'s) without the frames it passed
            # through: on CPython they hold the stream, whose closed-future holds this
            # error, a cycle whose collection can report it "never retrieved"
            err.__traceback__ = None
        cause = err
        if isinstance(err, MemoryError):  # what follows allocates a little
            import gc
            gc.collect()
        if err is not None and not isinstance(err, MQTTError):
            try:  # (a full heap says so: the Supervisor counts it apart, "heap")
                err = MQTTError("connection lost: %s%s" % (
                    "heap full: " if isinstance(err, MemoryError) else "", str(err) or repr(err)))
            except MemoryError:  # the link must close all the same
                pass
        self.error = err
        s = self._s
        if s.state != _CLOSED:
            s.connection_lost(monotonic_ms())
        else:  # a DISCONNECT the session queued (protocol error): best effort
            out = s.data_to_send()
            if out is not None:
                try:
                    t.write(out)
                except Exception:
                    pass
        pids = self._wpid
        keep = self._q is not None
        for i in range(len(pids)):
            if keep and 0 < self._wpub[i] < _ORPHAN:
                continue  # supervised publish: resolves after the reconnect
            if pids[i] != _FREE and not self._wdone[i]:  # (connect(): OSError as it is)
                self._werr[i] = (cause if pids[i] == _CONNECT_PID and isinstance(cause, OSError)
                                 else err or MQTTError("disconnected"))
                self._finish(i)
        self._changed.pulse()
        try:
            me = asyncio.current_task()
        except RuntimeError:  # abort() outside a running loop
            me = None
        for task in self._tasks or ():
            if task is not me:
                task.cancel()
        self._tasks = None
        t.close()

    # ---- events ---------------------------------------------------------------------
    def _pump(self):
        s = self._s
        ev = s.next_event()
        while ev is not None:
            k = ev.kind
            if k == _MESSAGE:
                self.msgs_in += 1
                m = self._msg
                if m is None:  # loaded and made by the first message
                    from .message import Message

                    m = self._msg = Message()
                m._deliver(self, ev.packet)
            elif k == _PUBLISH_DONE and self._q is not None and ev.error is not None:
                import mqtt5.drain as d
                d.publish_failed(self, ev)  # requeued if the session was lost
            elif k == _PUBLISH_DONE or k == _SUBSCRIBED or k == _UNSUBSCRIBED:
                self._resolve(ev.packet_id, ev)
            elif k == _CONNECTED:
                if self._q is not None:
                    self._q.mark_front()
                self._resolve(_CONNECT_PID, ev)
            elif k == _ERROR:
                self._resolve(_CONNECT_PID, ev)
                self._wake.set()  # the session may have queued a DISCONNECT
                self._close(ev.error)
                return
            elif k == _DISCONNECTED:
                if ev.by_server:
                    self._close(rc_error("disconnected by server: DISCONNECT", ev.reason_code))
                else:  # ours [MQTT-3.14.4-2]: closed once the server closes (reader)
                    # or Client.disconnect() stops waiting; closing while acks arrive
                    # resets the link, and the server drops our last publishes too
                    self._ending = True
                    self._wake.set()
                return
            elif k == _LINK_DEAD:
                self._close(ev.error)  # keep alive's or the ack timeout's (keepalive.py)
                return
            ev = s.next_event()

    def _resolve(self, pid, ev):
        pids = self._wpid
        if pid in pids:
            i = pids.index(pid)
            c = ev.reason_codes  # SUBACK/UNSUBACK: may be a view into the rx buffer
            self._wres[i] = ev.reason_code if c is None else list(c)
            self._werr[i] = ev.error
            if self._finish(i):  # (freed: _changed pulsed)
                return
        self._changed.pulse()  # also without a waiter: an ack frees send quota

    def _routes(self):
        # the Router, loaded and made on first use (a publish-only node never does)
        r = self._router
        if r is None:
            from .router import Router

            r = self._router = Router()
        return r
