# The Responder against hostile requests, over a fake client (no broker), on the
# running runtime: a request whose copy or task finds no heap (MemoryError) is
# turned away and counted in `busy`, its place and memory given back; a payload over
# max_payload reaches the handler cut; a Response Topic with a code point a publish
# refuses (U+0001) is not admitted.  One JSON record.
import asyncio
import json

from mqtt5.message import Message
from mqtt5.responder import Responder


class FakeClient:
    def __init__(self):
        self.handlers = {}
        self.pubs = []

    async def subscribe(self, filt, qos=0, handler=None, retain_handling=0):
        self.handlers[filt] = handler
        return qos

    async def publish(self, topic, payload, qos=0, correlation_data=None, **kw):
        self.pubs.append((topic, payload, bytes(correlation_data)))


class NoHeap(Message):
    __slots__ = ()

    def copy(self):  # what a fragmented heap does to a large request's copy
        raise MemoryError("no block")


def request(c, payload, cd, rt="back/x", cls=Message):
    # what the link hands a sync handler: memoryviews into its receive buffer
    m = cls("h/ping", memoryview(payload), 1, False, False,
            {0x08: rt, 0x09: memoryview(cd)})
    out = c.handlers["h/+"](m)
    return out, m


async def settle(r):
    while r._running:
        await asyncio.sleep(0)


async def main():
    seen = []

    def handler(m):
        seen.append(len(m.payload))
        return b"pong"

    c = FakeClient()
    r = Responder(c, "h/+", handler, remember=4, max_busy=2, max_payload=512)
    await r.start()
    out = {}
    # 1. no heap for the copy: not raised into the link, counted, nothing held
    res = []
    try:
        got, m = request(c, b"{}", b"c1", cls=NoHeap)
        res.append(got)
    except MemoryError as e:
        res.append("raised %r" % (e,))
    out["noheap"] = {"result": res, "busy": r.busy, "running": r._running,
                     "waiting": len(r._waiting),
                     "remembered": [e[2] for e in r._seen if e is not None]}
    # ... and its retry (same Correlation Data) is run, not left to a first run that
    # never was
    request(c, b"{}", b"c1")
    await settle(r)
    out["retry"] = {"pubs": [p[2].decode() for p in c.pubs], "seen": list(seen)}
    # 2. the task cannot be made: the same
    ct = asyncio.create_task

    def fail(coro):
        coro.close()
        raise MemoryError("no task")

    asyncio.create_task = fail
    try:
        try:
            request(c, b"{}", b"c2")
            res2 = "returned"
        except MemoryError:
            res2 = "raised"
    finally:
        asyncio.create_task = ct
    out["notask"] = {"result": res2, "busy": r.busy, "running": r._running}
    # 3. an oversized payload reaches the handler cut to max_payload + 1 bytes; the
    # link's Message keeps its own payload
    seen[:] = []
    big = b"x" * 1700
    _, m = request(c, big, b"c3")
    out["big"] = {"link_payload": len(m.payload)}
    await settle(r)
    out["big"]["handler_saw"] = list(seen)
    # 4. a Response Topic a publish would refuse is not admitted: counted in ignored
    seen[:] = []
    for rt in ("r/\x01z", "r/\ufffez", "r/a+b", ""):
        request(c, b"{}", b"c4", rt=rt)
    await settle(r)
    out["odd_rt"] = {"ignored": r.ignored, "seen": list(seen)}
    print(json.dumps(out))


asyncio.run(main())
