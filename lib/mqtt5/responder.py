"""Answers over MQTT v5 (spec 4.10): the Responder, built on the public
`mqtt5.Client` API only. Loaded on use (`mqtt5.Responder`); a node that answers
commands loads this module and not the Requester's (mqtt5.requester).

    rsp = Responder(client, "svc/echo", lambda m: b"echo:" + bytes(m.payload))
    await rsp.start()

`client` may also be a mqtt5 Supervisor: the subscription is then made through it
and restored after a reconnect without a session.

The Responder answers each request on its Response Topic with the same Correlation
Data (spec 4.10.2). It remembers the last ``remember`` answered requests (topic,
Response Topic, Correlation Data, a CRC-32 of the payload) from when it admits them: a
repeated request (the requester retried) is answered again with the remembered reply,
or, while the first is still being handled, left to that first answer; the handler is
not run twice. A request whose Response Topic is no Topic Name (empty, or with a
wildcard [MQTT-3.3.2-14]) or holds a code point we may not send (spec 1.5.4) cannot
be answered: it is ignored like one without, and the
connection stays up (the client does not treat it as a Protocol Error, so a broker
that forwards one cannot wedge a node that resumes its session).

Memory: the module is 1.8 KB as `.mpy` (mpy-cross -march=x86), a Responder about
400 B on the unix port.
"""

import asyncio

from .errors import MQTTError
from .wire import to_utf8, topic_name_ok


