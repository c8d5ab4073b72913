# Requester/Responder over a fake client (no broker), on the running runtime:
# response topic derivation, bounded pending slots, late replies dropped,
# Responder memory of answered correlation ids.  One JSON record.
import asyncio
import json

from mqtt5.message import Message
from mqtt5.requester import Requester
from mqtt5.responder import Responder


class Sess:
    def __init__(self, cid="", assigned=None, ri=None):
        self.client_id = cid
        self.assigned_client_id = assigned
        self.response_information = ri


class FakeClient:
    """subscribe/publish recorded; replies are injected by the test."""

    def __init__(self, sess):
        self.session = sess
        self.subs = []
        self.pubs = []
        self.kw = []
        self.handlers = {}

    async def subscribe(self, filt, qos=0, handler=None, retain_handling=0):
        self.subs.append(filt)
        self.handlers[filt] = handler
        self.rh = retain_handling
        return qos

    async def unsubscribe(self, filt):
        self.subs.remove(filt)

    async def publish(self, topic, payload, qos=0, response_topic=None,
                      correlation_data=None, **kw):
        self.pubs.append((topic, payload, qos, response_topic, correlation_data))
        self.kw.append(kw)


def reply(c, topic, cd, payload):
    # what the link hands a sync handler: a Message with memoryview payload/data
    m = Message(topic, memoryview(payload), 1, False, False,
                {0x09: memoryview(cd)} if cd is not None else None)
    c.handlers[topic](m)


class EchoClient(FakeClient):
    """Answers each request itself, a few scheduler turns after its publish."""

    async def publish(self, topic, payload, qos=0, response_topic=None,
                      correlation_data=None, **kw):
        n = len(self.pubs)
        self.pubs.append(topic)
        self.kw.append(kw)
        for _ in range(n % 3):
            await asyncio.sleep(0)
        asyncio.create_task(self._answer(response_topic, bytes(correlation_data), n))

    async def _answer(self, topic, cd, n):
        for _ in range(n % 4):
            await asyncio.sleep(0)
        reply(self, topic, cd, b"%d" % n)


async def queued_requests():
    # 60 callers queued for one slot: each must get the slot as soon as the one
    # before ends. A freed slot that woke nobody (the waiter had not parked yet)
    # cost 0.1 s each, about 4 s in all, so callers timed out at 2 s.
    r = Requester(EchoClient(Sess("dev1")), max_pending=1)
    await r.start()
    res = await asyncio.gather(*[r.request("svc/q", b"", timeout=2) for _ in range(60)],
                               return_exceptions=True)
    return [len(r.client.pubs), sum(1 for x in res if isinstance(x, Exception)),
            sorted(int(x.payload) for x in res if not isinstance(x, Exception)) == list(range(60))]


