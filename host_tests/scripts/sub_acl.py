# Subscriptions on a broker with an ACL (test_subscription_faults.py: Mosquitto's dynamic
# security plugin; user node may subscribe under ok/# only, and may not unsubscribe
# ok/keep/#): the Supervisor's remembered subscriptions when filters of a list are
# unsubscribed or refused, and unsubscribes the broker refuses (also one made while
# down and sent at the reconnect).  argv: port tag
import asyncio

from client_util import args, emit, main
from mqtt5 import Client, MQTTError, Supervisor

PORT, TAG = args()
URL = "mqtt://127.0.0.1:%d" % PORT
OK = "ok/" + TAG
NO = "deny/" + TAG
KEEP = "ok/keep/" + TAG  # (short(): "1" for KEEP + "/1")


def client(name, **kw):
    return Client(name + "-" + TAG, username="node", password="pw", **kw)


def error(e):
    return "%s: %s" % (type(e).__name__, e)


def short(f):
    return f.split("/", 2)[2]


def remembered(sup):
    # [filter, acknowledged] of each filter the Supervisor remembers (one entry may
    # have held a list of them)
    return [[short(f), s[2]] for s in sup._subs for f in ([s[0]] if isinstance(s[0], str)
                                                          else s[0])]


async def relink(sup):
    # a new link without a session (session_expiry 0): remembered subscriptions restored
    sup.client.abort()
    await asyncio.sleep(0.3)
    await sup.wait_up(5000)
    await asyncio.sleep(0.2)


async def forget_per_filter():
    # one filter of a list subscribed together unsubscribed alone, and a list holding
    # a filter subscribed alone: both were still remembered, and came back after a
    # reconnect without a session
    p = client("sfpp")
    await p.connect(URL)
    c = client("sfpc")
    sup = Supervisor(c, URL, base_ms=50, cap_ms=100)
    sup.start()
    await sup.wait_up(5000)
    log = []

    def rec(name):
        return lambda m: log.append([name, short(m.topic)])

    await sup.subscribe(OK + "/a", qos=1, handler=rec("A"))
    await sup.subscribe([OK + "/l1", OK + "/l2", OK + "/l3"], qos=1, handler=rec("L"))
    await sup.subscribe(OK + "/s", qos=1, handler=rec("S"))
    await sup.unsubscribe(OK + "/l1")
    await sup.unsubscribe([OK + "/s", OK + "/l2"])

    async def probe():
        del log[:]
        for t in ("a", "l1", "l2", "l3", "s"):
            await p.publish(OK + "/" + t, t, qos=1)
        await asyncio.sleep(0.4)
        return sorted(log)

    before = await probe()
    await relink(sup)
    after = await probe()
    emit(step="forget_per_filter", before=before, after=after,
         present=sup.session_present, remembered=[f for f, _ in remembered(sup)],
         routes=sorted(short(f) for f in c._router.filters()))
    await sup.stop()
    await p.disconnect()


async def refused_in_a_list():
    # a list with a filter the broker refuses: restored after a reconnect, the refusal
    # was taken as acknowledged and never said; subscribed while up, it was remembered
    states = []
    c = client("sfl")
    sup = Supervisor(c, URL, base_ms=50, cap_ms=100,
                     on_state=lambda s, st, why: states.append([st, why and str(why)]))
    h = lambda m: None  # noqa: E731
    await sup.subscribe([OK + "/d1", NO + "/d2"], qos=1, handler=h)  # down: remembered
    sup.start()
    await sup.wait_up(5000)
    down = dict(reason=sup.reason and str(sup.reason),
                remembered=remembered(sup))
    up = await sup.subscribe([OK + "/u1", NO + "/u2"], qos=1, handler=h)
    try:
        await sup.subscribe(NO + "/u3", qos=1, handler=h)
        alone = "accepted"
    except MQTTError as e:
        alone = error(e)
    kept = remembered(sup)
    del states[:]
    await relink(sup)
    emit(step="refused_in_a_list", down=down, up=up, alone=alone, remembered=kept,
         states=states, routes=sorted(short(f) for f in c._router.filters()))
    await sup.stop()


