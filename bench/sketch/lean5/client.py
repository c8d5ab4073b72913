# lean5.client: the asyncio adapter over lean5.session (a sizing sketch of issue 11's
# core; bench/sketch/README.md): the transport, one reader task, one keep-alive task,
# and a waiter per acknowledgement awaited.  Uses mqtt5's own _compat (Signal, the TCP
# transport, the clock) and mqtt5.transport (URLs), as a rewritten core would.
import asyncio

from mqtt5._compat import DONE, Signal, sleep_ms, ticks_ms
from mqtt5.errors import MQTTError, ProtocolError
from mqtt5.transport import open_transport
from sys import print_exception  # (CPython's: set by mqtt5._compat, imported first)

from . import session as _s


def matches(f, t):
    """Whether topic t matches filter f (4.7); "$" topics only by name [MQTT-4.7.2-1]."""
    if t[:1] == "$" and f[:1] in "+#":
        return False
    fl = f.split("/")
    tl = t.split("/")
    for k, x in enumerate(fl):
        if x == "#":
            return True
        if k >= len(tl) or x != "+" and x != tl[k]:
            return False
    return len(fl) == len(tl)


class Client:
    """A basic node's MQTT v5 client: connect, publish at QoS 0/1, subscribe with a
    handler, keep-alive, disconnect.  Options as lean5.session.Session's, and:
    on_state(up, error) called when the connection comes up or ends; keep=True (what
    a supervisor that reconnects sets): a QoS 1 publish waits across a lost
    connection for its PUBACK after the next connect(), instead of failing.
    ``sent``, ``received``, ``acked``, ``ended``: messages sent, received and
    acknowledged, and connections ended."""

    def __init__(self, client_id="", keepalive=60, on_state=None, keep=False, **opts):
        self.s = _s.Session(client_id, keepalive, **opts)
        self.on_state = on_state
        self.keep = keep
        self.sent = self.received = self.acked = self.ended = 0
        self.wanting = 0  # publishers waiting for send quota
        self.t = None
        self.subs = []  # (filter, handler)
        self.waiting = {}  # packet id -> Signal of the task awaiting its ack
        self.spare = [None]  # a Signal to reuse
        self.room = None  # Signal pulsed when a PUBACK frees send quota
        self.error = None  # why the connection ended
        self.tasks = ()

    async def connect(self, url="mqtt://localhost:1883", timeout_ms=10000):
        """Open the connection and wait for CONNACK; MQTTError if refused.  A resumed
        session's unacknowledged QoS 1 messages go again with DUP [MQTT-4.4.0-1]."""
        s = self.s
        t = await open_transport(url, timeout_ms, None)
        try:
            t.write(s.connect(ticks_ms()))
            while True:
                ev = s.next_event()
                if ev == _s.CONNACK:
                    break
                if ev:
                    raise ProtocolError(0x82, "packet before CONNACK")
                await t.readable()
                self._take(t)
            if s.rc >= 0x80:
                raise MQTTError("connection refused: 0x%02X" % s.rc)
        except BaseException:
            t.close()
            raise
        self.t = t
        self.error = None
        self.room = self.room or Signal()
        for pid in s.inflight:  # [MQTT-4.4.0-1]
            t.write(s.resend(pid, ticks_ms()))
        self.tasks = (asyncio.create_task(self._reader(t)),
                      asyncio.create_task(self._pinger(t)))
        self._state(True, None)

    def _state(self, up, e):
        if self.on_state is not None:
            try:
                self.on_state(up, e)
            except Exception as x:  # the callback's: shown, not fatal
                print_exception(x)

    def _take(self, t):
        # what the socket has for the session; the end of the stream is an error
        s = self.s
        n = t.read_now(s.recv_buffer())
        if n == 0:
            raise MQTTError("connection closed by the server")
        if n:
            s.received(n)

    async def _reader(self, t):
        s = self.s
        # the session's events as locals: compared without a lookup each message
        MESSAGE, PUBACK, SUBACK, PINGRESP = _s.MESSAGE, _s.PUBACK, _s.SUBACK, _s.PINGRESP
        try:
            more = s.used < s.rn  # bytes after CONNACK, read with it
            while True:
                if not more:  # all taken: wait for the socket (_take(), inline)
                    await t.readable()
                    n = t.read_now(s.recv_buffer())
                    if n == 0:
                        raise MQTTError("connection closed by the server")
                    if n:
                        s.received(n)
                ev = s.next_event()
                # another whole packet may follow in what was read; none if all taken
                more = ev and s.used < s.rn
                if not ev:
                    continue
                if ev == MESSAGE:
                    self.received += 1
                    for f, h in self.subs:
                        if matches(f, s.topic):
                            try:
                                h(s.topic, s.payload, s.props)
                            except Exception as e:  # the handler's: shown, not fatal
                                print_exception(e)
                            break
                    if s.qos:
                        t.write(s.ack(s.pid, ticks_ms()))
                elif ev == PUBACK or ev == SUBACK:
                    w = self.waiting.pop(s.pid, None)
                    if w is not None:
                        w.rc = s.rc if ev == PUBACK else s.codes
                        w.set()
                    if ev == PUBACK:
                        self.acked += 1
                        if self.wanting:
                            self.room.pulse()
                elif ev == _s.DISCONNECT:
                    raise MQTTError("disconnected by the server: 0x%02X" % s.rc)
                elif ev != PINGRESP:
                    raise ProtocolError(0x82, "second CONNACK")
        except ProtocolError as e:  # DISCONNECT with its reason code, then close
            # (spec 4.13) [MQTT-4.13.2-1]
            t.write(s.disconnect(e.reason_code, ticks_ms()))
            self._end(t, e)
        except Exception as e:
            self._end(t, e)

    async def _pinger(self, t):
        s = self.s
        try:
            while self.t is t:
                b, ms = s.tick(ticks_ms())
                if b is not None:
                    t.write(b)
                await sleep_ms(ms)
        except MQTTError as e:
            self._end(t, e)

    def _end(self, t, e):
        if self.t is t:
            self.t = None
            self.error = e
            t.close()
            self.ended += 1
            if not self.keep:  # (kept: the PUBACK after the next connect() sets them)
                err = MQTTError("connection lost: %s" % e)
                for w in self.waiting.values():
                    w.err = err
                    w.set()
                self.waiting.clear()
            self.room.set()
            self._state(False, e)

    def _live(self):
        if self.t is None:
            raise MQTTError("not connected" if self.error is None else
                            "connection lost: %s" % self.error)
        return self.t

    def publish(self, topic, payload, qos=0, retain=False):
        """Send a message; await the result: at QoS 1 the PUBACK's reason code once it
        arrives.  Nothing is allocated for the awaiting when the socket took it all."""
        s = self.s
        t = self.t
        if t is None:
            self._live()  # raises
        if qos and not s.quota:  # the server's Receive Maximum [MQTT-3.3.4-7]
            return self._later(topic, payload, qos, retain)
        t.write(s.publish(topic, payload, qos, retain, ticks_ms()))
        self.sent += 1
        if qos:
            # the Signal the PUBACK sets; once awaited it goes back to self.spare[0]
            # (mqtt5._compat's Signal home): one after another, they reuse one
            h = self.spare
            w = h[0]
            if w is None:
                w = Signal()
            else:
                h[0] = None
            w.home = h
            self.waiting[s.pid] = w
            w = w.wait()  # (MicroPython: the Signal itself)
        else:
            w = DONE
        return w if not t.backlog() else self._drained(t, w)

    async def _later(self, topic, payload, qos, retain):
        self.wanting += 1
        try:
            while not self.s.quota:
                await self.room.wait()
                self.room.clear()
                self._live()
        finally:
            self.wanting -= 1
        return await self.publish(topic, payload, qos, retain)

    async def _drained(self, t, w):
        await t.drain()
        return await w

    async def subscribe(self, topic_filter, qos=0, handler=None, no_local=False,
                        retain_as_published=False, retain_handling=0):
        """Subscribe to a filter, or a list of (filter, qos), and route matching
        messages to handler(topic, payload, props); returns the SUBACK's reason codes
        (one int for one filter; >= 0x80: refused)."""
        t = self._live()
        o = (4 if no_local else 0) | (8 if retain_as_published else 0) | retain_handling << 4
        many = not isinstance(topic_filter, str)
        fs = [(f, q | o) for f, q in topic_filter] if many else ((topic_filter, qos | o),)
        t.write(self.s.subscribe(fs, ticks_ms()))
        w = self.waiting[self.s.pid] = Signal()
        codes = await w.wait()
        for k, (f, _) in enumerate(fs):
            if codes[k] < 0x80 and handler is not None:
                self.subs.append((f, handler))
        return list(codes) if many else codes[0]

    async def disconnect(self):
        """DISCONNECT 0x00 (the will is not sent [MQTT-3.14.4-3]) and close."""
        t = self.t
        if t is not None:
            t.write(self.s.disconnect(0, ticks_ms()))
            await t.drain()
            self._end(t, MQTTError("disconnected"))
        for k in self.tasks:
            k.cancel()