async def main():
    out = {}
    topics = []
    for s in (Sess("dev1"), Sess("", "auto-7"), Sess("dev1", None, "resp/dev1/"),
              Sess("dev1", None, "r/abc")):
        r = Requester(FakeClient(s))
        await r.start()
        topics.append(r.response_topic)
    out["topics"] = topics
    try:
        await Requester(FakeClient(Sess(""))).start()
        out["no_id"] = "accepted"
    except Exception as e:
        out["no_id"] = type(e).__name__

    c = FakeClient(Sess("dev1"))
    r = Requester(c, max_pending=1)
    t1 = asyncio.create_task(r.request("svc/a", b"1", timeout=2))
    t2 = asyncio.create_task(r.request("svc/a", b"2", timeout=2))
    await asyncio.sleep(0.05)
    out["subs"] = list(c.subs)
    out["published_while_one_pending"] = len(c.pubs)       # the 2nd waits for the slot
    cd1 = c.pubs[0][4]
    reply(c, "reply/dev1", b"other-id", b"x")              # not ours: dropped
    reply(c, "reply/dev1", cd1, b"r1")
    a = await t1
    await asyncio.sleep(0.05)
    cd2 = c.pubs[1][4]
    reply(c, "reply/dev1", cd2, b"r2")
    b = await t2
    out["replies"] = [bytes(a.payload).decode(), bytes(b.payload).decode()]
    out["reply_is_copy"] = isinstance(a.payload, bytes) and isinstance(a.correlation_data, bytes)
    out["cids"] = [len(cd1), cd1[:4] == cd2[:4], cd1 != cd2]
    # the request expires with its timeout, rounded up to whole seconds, unless given
    c3 = EchoClient(Sess("dev1"))
    r3 = Requester(c3)
    for kw in ({"timeout": 2}, {"timeout": 0.3}, {"timeout": 2.5},
               {"timeout": 2, "message_expiry_interval": 60},
               {"timeout": 2, "message_expiry_interval": None}):
        await r3.request("svc/e", b"", **kw)  # answered at once
    out["expiry"] = [k.get("message_expiry_interval", "absent") for k in c3.kw]

    # the timeout covers waiting for a pending slot: with the one slot held by a
    # request of 5 s, a request of 0.1 s times out first, without publishing
    r1 = Requester(FakeClient(Sess("dev1")), max_pending=1)
    ended = []

    async def req(name, timeout):
        try:
            await r1.request("svc/slow", b"", timeout=timeout)
        except asyncio.TimeoutError:
            ended.append(name)

    long = asyncio.create_task(req("long", 5))
    await asyncio.sleep(0.05)
    await req("short", 0.1)
    out["slot_wait_timeout"] = ended + [len(r1.client.pubs)]
    long.cancel()
    out["queued"] = await queued_requests()
    bad = []
    for kw in ({"max_pending": 0}, {"qos": 3}):
        try:
            Requester(FakeClient(Sess("dev1")), **kw)
            bad.append("accepted")
        except ValueError:
            bad.append("ValueError")
    out["bad_requester"] = bad
    out["pub"] = [c.pubs[0][0], c.pubs[0][2], c.pubs[0][3]]
    try:
        await r.request("svc/a", b"3", timeout=0.1)
        out["timeout"] = "answered"
    except asyncio.TimeoutError:
        out["timeout"] = "timeout"
    reply(c, "reply/dev1", c.pubs[2][4], b"late")          # after its timeout
    out["dropped"] = r.dropped
    reply(c, "reply/dev1", None, b"no-cd")
    out["dropped_no_cd"] = r.dropped
    await r.stop()
    out["after_stop"] = list(c.subs)

    # Responder: answers on the Response Topic with the same Correlation Data
    sc = FakeClient(Sess("srv"))
    runs = []

    def h(m):
        runs.append(bytes(m.payload))
        return b"ok:" + bytes(m.payload) if m.payload != b"quiet" else None

    rsp = Responder(sc, "svc/+", h, remember=2)
    await rsp.start()
    handler = sc.handlers["svc/+"]

    async def on(m):
        # as the link does; an admitted request runs as the Responder's own task
        assert handler(m) is None
        while rsp._running:
            await asyncio.sleep(0)
    for payload, rt, cd in ((b"a", "back/1", b"c1"), (b"a", "back/1", b"c1"),
                            (b"b", None, b"c2"), (b"quiet", "back/2", b"c3"),
                            (b"d", "back/1", b"c4"), (b"e", "back/1", b"c5"),
                            (b"a", "back/1", b"c1")):
        props = {0x09: cd}
        if rt:
            props[0x08] = rt
        await on(Message("svc/x", payload, 1, False, False, props))
    # c1 on another command topic is another request; a Response Topic that is no
    # Topic Name (a wildcard [MQTT-3.3.2-14], or empty) cannot be answered: ignored
    for topic, payload, rt in (("svc/y", b"y", "back/1"), ("svc/x", b"w", "bad/#"),
                               ("svc/x", b"v", ""), ("svc/x", b"u", "back/\x85")):
        await on(Message(topic, payload, 1, False, False, {0x09: b"c1", 0x08: rt}))
    out["responder"] = {"runs": [x.decode() for x in runs],
                        "pubs": [[p[0], p[1].decode(), p[4].decode()] for p in sc.pubs],
                        "answered": rsp.answered, "repeated": rsp.repeated,
                        "ignored": rsp.ignored, "retain_handling": sc.rh}
    # one Correlation Data with another payload is another request: it got the first
    # one's answer, and nothing ran; each is remembered (remember=2) and repeated
    n, rep = len(runs), rsp.repeated
    for payload in (b"f", b"g", b"g", b"f"):
        await on(Message("svc/x", payload, 1, False, False, {0x09: b"c6", 0x08: "back/1"}))
    out["reused_cd"] = [[x.decode() for x in runs[n:]], rsp.repeated - rep,
                        [p[1].decode() for p in sc.pubs[-4:]]]
    # keep(answer) False: not remembered, so the same request runs again
    kc = FakeClient(Sess("keep"))
    tries = []

    def flaky(m):
        tries.append(1)
        return b"fail" if len(tries) == 1 else b"ok"

    rk = Responder(kc, "k/+", flaky, keep=lambda a: a != b"fail")
    await rk.start()
    hk = kc.handlers["k/+"]
    for _ in range(3):
        hk(Message("k/x", b"", 1, False, False, {0x08: "back/k", 0x09: b"same"}))
        while rk._running:
            await asyncio.sleep(0)
    out["keep"] = [len(tries), [p[1].decode() for p in kc.pubs], rk.repeated]
    # a handler that raises, or returns no bytes or str: counted, reported, no answer
    ec = FakeClient(Sess("err"))

    def broken(m):
        if m.payload == b"raise":
            raise RuntimeError("handler bug")
        return b"answer" if m.payload == b"heap" else 42

    class Picky(FakeClient):
        async def publish(self, topic, payload, qos=0, **kw):
            if not isinstance(payload, (bytes, str)):
                raise TypeError("payload must be bytes")
            if payload == b"answer":  # its packet finds no heap block: not a handler error
                raise MemoryError("fake: no block")
            await FakeClient.publish(self, topic, payload, qos, **kw)

    ec = Picky(Sess("err"))
    re_ = Responder(ec, "e/+", broken)
    await re_.start()
    he = ec.handlers["e/+"]
    for p in (b"raise", b"int", b"int", b"heap"):
        he(Message("e/x", p, 1, False, False, {0x08: "back/e", 0x09: b"c-" + p}))
        while re_._running:
            await asyncio.sleep(0)
    out["errors"] = [re_.errors, re_.answered, re_.repeated, len(ec.pubs), re_.failed]
    # at most max_busy requests are handled at once, the others counted; answers
    # carry the Responder's answer properties
    bc = FakeClient(Sess("busy"))
    rb = Responder(bc, "b/+", h, max_busy=2, content_type="application/json",
                   payload_format_indicator=1)
    await rb.start()
    hb = bc.handlers["b/+"]

    def admitted(i):  # handled: a task of its own (the handler returns None either way)
        n = rb._running
        hb(Message("b/x", b"%d" % i, 1, False, False, {0x08: "back/b", 0x09: b"%d" % i}))
        return rb._running > n

    took = [admitted(i) for i in range(4)]
    late = admitted(5)
    while rb._running:
        await asyncio.sleep(0)
    again = admitted(6)
    while rb._running:
        await asyncio.sleep(0)
    async def waiting_responder(name, n, max_busy, max_waiting):
        # a Responder on a fake client, sent n requests at once
        fc = FakeClient(Sess(name))
        r = Responder(fc, name + "/+", h, max_busy=max_busy, max_waiting=max_waiting)
        await r.start()
        for i in range(n):
            fc.handlers[name + "/+"](Message(name + "/x", b"%d" % i, 1, False, False,
                                             {0x08: "back/" + name, 0x09: b"%d" % i}))
        return fc, r

    # max_waiting=2: of six at once, two run, two wait their turn, two are counted
    wc, rw = await waiting_responder("w", 6, 2, 2)
    held = len(rw._waiting)
    while rw._running:
        await asyncio.sleep(0)
    out["waiting"] = [held, rw.busy, rw.answered, [p[1].decode() for p in wc.pubs]]
    # the hand-over finds no heap for the next waiting one's task: that one is counted,
    # and the one after it takes the place (it was left waiting, with none running)
    hc, rh = await waiting_responder("h", 3, 1, 3)
    import mqtt5.responder as R
    real, fails = asyncio.create_task, [1]

    def no_heap_once(coro):
        if fails[0]:
            fails[0] = 0
            coro.close()
            raise MemoryError("fake: no block")
        return real(coro)

    R.asyncio.create_task = no_heap_once
    try:
        for _ in range(50):
            await asyncio.sleep(0)
    finally:
        R.asyncio.create_task = real
    out["handover"] = [rh.busy, rh.answered, len(rh._waiting), rh._running,
                       [p[1].decode() for p in hc.pubs]]
    bad = []
    try:
        Responder(bc, "b/+", h, max_busy=0)
    except ValueError:
        bad.append("ValueError")
    out["busy"] = {"took": took, "late": not late and again,
                   "busy": rb.busy, "answered": rb.answered,
                   "pubs": [p[1].decode() for p in bc.pubs], "kw": bc.kw[0], "bad": bad}
    print(json.dumps(out))


asyncio.run(main())