async def unsubscribe_refused():
    # the broker refuses to unsubscribe ok/keep/#: the handler was removed anyway,
    # and the subscription's messages went to on_message
    c = client("sfu")
    await c.connect(URL)
    log = []
    c.on_message = lambda m: log.append(["on_message", short(m.topic)])
    h = lambda m: log.append(["handler", short(m.topic)])  # noqa: E731
    await c.subscribe([KEEP + "/1", KEEP + "/2", OK + "/go"], 1, handler=h)
    try:
        alone = await c.unsubscribe(KEEP + "/1")
    except MQTTError as e:
        alone = [error(e), e.reason_code]
    listed = await c.unsubscribe([KEEP + "/2", OK + "/go"])
    for t in (KEEP + "/1", KEEP + "/2", OK + "/go"):
        await c.publish(t, b"x", qos=1)
    await asyncio.sleep(0.3)
    emit(step="unsubscribe_refused", alone=alone, listed=listed, log=sorted(log),
         routes=sorted(short(f) for f in c._router.filters()))
    await c.disconnect()
    # supervised: a refused one stays remembered (and routed); the list's others go
    c = client("sfus")
    sup = Supervisor(c, URL, base_ms=50, cap_ms=100)
    sup.start()
    await sup.wait_up(5000)
    await sup.subscribe([KEEP + "/3", KEEP + "/4", OK + "/go2"], qos=1, handler=h)
    try:
        alone = await sup.unsubscribe(KEEP + "/3")
    except MQTTError as e:
        alone = error(e)
    listed = await sup.unsubscribe([KEEP + "/4", OK + "/go2"])
    emit(step="unsubscribe_refused_sup", alone=alone, listed=listed,
         remembered=[f for f, _ in remembered(sup)],
         routes=sorted(short(f) for f in c._router.filters()))
    await sup.stop()


async def unsubscribe_refused_at_reconnect():
    # unsubscribed while down, and refused by the broker when sent at the reconnect
    # (the session kept): the refusal was taken for a failed connect, 0x87 is fatal,
    # and the Supervisor stopped for good
    c = client("sfr", session_expiry=60)
    states = []
    sup = Supervisor(c, URL, base_ms=50, cap_ms=100,
                     on_state=lambda s, st, why: states.append([st, why and str(why)]))
    sup.start()
    await sup.wait_up(5000)
    await sup.subscribe(KEEP + "/5", qos=1, handler=lambda m: None)
    c.abort()
    await sup.unsubscribe(KEEP + "/5")  # down: sent at the reconnect
    try:
        await sup.wait_up(5000)
    except Exception:
        pass
    await asyncio.sleep(0.2)
    up = [sup.state, sup.reason and str(sup.reason), sup.session_present]
    await relink(sup)  # said once: not sent again
    emit(step="unsubscribe_refused_at_reconnect", up=up, gone=sup._gone,
         state=sup.state, reason=sup.reason and str(sup.reason),
         failures=sup.stats.failures, connects=sup.stats.connects)
    await sup.stop()


async def list_unsubscribe_refused_at_reconnect():
    # a list unsubscribed while down, one filter of it refused at the reconnect: its
    # code was returned to nobody, and nothing said the broker still sent its messages
    c = client("sfl", session_expiry=60)
    sup = Supervisor(c, URL, base_ms=50, cap_ms=100)
    sup.start()
    await sup.wait_up(5000)
    await sup.subscribe([KEEP + "/6", OK + "/6"], qos=1, handler=lambda m: None)
    c.abort()
    await sup.unsubscribe([KEEP + "/6", OK + "/6"])  # down: sent at the reconnect
    try:
        await sup.wait_up(5000)
    except Exception:
        pass
    await asyncio.sleep(0.2)
    emit(step="list_unsubscribe_refused_at_reconnect", state=sup.state,
         reason=sup.reason and str(sup.reason), present=sup.session_present,
         gone=sup._gone, routes=sorted(short(f) for f in c._router.filters()))
    await sup.stop()


async def run():
    for step in (forget_per_filter, refused_in_a_list, unsubscribe_refused,
                 unsubscribe_refused_at_reconnect, list_unsubscribe_refused_at_reconnect):
        try:  # (one that fails leaves the others their say)
            await step()
        except Exception as e:
            emit(step="failed", error=error(e))


main(run())
