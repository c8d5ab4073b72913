# Supervisor logic without a broker (both runtimes): reason classification,
# the offline queue's limits/policies/expiry/order, and the reconnect loop over a
# scripted fake client (URL rotation, Server Reference, Clean Start only first,
# attempt count and its reset after stable_ms, fatal stop).  JSON records.
import asyncio

from client_util import emit, main
from mqtt5.errors import MQTTError
from mqtt5.reason_codes import rc_error
from mqtt5.offline import OfflineQueue, DROP_OLDEST, REFUSE
from mqtt5.supervisor import Supervisor, classify, reason_key, DOWN, STOPPED
import mqtt5.drain as drain

# The Supervisor drives the client's supervised half (mqtt5.drain) itself: with the
# fake client below that only records the offline queue (no real client here).
drain.supervise = lambda c, q: setattr(c, "_q", q)
drain.start = lambda c: None
drain.abandon = lambda c, e: None

emit(check="classify",
     fatal=[classify(c) for c in (0x84, 0x85, 0x86, 0x87, 0x8A, 0x8C, 0x9A, 0x9B)],
     transient=[classify(c) for c in (0x88, 0x89, 0x97, 0x9F, 0x80, None)],
     redirect=[classify(c) for c in (0x9C, 0x9D)],
     keys=[reason_key(rc_error("CONNACK", 0x86)), reason_key(OSError(111)),
           reason_key(asyncio.TimeoutError()), reason_key(MQTTError("keep alive timeout")),
           reason_key(MQTTError("connection lost: OSError(104)")), reason_key(MemoryError()),
           reason_key(MQTTError("connection lost: heap full: MemoryError()"))])

# ---- offline queue ----
dropped = []
q = OfflineQueue(3, 100, DROP_OLDEST)
q.on_drop = lambda w, expired: dropped.append(w)
for i in range(5):
    q.put("t", b"%d" % i, i % 2, False, None, 0, 10 + i if i % 2 else -1)
order = [q.payload[(q.head + k) % q.size] for k in range(q.n)]
emit(check="drop_oldest", order=[bytes(x).decode() for x in order], drops=q.drops,
     dropped_waiters=dropped, n=q.n, bytes=q.bytes)

q = OfflineQueue(10, 12, REFUSE)
q.put("ab", b"1234", 0, False, None, 0)  # 6 bytes
q.put("ab", b"1234", 0, False, None, 0)  # 12
try:
    q.put("ab", b"1", 0, False, None, 0)
    refused = None
except MQTTError as e:
    refused = [str(e), e.reason_code]
try:
    OfflineQueue(10, 12, DROP_OLDEST).put("abc", b"0123456789", 0, False, None, 0)
    big = None
except MQTTError as e:
    big = str(e)
emit(check="refuse", refused=refused, big=big, drops=q.drops, n=q.n)

q = OfflineQueue(4, 100)
q.put("t", b"a", 1, False, {2: 5, 3: "text/plain"}, 1000)
emit(check="expiry", at_0=q.props_at(q.head, 1500)[2], at_2500=q.props_at(q.head, 3500)[2],
     original=q.props[q.head][2], expired_4999=q.expired_at(q.head, 5999),
     expired_5000=q.expired_at(q.head, 6000), gone=q.props_at(q.head, 6000))

q = OfflineQueue(4, 100)
q.put("t", b"new1", 1, False, None, 0)
q.put("t", b"new2", 1, False, None, 0)
q.mark_front()
q.put_front("t", b"lost1", 1, False, None, 0, 7)
q.put_front("t", b"lost2", 1, False, None, 0, 8)
out = []
while q.n:
    i = q.head
    out.append(bytes(q.payload[i]).decode())
    q.pop()
emit(check="put_front", order=out, bytes=q.bytes)

# live entries (a caller with a waiter slot, on a live link): outside the limits, and
# never the one DROP_OLDEST takes; the others are limited and dropped as before
for policy in (DROP_OLDEST, REFUSE):
    dropped = []
    q = OfflineQueue(3, 100, policy, 4)
    q.on_drop = lambda w, expired: dropped.append(w)
    for i in range(4):
        q.put("t", b"L%d" % i + b"x" * 40, 1, False, None, 0, i, True, True)  # 172 B live
    refused = []
    for i in range(5):
        try:
            q.put("t", b"q%d" % i, 0, False, None, 0, 20 + i if i % 2 else -1)
        except MQTTError:
            refused.append(i)
    out = []
    while q.n:
        out.append(bytes(q.payload[q.head][:2]).decode())
        q.pop()
    emit(check="live_" + ("drop" if policy == DROP_OLDEST else "refuse"), order=out,
         dropped_waiters=dropped, refused=refused, drops=q.drops, n=q.n, bytes=q.bytes,
         live=[q.live_n, q.live_bytes])

