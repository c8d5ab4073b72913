# Topic filter matching, validation and routing, checked on the running runtime.
# Prints one JSON record per case group; the pytest side asserts all passed.
import gc
import json

from mqtt5.router import Router, matches, validate_filter, validate_topic

MATCH = [
    ("a/b/c", "a/b/c", True), ("a/b/c", "a/b", False), ("a/b", "a/b/c", False),
    ("a/+/c", "a/x/c", True), ("a/+/c", "a/x/y/c", False), ("a/+", "a/", True),
    ("+/+", "/x", True), ("+", "/x", False), ("/+", "/x", True),
    ("a/#", "a", True), ("a/#", "a/b/c", True), ("a/#", "ab", False),
    ("#", "a/b", True), ("#", "/", True), ("+/#", "a", True),
    ("sport/tennis/+", "sport/tennis/player1", True),
    ("sport/tennis/+", "sport/tennis/player1/ranking", False),
    ("sport/+", "sport", False), ("sport/#", "sport", True),
    ("#", "$SYS/broker", False), ("+/broker", "$SYS/broker", False),
    ("$SYS/#", "$SYS/broker", True), ("$SYS/+", "$SYS/broker", True),
    ("a/b", "a/c", False), ("abc", "abd", False), ("ab", "abc", False),
    ("$share/g/a/+", "a/b", True),
]
BAD_FILTERS = ["", "a/#/b", "a#", "a/b#", "+a", "a/+b", "#/", "a\x00b", "$share/g", "$share//a"]
GOOD_FILTERS = ["#", "+", "+/+/#", "/", "a//b", "$share/g/#", "a/b/c"]
BAD_TOPICS = ["", "a/+", "a/#", "#", "a\x00"]
GOOD_TOPICS = ["a", "/", "a//b", "$SYS/x", "é/ü"]


def check():
    fails = []
    r = Router()
    for f, t, want in MATCH:
        if f.startswith("$share/"):
            r.add(f, 1, 0)
            got = r.next_match(t, 0, -1) >= 0
            r.remove(f)
        else:
            got = matches(f, t)
        if got != want:
            fails.append("match %r %r" % (f, t))
    for check, bad, good in ((validate_filter, BAD_FILTERS, GOOD_FILTERS),
                             (validate_topic, BAD_TOPICS, GOOD_TOPICS)):
        for x in bad:
            try:
                check(x)
                fails.append("accepted %r" % x)
            except ValueError:
                pass
        for x in good:
            check(x)
    return fails


def routing():
    r = Router()
    h1, h2 = [], []
    r.add("a/+", h1, 0)
    r.add("a/#", h2, 0)
    r.add("a/b", h1, 0)       # same handler, overlapping: reported once
    out = []
    i = r.next_match("a/b", 0, -1)
    while i >= 0:
        out.append(r.handler(i) is h1 and "h1" or "h2")
        i = r.next_match("a/b", i + 1, -1)
    r.add("a/+", h2, 0)       # re-subscribe replaces the handler
    assert r.filters() == ["a/+", "a/#", "a/b"], r.filters()
    assert r.remove("a/+") and not r.remove("a/+")
    return out


def alloc():
    # matching a message must not allocate
    f = "fieldnode/v1/+/cmd/#"
    t = "fieldnode/v1/dev-0001/cmd/reboot"
    matches(f, t)
    gc.collect()
    before = gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0
    for _ in range(20):
        matches(f, t)
    return (gc.mem_alloc() - before) if hasattr(gc, "mem_alloc") else 0


def refused_resubscribe():
    # a handler's filter subscribed again without one, and refused (SUBACK 0x87): the
    # route it never touched went too, and the server, which keeps the subscription,
    # sent its messages to on_message instead of the handler.  A client stand-in and
    # its link's request() answered by hand: the codes of each SUBSCRIBE in turn
    import asyncio
    import mqtt5.link as _L
    import mqtt5.router as R

    class Session:
        sub_id_available = True

        def subscribe(self, topics, props):
            return 1

    class Client:
        _router = _q = None
        _t = True  # (a link: a refusal then is no lost link's)
        _s = Session()

    codes = [[0], [0x87], [0x87]]

    async def request(*args):
        return codes.pop(0)

    real, _L.request = _L.request, request

    def h(m):
        pass

    async def steps():
        c = Client()
        await R.subscribe(c, "cmd/#", 1, h, False, False, 0, None, None)
        out = []
        for handler in (None, lambda m: None):  # refused: without a handler, and with one
            try:
                await R.subscribe(c, "cmd/#", 2, handler, False, False, 0, None, None)
                out.append("subscribed")
            except Exception as e:
                out.append(str(e))
            r = R.routes(c)
            out.append([r.filters(), [r.handler(i) is h for i in range(len(r.filters()))]])
        return out

    try:
        return asyncio.run(steps())
    finally:
        _L.request = real


print(json.dumps({"fails": check(), "routing": routing(), "alloc": alloc(),
                  "refused_resubscribe": refused_resubscribe()}))
