"""The connection machinery under `mqtt5.Client`: its tasks around the sans-IO Session,
the waiter slots and event dispatch, as plain functions of the client `c` (calls
between them are global lookups, not method lookups; the Client class takes `_close`
and `_ended_within` as methods, for the Supervisor and mqtt5.offline).

Tasks per connection: the reader (readable, read_now, dispatch: messages to handlers by
mqtt5.message, acks to callers); the writer (woken by any session call, ONE write per
loop turn; a lone QoS 1/2 publish is written by publish() itself); the ticker
(keep-alive); supervised, the drainer (mqtt5.drain). A failed write reads what arrived
first: a DISCONNECT the server sent as it closed still names the reason.

Callers waiting for an ack hold one of at most `max_inflight` waiter slots (parallel
lists, made on demand; slot 0 is connect()'s): `_wpid` (the packet id; 0 before the
session gives one, _DONE once the outcome is in and its caller has not taken it yet,
_FREE), `_wpub` (the slot's kind) and `_wev` (its Signal, which carries the outcome as
`rc` and `err`: an ack wakes only its caller). A publish that publish() queued itself,
or a call cancelled after its packet went out, is detached: its slot frees itself when
the flow ends. A call that cannot be queued at once waits in `request()`, in call
order (a QoS 0 publish that met a full transmit buffer, in mqtt5.client's
`_publish0()`). `close()` is the one place a connection ends (`error` says why);
supervised QoS 1/2 waiters outlive it. One timer, `after()`, serves connect()'s
deadline, disconnect()'s wait and the Supervisor's hourly wake, so none needs
asyncio.wait_for (asyncio.funcs). Counters (small ints, modulo 2^30): msgs_in,
msgs_out, bytes_in, bytes_out.
"""

from ._compat import monotonic_ms, sleep_ms

# (What only rarer paths use is imported where it is used: each name imported here
# would be a slot of this module's dict, kept for the connection's life.)

_CONNECTED = const(1)
_MESSAGE = const(2)
_PUBLISH_DONE = const(3)
_SUBSCRIBED = const(4)
_UNSUBSCRIBED = const(5)
_DISCONNECTED = const(6)
_LINK_DEAD = const(7)
_ERROR = const(8)
_CLOSED = const(0)

_COUNT_MASK = const(0x3FFFFFFF)  # the counters wrap at 2^30 (small ints on 32-bit)
# _wpid values besides packet ids (1..65535) and 0 (taken, no packet id yet)
_FREE = const(-1)
_DONE = const(-2)  # the outcome is in, its caller has not left the slot yet
_CONNECT = const(65536)  # slot 0 while connect() waits for CONNACK
# _wpub: what kind of caller holds the slot
_SUPERVISED = const(1)  # a supervised QoS 1/2 publish: outlives a lost link
_DETACHED = const(2)  # a publish whose slot frees itself (queued by publish(), cancelled)
_ORPHAN = const(3)  # a cancelled SUBSCRIBE/UNSUBSCRIBE's slot, freed by its ack
_F_PID = const(0)  # slots of the session's in-flight table (outbound.py)
_F_SIZE = const(10)


# ---- waiter slots ---------------------------------------------------------------------
def take(c, keep, kind):
    # A free waiter slot (its index) of `kind`, leaving `keep` free (a Supervisor keeps
    # one for restoring subscriptions), or -1; keep -1: slot 0, connect()'s. Slots are
    # made when every one made so far is busy, up to max_inflight.
    pids = c._wpid
    i = 0
    if keep >= 0:
        n = pids.count(_FREE)  # (slot 0 is never free: see connect())
        if n > keep:  # the usual: a free one beyond those kept
            i = pids.index(_FREE)
        elif n + c._wmax - len(pids) <= keep:  # free ones, and those not made yet
            return -1
        elif n:
            i = pids.index(_FREE)
        else:
            i = len(pids)
            c._wev.append(None)
            c._wpub.append(0)
            pids.append(_FREE)  # last: a MemoryError before leaves no half slot
    if c._wev[i] is None:  # made before the slot is taken: a MemoryError leaves it free
        from ._compat import Signal

        c._wev[i] = Signal()  # (a slot's Signal is clear when it is free: request())
    pids[i] = _CONNECT if keep < 0 else 0
    c._wpub[i] = kind
    return i