# live entries whose Message Expiry Interval ran out while the link's send quota was
# used up: their slots freed (age()) and taken again by new live publishes filled the
# ring, and the next one overwrote the oldest entry (n past the ring's size, a None
# topic popped later)
for policy in (DROP_OLDEST, REFUSE):
    dropped = []
    q = OfflineQueue(2, 100, policy, 2)  # a ring of 4: 2 for the limits, 2 slots
    q.on_drop = lambda w, expired: dropped.append((w, expired))
    for k in range(4):
        try:
            q.put("t%d" % k, b"x", 1, False, {2: 1}, 0, k % 2 + 1, True, True)
        except MQTTError:
            pass
        q.age(1500 * (k + 1))  # each expires: its slot comes back for the next
    try:
        q.put("new", b"y", 1, False, None, 9000, 1, True, True)
        new = "queued"
    except MQTTError as e:
        new = str(e)
    topics = []
    while q.n:
        topics.append(q.topic[q.head])
        q.pop()
    emit(check="live_expired_" + ("drop" if policy == DROP_OLDEST else "refuse"),
         size=q.size, topics=topics, new=new, bytes=q.bytes, live=[q.live_n, q.live_bytes],
         expired=q.expired, drops=q.drops, told=dropped)


# ---- the loop, over a scripted client ----
class FakeSession:
    server_reference = None
    session_present = False
    username = password = None


class FakeRouter:
    def add(self, f, h, sid):
        pass

    def remove(self, f):
        pass


class FakeClient:
    def __init__(self, steps):
        self.steps = steps
        self.calls = []
        self.subs = []
        self.session = FakeSession()
        self._wmax = 4  # waiter slots (sizes the offline queue's spare room)
        self._router = FakeRouter()  # (mqtt5.router.routes() returns it)
        self.is_connected = False
        self.msgs_in = self.msgs_out = self.bytes_in = self.bytes_out = 0
        self._end = None
        self._q = None  # the offline queue while supervised (as mqtt5.client)

    async def connect(self, url, clean_start=None):
        self.calls.append([url, clean_start, self.sup._attempt])
        step = self.steps.pop(0)
        self.session.server_reference = step.get("ref")
        if "fail" in step:
            raise step["fail"]
        self.is_connected = True
        self._end = step
        return step["present"]

    async def subscribe(self, filt, **kw):
        self.subs.append(filt)

    async def _ended_within(self, ms):  # (the links here last less than ms)
        if "raise" in self._end:  # (what reaches the Supervisor's loop itself)
            raise self._end["raise"]
        await asyncio.sleep_ms(self._end["hold"]) if hasattr(asyncio, "sleep_ms") else \
            await asyncio.sleep(self._end["hold"] / 1000)
        self.is_connected = False
        self.session.server_reference = None
        self.error = self._end["err"]
        return True

    def _close(self, e):
        self.is_connected = False



class Half:
    def random(self):
        return 0.5


async def loop():
    fc = FakeClient([
        {"fail": OSError(111)},
        {"fail": rc_error("CONNACK", 0x88)},
        {"fail": rc_error("CONNACK", 0x9C), "ref": "c:3"},
        {"present": False, "hold": 10, "err": rc_error("DISCONNECT", 0x89)},
        {"present": True, "hold": 120, "err": MQTTError("connection lost: OSError(104)")},
        {"fail": rc_error("CONNACK", 0x86)},
    ])
    states, waits = [], []

    def on_state(s, st, r):
        states.append(st)
        if st == DOWN:  # the wait before the next try, known as DOWN is heard
            waits.append(s.retry_ms)

    sup = Supervisor(fc, ["mqtt://a:1", "mqtt://b:2"], base_ms=8, cap_ms=64, stable_ms=50,
                     rand=Half(), on_state=on_state)
    fc.sup = sup
    await sup.subscribe("x/#", qos=1)
    await asyncio.wait_for(sup.start(), 5)
    emit(check="loop", calls=fc.calls, subs=fc.subs, state=sup.state == STOPPED,
         reason=str(sup.reason), stats=sup.stats.as_dict(), states=states, waits=waits)


async def redirects():
    # 0x9C ping-pong between a and b: followed 3 times in a row, then a backoff;
    # 0x9D (moved) from a list URL replaces it for good.
    fc = FakeClient([
        {"fail": rc_error("CONNACK", 0x9C), "ref": "b:2"},
        {"fail": rc_error("CONNACK", 0x9C), "ref": "a:1"},
        {"fail": rc_error("CONNACK", 0x9C), "ref": "b:2"},
        {"fail": rc_error("CONNACK", 0x9C), "ref": "a:1"},
        {"fail": rc_error("CONNACK", 0x9D), "ref": "m:9"},
        {"present": True, "hold": 5, "err": MQTTError("connection lost: OSError(104)")},
        {"fail": rc_error("CONNACK", 0x87)},
    ])
    sup = Supervisor(fc, "mqtt://a:1", base_ms=8, cap_ms=64, rand=Half())
    fc.sup = sup
    await asyncio.wait_for(sup.start(), 5)
    emit(check="redirects", calls=fc.calls, urls=sup.urls, reason=str(sup.reason))