class Responder:
    """Answer requests arriving on `filt` (a topic filter, shared subscriptions
    allowed) with `handler(msg)`'s return value; `client` as for Requester.

    Responder(client, filt, handler, qos=1, remember=8, max_busy=8, max_waiting=0,
              keep=None, max_payload=0, **answer_props).
    handler(msg) -> payload (bytes, bytearray, memoryview or str), or None for no
    answer; plain function or async def; it gets an independent copy of the request.
    The answer goes to the request's Response Topic with the same Correlation Data
    (spec 4.10.2), at the lower of the request's QoS and ``qos``, with
    ``answer_props`` (Client.publish keywords, e.g. content_type="application/json",
    payload_format_indicator=1). Requests without
    a usable Response Topic (none, empty, or with a wildcard) are not handled and
    are counted in ``ignored``; at most ``max_busy`` requests are handled at once
    (each holds a task and a copy of its message until its answer is out), up to
    ``max_waiting`` more wait their turn in arrival order (each holds a copy: the
    backlog a reconnect delivers at once), and those arriving beyond that, or for
    which the heap has no room (their copy or task: MemoryError), are not handled
    and are counted in ``busy`` (turned away for want of a place or of heap);
    ``max_payload`` (0: none): a request whose payload is longer reaches the handler
    cut to its first ``max_payload`` + 1 bytes (enough to refuse it as too large;
    the rest is never copied, so an oversized request needs no large heap block);
    ``answered`` and ``repeated`` count the others, ``failed`` the answers whose
    publish was refused (e.g. not authorized, over the server's Maximum Packet Size)
    or found no heap block for its packet (MemoryError),
    ``errors`` the requests whose handler raised or returned no payload Client.publish
    takes (bytes, bytearray, memoryview, str) nor None (no answer; shown as "mqtt5:
    handler error" with its traceback, as for a subscribe() handler).
    The last ``remember`` answers are kept: a repeat (the same topic, Response Topic,
    Correlation Data and payload) gets its answer again and the handler is not called.
    ``keep(answer)``, if given, says whether an answer is remembered for repeats:
    False for one that reports a passing failure (nothing was done), so that the
    requester's retry runs the request again instead of getting that answer back.
    ``answering = False`` stops every answer at once, with the subscription kept (a
    node's goodbye, after which nothing may follow its `offline`): a repeat then gets
    no replay (counted in ``ignored``), and a handler that returns afterwards has its
    answer dropped; new requests still reach the handler, which decides.
    """

    def __init__(self, client, filt, handler, qos=1, remember=8, max_busy=8, max_waiting=0,
                 keep=None, max_payload=0, **answer_props):
        if max_busy < 1:
            raise ValueError("max_busy must be at least 1")
        # a Supervisor subscribes (restored after a reconnect); its client publishes
        self._subs, self.client = client, getattr(client, "client", None) or client
        self.filter = filt
        self.handler = handler
        self.qos = qos
        self.max_busy = max_busy
        self.max_waiting = max_waiting
        self._waiting = []  # (message copy, response topic, memory entry, again)
        self.keep = keep
        self.max_payload = max_payload
        self.props = answer_props
        self.answered = 0
        self.repeated = 0
        self.ignored = 0
        self.busy = 0
        self.failed = 0
        self.errors = 0
        self._running = 0
        self._seen = [None] * remember  # [topic, response topic, correlation data,
        # answer or None while running, the payload's CRC-32]
        self._next = 0
        self.answering = True  # False: no answer goes out from now (see class doc)

    async def start(self):
        """Subscribe to the request filter; returns the granted QoS.  Retain Handling
        2: a request someone left retained is not delivered from the broker's
        store (it would run again at every subscribe, a retained reboot at every
        boot) [MQTT-3.3.1-11]; sent live with the retain flag, it runs once."""
        return await self._subs.subscribe(self.filter, qos=self.qos, handler=self._on_request,
                                          retain_handling=2)

    async def stop(self):
        """Unsubscribe the request filter."""
        await self._subs.unsubscribe(self.filter)

    def _recall(self, t, rt, cd, crc):
        # a retry is the same request: topic, Response Topic, Correlation Data and
        # payload (one Correlation Data reused for another request is another request)
        for e in self._seen:
            if e is not None and e[2] == cd and e[4] == crc and e[1] == rt and e[0] == t:
                return e
        return None

    def _on_request(self, m):
        # Admission, with no task and no copy for a request that is not handled; an
        # admitted one runs as a task of its own, on a copy of the Message.
        # A retry of a request still being handled is not run again: its answer
        # comes when that run ends.
        rt = m.response_topic
        try:  # (to_utf8: ValueError for a code point we may not send, spec 1.5.4)
            ok = rt and topic_name_ok(rt) and to_utf8(rt)
        except ValueError:
            ok = False
        if not ok:  # not run: its answer could not go
            self.ignored += 1
            return None
        cd = m.correlation_data  # (bytes: the property decoder copies binary values)
        e = crc = None
        if cd is not None and self._seen:
            from binascii import crc32  # (built in: no RAM)

            crc = crc32(m.payload) & 0x3FFFFFFF  # (a small int on 32-bit ports)
            e = self._recall(m.topic, rt, cd, crc)
        if e is not None and e[3] is None:
            self.repeated += 1
            return None
        wait = self._running >= self.max_busy
        if wait and len(self._waiting) >= self.max_waiting:
            self.busy += 1
            return None
        again = e is not None
        if again and not self.answering:  # no answer replayed either
            self.ignored += 1
            return None
        n = self._next
        p = m.payload
        try:  # (a MemoryError here must not keep the place for ever)
            if not again and cd is not None and self._seen:  # remembered from now on
                e = self._seen[n] = [m.topic, rt, bytes(cd), None, crc]
                self._next = (n + 1) % len(self._seen)
            if len(p) > self.max_payload > 0:  # the copy cut (its length says "over")
                m.payload = p[:self.max_payload + 1]
            job = (m.copy(), rt, e, again)
            if wait:  # its turn comes when a running one ends (_answer)
                self._waiting.append(job)
                return None
            asyncio.create_task(self._answer(*job))
        except BaseException as err:
            if not again and e is not None:
                e[2] = None  # forgotten: a retry is run
            if not isinstance(err, MemoryError):
                raise
            # no heap for its copy or its task (MicroPython collected before it
            # raised): turned away like one beyond max_waiting; the requester retries
            self.busy += 1
            return None
        finally:
            m.payload = p  # (the link's Message, also for the next handler of this one)
        self._running += 1
        return None

    def _error(self, e):
        from .message import _report  # (loaded: a request came as a message)

        self.errors += 1
        _report(e)

    async def _answer(self, m, rt, e, again):
        # one coroutine per admitted request; it frees its place however it ends
        out = None
        try:
            cd = m.correlation_data
            if again:
                self.repeated += 1
                out = e[3]
            else:
                try:
                    out = self.handler(m)
                    if out is not None and hasattr(out, "send"):
                        out = await out
                except Exception as err:  # no answer: counted and shown as a handler's
                    out = None
                    self._error(err)
                if out is None:
                    return
                if e is not None:
                    if self.keep is None or self.keep(out):
                        e[3] = out
                    else:  # forgotten: a retry runs again
                        e[2] = None
            if not self.answering:  # (set while the handler ran)
                out = None
                return
            try:
                await self.client.publish(rt, out, m.qos if m.qos < self.qos else self.qos,
                                          correlation_data=cd, **self.props)
            except (MQTTError, MemoryError):  # refused (not authorized, over the
                self.failed += 1  # server's limits), or no heap block for its packet
                return
            except Exception as err:  # the handler returned no bytes or str
                out = None  # (forgotten below: a retry runs again)
                self._error(err)
                return
            self.answered += 1
        finally:
            self._running -= 1
            if out is None and e is not None and not again:  # no answer: forget it
                e[2] = None
            while self._waiting:  # the next waiting request takes this place
                job = self._waiting.pop(0)
                try:
                    asyncio.create_task(self._answer(*job))
                    self._running += 1
                    break
                except Exception:  # no heap for its task: dropped, counted, and the
                    self.busy += 1  # next one tries (none is left waiting with no
                    if not job[3] and job[2] is not None:  # place to free, for good)
                        job[2][2] = None