def finish(c, w, rc, err):
    # Slot w's outcome is in: wake its caller (only that one), and whoever waits for a
    # slot or send quota. A detached or orphaned slot is freed now: its Signal carries
    # the outcome and goes back to the slot once awaited (Signal.home, mqtt5._compat).
    ev = c._wev[w]
    ev.rc = rc
    ev.err = err
    if c._wpub[w] >= _DETACHED:
        ev.home = c._wev
        ev.slot = w
        c._wev[w] = None
        c._wpid[w] = _FREE
        c._wpub[w] = 0
    else:
        c._wpid[w] = _DONE
    ev.set()
    c._changed.pulse()


async def request(c, fn, a, b, qos, retain, props, alias):
    # What a call that cannot be queued at once waits for, in call order: a QoS 1/2
    # publish (fn None: topic a, payload b) that found no slot, send quota or transmit
    # room, or a supervised one (into the offline queue); a SUBSCRIBE or UNSUBSCRIBE
    # (fn: the session's method, a its items, b its props, qos -1; a publish's payload
    # the caller's copy: Client.publish, mqtt5.drain). While callers wait
    # for a slot or quota (c._nwait), publish() takes none. Returns the outcome: a
    # publish's reason code, a request's codes; a failure raised.
    from .txbuf import BufferFull

    s = c._s
    t0 = monotonic_ms()  # supervised, an expiry runs from the call
    w = -1
    gone = False  # the offline queue or the session has it
    # Publishes are queued in call order: each waits in c._line for its token to be
    # first, then for a slot, quota and room (a woken waiter, or a new call, took a
    # freed slot before earlier ones, whose messages then arrived out of call order)
    line = None
    if fn is None:
        line = c._line
        if line is None:
            line = c._line = []
        tk = object()
        line.append(tk)
    try:
        while True:
            q = c._q if qos > 0 else None  # (supervised QoS 0: mqtt5.drain)
            if c._t is None and q is None:
                raise __import__("mqtt5.events").events.not_connected(c)
            turn = line is None or line[0] is tk  # (else an earlier call's turn)
            if turn and w < 0:
                w = take(c, 1 if q is not None else 0, 0)
            if not turn or w < 0 or q is None and (qos > 0 and not s.send_quota()
                                                   or not room(s)):
                c._nwait += 1  # a slot, or the server's Receive Maximum [MQTT-3.3.4-7]
                try:
                    await c._changed.wait()
                finally:
                    c._nwait -= 1
                continue
            if q is not None:  # supervised: the drainer publishes it, across reconnects
                c._wpub[w] = _SUPERVISED
                q.put(a, b, qos, retain, props, t0, w, alias, c._t is not None)  # (drain.py)
                gone = True
                c._qev.set()
                break
            try:
                pid = s.publish(a, b, qos, retain, props, alias) if fn is None else fn(a, b)
            except BufferFull:
                await flush(c)
                continue
            if fn is None:
                c.msgs_out = (c.msgs_out + 1) & _COUNT_MASK
            c._wake.set()  # the writer's next turn sends it, batched
            c._wpid[w] = pid
            gone = True
            break
        if line is not None:  # queued: the next call's turn
            line.remove(tk)
            line = None
            c._changed.pulse()
        return await c._wev[w].wait()
    finally:
        if line is not None:  # (left before its turn, or in it: cancelled, an error)
            line.remove(tk)
            c._changed.pulse()
        if w >= 0:  # (taken)
            if gone and c._wpid[w] != _DONE:  # cancelled once gone: frees itself at the ack
                c._wpub[w] = _DETACHED if fn is None else _ORPHAN
            else:  # freed, its Signal clear for the next caller
                ev = c._wev[w]
                ev.clear()
                ev.rc = ev.err = None
                c._wpid[w] = _FREE
                c._wpub[w] = 0
                c._changed.pulse()


def room(s):
    # A free slot in the session's in-flight table: a resumed session's resends (after
    # an abort, a Supervisor's stop) or a birth may fill it; a call waits for an ack
    fl = s._inflight
    return 0 in fl[_F_PID] or len(fl[_F_PID]) < fl[_F_SIZE]


async def flush(c):
    # Until a writer turn that started after this call has completed, or the link ends.
    target = c._wgen + (2 if c._writing else 1)
    c._wake.set()
    while c._wgen < target and c._t is not None:
        await c._changed.wait()