async def refused_refs():
    # references not followed: mqtts:// -> mqtt:// (would drop TLS), one that does
    # not parse; each refusal backs off like a transient one.  A mixed list is refused.
    fc = FakeClient([
        {"fail": rc_error("CONNACK", 0x9C), "ref": "mqtt://evil:1883"},
        {"fail": rc_error("CONNACK", 0x9D), "ref": "host:99999"},
        {"fail": rc_error("CONNACK", 0x9C), "ref": "mqtts://ok:8883"},
        {"fail": rc_error("CONNACK", 0x87)},
    ])
    sup = Supervisor(fc, "mqtts://s:1", base_ms=8, cap_ms=64, rand=Half())
    fc.sup = sup
    await asyncio.wait_for(sup.start(), 5)
    try:
        Supervisor(fc, ["mqtts://a", "mqtt://b"])
        mixed = None
    except ValueError as e:
        mixed = str(e)
    emit(check="refused_refs", calls=fc.calls, urls=sup.urls, mixed=mixed,
         failures=sup.stats.as_dict()["failures"])
    # plain TCP with credentials: a reference to the same host is followed, one to
    # another host is not (the server would choose where the password goes in clear)
    fc = FakeClient([
        {"fail": rc_error("CONNACK", 0x9C), "ref": "mqtt://127.0.0.1:2"},
        {"fail": rc_error("CONNACK", 0x9C), "ref": "mqtt://192.0.2.2:1883"},
        {"fail": rc_error("CONNACK", 0x87)},
    ])
    fc.session.password = b"pw"
    sup = Supervisor(fc, "mqtt://127.0.0.1:1", base_ms=8, cap_ms=64, rand=Half())
    fc.sup = sup
    await asyncio.wait_for(sup.start(), 5)
    emit(check="plain_refs", calls=[c[0] for c in fc.calls])
    try:
        Supervisor(fc, "mqtt://node:s3cret@127.0.0.1:1883")
        userinfo = None
    except ValueError as e:
        userinfo = str(e)
    emit(check="userinfo", error=userinfo)
    # max_inflight 1: connect()'s slot and the one kept for restoring subscriptions left
    # none to publish with, and every QoS 1/2 publish waited for good; said at once now
    from mqtt5 import Client
    try:
        Supervisor(Client("one", max_inflight=1), "mqtt://127.0.0.1:1")
        one = None
    except ValueError as e:
        one = str(e)
    two = Supervisor(Client("two", max_inflight=2), "mqtt://127.0.0.1:1").state
    emit(check="max_inflight", one=one, two=two)


async def heap():
    # a MemoryError that reaches run() itself, on an UP link: said as a link's end by
    # a full heap ("connection lost: heap full: ...", what the node's last_disconnect
    # and its keeper read) and counted as one, "heap"; then a retry after a second
    fc = FakeClient([
        {"present": True, "raise": MemoryError("memory allocation failed, allocating 64 bytes")},
        {"fail": rc_error("CONNACK", 0x87)},
    ])
    downs = []

    def on_state(s, st, r):
        if st == DOWN:
            downs.append(str(r))

    sup = Supervisor(fc, "mqtt://a:1", base_ms=8, cap_ms=64, rand=Half(), on_state=on_state)
    fc.sup = sup
    await asyncio.wait_for(sup.start(), 5)
    st = sup.stats.as_dict()
    emit(check="heap", downs=downs, links_lost=st["links_lost"], connects=len(fc.calls))


async def gone():
    # unsubscribed again and again while down: one UNSUBSCRIBE kept for the reconnect
    fc = FakeClient([])
    sup = Supervisor(fc, "mqtt://a:1")
    for _ in range(3):
        await sup.unsubscribe("x/#")
        await sup.unsubscribe(["y/1", "y/2"])
    emit(check="gone", gone=sup._gone)


async def birth_shared_payload():
    # a message queued while down whose payload is the birth's own object (on CPython
    # str(1).encode() is b"1" too): the birth, looked for by its payload alone, was
    # taken as queued, and never sent
    online = b"1"
    fc = FakeClient([{"present": False, "hold": 10, "err": MQTTError("connection lost: x")},
                     {"fail": rc_error("CONNACK", 0x86)}])  # (fatal: the loop ends)
    sup = Supervisor(fc, "mqtt://a:1", base_ms=8, cap_ms=16,
                     birth=("dev/status", online, 1, True))
    fc.sup = sup
    sup.queue.put("dev/reading", online, 0, False, None, 0)
    await asyncio.wait_for(sup.start(), 5)
    q = sup.queue
    emit(check="birth_shared_payload", topics=[q.topic[(q.head + k) % q.size]
                                               for k in range(q.n)])


async def both():
    await birth_shared_payload()
    await gone()
    await loop()
    await heap()
    await redirects()
    await refused_refs()


main(both())
