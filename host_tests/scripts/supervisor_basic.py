# Supervisor basics against a plain broker (argv: port tag): up, a birth first, subscribe
# through the supervisor, publish QoS 0/1/2 to ourselves, queue while down
# (before start), stats, clean stop.
import asyncio

from client_util import Inbox, args, emit, main
from mqtt5 import Client, MQTTError, Supervisor
from mqtt5.offline import REFUSE

PORT, TAG = args()
BASE = "sb/" + TAG


async def run():
    c = Client("sb-" + TAG, keepalive=5, session_expiry=60)
    states = []
    sup = Supervisor(c, "mqtt://127.0.0.1:%d" % PORT, base_ms=100,
                     on_state=lambda s, st, r: states.append(st),
                     birth=(BASE + "/birth", b"up", 1, False))
    inbox = Inbox()
    await sup.subscribe(BASE + "/#", qos=2, handler=inbox)   # remembered while down
    early = asyncio.create_task(c.publish(BASE + "/early", b"e", qos=1))  # queued
    await c.publish(BASE + "/early0", b"z")                  # QoS 0: copied, returns
    sup.start()
    await sup.wait_up(5000)
    rc_early = await early
    rcs = []
    for q in (0, 1, 2):
        rcs.append(await c.publish(BASE + "/q%d" % q, b"p%d" % q, qos=q))
    items = await inbox.wait(6)
    emit(step="basic", rc_early=rc_early, rcs=rcs, first=items[0]["topic"],
         topics=sorted(m["topic"] for m in items), states=states,
         stats=sup.stats.as_dict())
    await sup.stop()
    emit(step="stopped", state=sup.state, connected=c.is_connected)
    await more_callers_than_slots()
    await queue_limits()
    await bursts_on_a_live_link()


async def more_callers_than_slots():
    # 4 slots, 10 QoS 1 callers waiting before the first connect: the restore's
    # SUBSCRIBE still gets a waiter slot, then every publish completes in order.
    c = Client("sm-" + TAG, max_inflight=4, session_expiry=60)
    sup = Supervisor(c, "mqtt://127.0.0.1:%d" % PORT, base_ms=50)
    inbox = Inbox()
    await sup.subscribe(BASE + "/m", qos=1, handler=inbox)
    ts = [asyncio.create_task(c.publish(BASE + "/m", b"%d" % i, qos=1)) for i in range(10)]
    await asyncio.sleep(0.05)
    sup.start()
    rcs = []
    for t in ts:
        rcs.append(await asyncio.wait_for(t, 5))
    items = await inbox.wait(10)
    emit(step="slots", rcs=rcs, order=[m["payload"] for m in items])
    await sup.stop()


async def outcome(task, rcs=None):
    try:
        return await task
    except MQTTError as e:
        if rcs is not None:
            rcs.append(getattr(e, "reason_code", None))
        return str(e)


async def queue_limits():
    # Never started: everything stays in the offline queue.
    c = Client("sq-" + TAG)
    sup = Supervisor(c, "mqtt://127.0.0.1:%d" % PORT, queue_count=2)
    ts = [asyncio.create_task(c.publish(BASE + "/d", b"%d" % i, qos=1)) for i in range(3)]
    await asyncio.sleep(0.05)
    rcs = []                               # the reason codes of a drop and a refusal
    first = await outcome(ts[0], rcs)      # the oldest, dropped for the third
    await sup.stop()                       # the others are told
    rest = []
    for t in ts[1:]:
        rest.append(await outcome(t))
    emit(step="drop_oldest", first=first, rest=rest, drops=sup.stats.as_dict()["queue_drops"])
    c = Client("sr-" + TAG)
    sup = Supervisor(c, "mqtt://127.0.0.1:%d" % PORT, queue_count=1, queue_policy=REFUSE)
    await c.publish(BASE + "/r", b"kept")  # QoS 0: copied, returns at once
    refused = await outcome(asyncio.create_task(c.publish(BASE + "/r", b"no", qos=1)), rcs)
    # expiry: a 1 s message queued for 1.2 s is dropped, its caller told
    c = Client("se-" + TAG)
    sup2 = Supervisor(c, "mqtt://127.0.0.1:%d" % PORT, base_ms=50)
    t = asyncio.create_task(c.publish(BASE + "/e", b"old", qos=1, message_expiry_interval=1))
    await asyncio.sleep(1.2)
    sup2.start()
    expired = await outcome(t)
    st = sup2.stats.as_dict()
    await sup2.stop()
    await sup.stop()
    # a caller that waited for a waiter slot: its expiry runs from the call, not
    # from when a slot freed (max_inflight=2: one slot for publishes, one kept)
    c = Client("sw-" + TAG, max_inflight=2)
    sup3 = Supervisor(c, "mqtt://127.0.0.1:%d" % PORT, base_ms=50)
    first = asyncio.create_task(c.publish(BASE + "/w", b"first", qos=1))
    waiter = asyncio.create_task(c.publish(BASE + "/w", b"late", qos=1,
                                           message_expiry_interval=1))
    await asyncio.sleep(1.2)
    sup3.start()
    slot_waiter = [await outcome(first), await outcome(waiter)]
    await sup3.stop()
    emit(step="refuse_expire", refused=refused, expired=expired, rcs=rcs,
         queue_expired=st["queue_expired"], slot_waiter=slot_waiter)


async def bursts_on_a_live_link():
    # The link up and well: a burst of QoS 1 callers waits for transmit room or send
    # quota in the offline queue, whose limits are an outage's. 15 x 1000 B (more than
    # queue_bytes=8192) lost 7 of them, and 40 callers with queue_count=8 lost 32.
    # And QoS 0 publishes made meanwhile queue behind the burst: the limits take them
    # (queue_count=4), never a QoS 1 caller (which DROP_OLDEST had taken first).
    out = []
    for n, size, kw in ((15, 1000, {}), (40, 100, {"queue_count": 8}),
                        (15, 1000, {"queue_count": 4})):
        c = Client("sbb-%d-%d-%s" % (n, len(out), TAG))
        sup = Supervisor(c, "mqtt://127.0.0.1:%d" % PORT, base_ms=50, **kw)
        sup.start()
        await sup.wait_up(5000)
        aws = [c.publish(BASE + "/burst", bytes(size), qos=1) for _ in range(n)]
        if kw.get("queue_count") == 4:
            for _ in range(10):
                await c.publish(BASE + "/burst0", bytes(100))
        rcs = await asyncio.gather(*aws, return_exceptions=True)
        out.append([sorted(set(repr(r) for r in rcs)), sup.stats.as_dict()["queue_drops"]])
        await sup.stop()
    emit(step="bursts", out=out)


main(run())