def put(c, t):
    # One write of what the session holds (False: nothing); the stream keeps any rest
    s = c._s
    out = s.data_to_send()
    if out is None:
        return False
    n = len(out)
    t.write(out)
    c.bytes_out = (c.bytes_out + n) & _COUNT_MASK
    if s.sent(n, monotonic_ms()):  # the resend backlog queued more
        c._wake.set()
    return True


# ---- tasks ------------------------------------------------------------------------------
async def writer(c, t):
    s = c._s
    try:
        while c._t is t:
            await c._wake.wait()
            c._wake.clear()
            c._writing = True
            if put(c, t) and t.backlog():  # one write per turn
                await t.drain()
            pump(c)  # room in tx (here or by publish()) may unblock events
            c._writing = False
            c._wgen += 1
            c._changed.pulse()
    except BaseException as e:  # (a Ctrl-C too: see reader())
        try:  # a failed write: a DISCONNECT that arrived first says why (module doc)
            while c._t is t and isinstance(e, OSError):
                n = t.read_now(s.recv_buffer())
                if not n:
                    break
                c.bytes_in = (c.bytes_in + n) & _COUNT_MASK
                s.received(n, monotonic_ms())
                pump(c)  # a DISCONNECT closes the link (close())
        except Exception:
            pass  # the reset, once what had arrived is read: the write's error says it
        if c._t is t:
            close(c, e)
        if not isinstance(e, Exception):
            raise


async def reader(c, t):
    s = c._s
    try:
        while c._t is t:
            # after our DISCONNECT (see pump()): read and dropped until the server's end
            mv = memoryview(bytearray(16)) if c._ending else s.recv_buffer()
            if not mv:  # buffer full of packets blocked on tx room
                await flush(c)
                pump(c)
                continue
            await t.readable()  # (awaiting it allocates nothing on MicroPython)
            n = t.read_now(mv)
            if not n:
                if n is None:  # nothing after all (a TLS record not whole yet)
                    continue
                if c._ending:
                    break
                raise OSError(104, "closed by the server")  # ECONNRESET
            if c._ending:
                continue
            c.bytes_in = (c.bytes_in + n) & _COUNT_MASK
            s.received(n, monotonic_ms())
            pump(c)
            if s.pending_bytes():  # acks (or a DISCONNECT) to send: a writer turn
                c._wake.set()
    except BaseException as e:  # the link ends with its reader (a Ctrl-C too: the
        if c._t is t:  # task it lands in is dead; the link closes, the Will goes)
            close(c, None if c._ending and isinstance(e, Exception) else e)
        if not isinstance(e, Exception):
            raise
    if c._t is t:  # the server closed after our DISCONNECT
        close(c, None)


async def ticker(c, t):
    s = c._s
    while c._t is t and not s.is_connected:  # keep-alive starts at CONNACK
        await c._changed.wait()  # pulsed by CONNACK and by close()
    try:
        while c._t is t:
            wait = s.tick(monotonic_ms())
            pump(c)
            c._wake.set()
            await sleep_ms(10 if wait < 10 else 60000 if wait > 60000 else wait)
    except BaseException as e:  # no keep-alive, no dead-link check: the link ends
        if c._t is t:
            close(c, e)
        if not isinstance(e, Exception):
            raise


async def after(c, t, ms):
    # The timer the waits below use instead of asyncio.wait_for (which would load
    # asyncio.funcs): after `ms`, while connection `t` lasts, connect()'s wait (if it
    # still waits) ends with asyncio.TimeoutError, and _changed pulses
    import asyncio

    await sleep_ms(ms)
    if c._t is t:
        if c._wpid[0] == _CONNECT:
            # (MicroPython's TLS shakes hands in this wait, mqtt5.tls; the text goes in
            # `ms`: a new local or a deeper stack grows this task's frame by a block)
            ms = "no %s within %d ms" % ("CONNACK" if getattr(t, "rx", True) else
                                         "TLS handshake or CONNACK", ms)
            finish(c, 0, None, asyncio.TimeoutError(ms))
        c._changed.pulse()


async def ended_within(c, ms):
    # True once the connection has ended, False after `ms` (disconnect()'s wait for
    # the server's close, the Supervisor's hourly wake: mqtt5.offline)
    import asyncio

    t = c._t
    if t is None:
        return True
    timer = asyncio.create_task(after(c, t, ms))
    try:
        while c._t is t and not timer.done():
            await c._changed.wait()
    finally:
        timer.cancel()
    return c._t is not t


def close(c, err):
    # End the connection: wake every waiter with `err`, stop the other tasks. On a full
    # heap too: the link is marked ended first, and the tasks are stopped and the
    # socket closed whatever fails between (a close that died left the Supervisor UP
    # on a dead link for good)
    t = c._t
    if t is None:
        return
    c._t = None
    try:
        if isinstance(err, MemoryError):  # what follows allocates a little
            import gc
            gc.collect()
        import mqtt5.errors as _E  # (not `from .errors`: a relative import builds its name)

        MQTTError = _E.MQTTError
        if isinstance(err, Exception):
            # kept as the link's error (or connect()'s) without the frames it passed
            # through: on CPython they hold the stream, whose closed-future holds this
            # error, a cycle whose collection can report it "never retrieved"
            err.__traceback__ = None
        cause = err
        if err is not None and not isinstance(err, MQTTError):
            try:  # (a full heap says so: the Supervisor counts it apart, "heap")
                err = MQTTError("connection lost: %s%s" % (
                    "heap full: " if isinstance(err, MemoryError) else "",
                    str(err) or repr(err)))
            except MemoryError:  # the link must close all the same
                pass
        c.error = err
        s = c._s
        if s.state != _CLOSED:
            s.connection_lost(monotonic_ms())
        else:  # a DISCONNECT the session queued (protocol error): best effort
            try:
                out = s.data_to_send()
                if out is not None:
                    t.write(out)
            except Exception:
                pass
        pids = c._wpid
        keep = c._q is not None
        for i in range(len(pids)):
            p = pids[i]  # waiting (a supervised publish resolves after the reconnect)
            if p >= 0 and not (keep and 0 < c._wpub[i] < _ORPHAN):
                finish(c, i, None, cause if p == _CONNECT and isinstance(cause, OSError)
                       else err or MQTTError("disconnected"))  # (connect(): OSError as is)
    finally:
        c._changed.pulse()
        tasks = c._tasks or ()
        c._tasks = None
        me = None
        try:
            import asyncio

            me = asyncio.current_task()
        except Exception:  # abort() outside a running loop
            pass
        for task in tasks:
            if task is not me:
                task.cancel()
        t.close()


# ---- events -----------------------------------------------------------------------------
def pump(c):
    s = c._s
    ev = s.next_event()
    while ev is not None:
        k = ev.kind
        if k == _MESSAGE:
            c.msgs_in = (c.msgs_in + 1) & _COUNT_MASK
            m = c._msg
            if m is None:  # loaded and made by the first message
                from .message import Message

                m = c._msg = Message()
            m._deliver(c, ev.packet)
        elif k <= _UNSUBSCRIBED or k == _ERROR:  # an ack, CONNACK, or a fatal error
            pid = _CONNECT if k == _CONNECTED or k == _ERROR else ev.packet_id
            if k == _PUBLISH_DONE and c._q is not None and ev.error is not None:
                import mqtt5.drain as d
                if d.requeued(c, ev):  # the session was lost: queued again, its caller
                    pid = None  # waits on
            pids = c._wpid
            if pid in pids:
                r = ev.reason_codes  # SUBACK/UNSUBACK: may be a view into the rx buffer
                if r is None:
                    finish(c, pids.index(pid), ev.reason_code, ev.error)
                else:  # (the caller judges the codes: Client.subscribe())
                    finish(c, pids.index(pid), list(r), None)
            else:
                c._changed.pulse()  # also without a waiter: an ack frees send quota
            if k == _ERROR:
                close(c, ev.error)  # (which writes the DISCONNECT the session queued)
                return
        elif k == _DISCONNECTED and not ev.by_server:
            # ours [MQTT-3.14.4-2]: closed once the server closes (reader) or
            # Client.disconnect() stops waiting; closing while acks arrive resets the
            # link, and the server drops our last publishes too
            c._ending = True
            c._wake.set()
            return
        elif k == _DISCONNECTED:  # the server's
            from .reason_codes import rc_error

            close(c, rc_error("disconnected by server: DISCONNECT", ev.reason_code))
            return
        elif k == _LINK_DEAD:
            close(c, ev.error)  # keep alive's or the ack timeout's (keepalive.py)
            return
        ev = s.next_event()
