# Subscriptions on a plain broker (test_subscription_faults.py): a MemoryError of a
# handler or its task, Subscription Identifiers the caller gave, a filter re-subscribed
# out of a list, arguments of the wrong type, and subscribes that fail with the link up
# (over tx_size).  argv: port tag
import asyncio

from client_util import args, emit, failing, main
from mqtt5 import Client, Supervisor

PORT, TAG = args()
URL = "mqtt://127.0.0.1:%d" % PORT
B = "subf/" + TAG


def error(e):
    return "%s: %s" % (type(e).__name__, e)


async def own_memoryerror(qos):
    # a handler that raises MemoryError at every call for one message (a payload too
    # big for it to parse): unacknowledged once, then (sent again, DUP set) reported
    # and acknowledged.  It was taken as the client's own want of heap at every call
    # (never acknowledged: it came again at every reconnect and held up those after
    # it), then as a handler error only when the handler was a plain function (an
    # async def closure's or bound method's generator that could not be made was
    # acknowledged, the message lost)
    c = Client("sfo%d-%s" % (qos, TAG), session_expiry=60)
    sup = Supervisor(c, URL, base_ms=50, cap_ms=200)
    sup.start()
    await sup.wait_up(5000)
    seen, dup = [], []

    def h(m):
        seen.append(bytes(m.payload).decode())
        if bytes(m.payload) == b"huge":
            dup.append(m.dup)
            raise MemoryError("memory allocation failed, allocating 10485760 bytes")

    await sup.subscribe(B + "/own%d" % qos, qos=qos, handler=h)
    p = Client("sfop%d-%s" % (qos, TAG))
    await p.connect(URL)
    await p.publish(B + "/own%d" % qos, "huge", qos=qos)
    await p.publish(B + "/own%d" % qos, "after", qos=qos)
    for _ in range(100):
        if "after" in seen:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)  # (a resend would come meanwhile)
    emit(step="own_memoryerror", qos=qos, seen=seen, dup=dup,
         links_lost=sup.stats.as_dict()["links_lost"])
    await p.disconnect()
    await sup.stop()


async def task_memoryerror(qos, times):
    # the task of a handler's awaitable cannot be made `times` times: that QoS 1 or 2
    # message is not acknowledged and comes again (at QoS 2 its id is no longer held as
    # received, or the resend would count as a repeat); a task that cannot be made for
    # the resend either is reported and the message acknowledged (it came again at
    # every reconnect)
    import mqtt5.message  # noqa: F401 (loaded: it imports asyncio on use)

    arm = [0]
    real = asyncio.create_task
    asyncio.create_task = failing(real, arm, lambda *a: "_guard" in repr(a[0]))
    c = Client("sft%d%d-%s" % (qos, times, TAG), session_expiry=60)
    sup = Supervisor(c, URL, base_ms=50, cap_ms=200)
    sup.start()
    await sup.wait_up(5000)
    seen = []

    async def later():
        pass

    def h(m):
        seen.append(bytes(m.payload).decode())
        return later()

    await sup.subscribe(B + "/task%d%d" % (qos, times), qos=qos, handler=h)
    p = Client("sftp%d%d-%s" % (qos, times, TAG))
    await p.connect(URL)
    arm[0] = times
    await p.publish(B + "/task%d%d" % (qos, times), "one", qos=qos)
    for _ in range(100):
        if len(seen) > 1:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)  # (another resend would come meanwhile)
    await sup.wait_up(5000)
    await p.publish(B + "/task%d%d" % (qos, times), "two", qos=qos)
    await asyncio.sleep(0.3)
    asyncio.create_task = real
    emit(step="task_memoryerror", qos=qos, times=times, seen=seen,
         links_lost=sup.stats.as_dict()["links_lost"])
    await p.disconnect()
    await sup.stop()


async def given_identifiers():
    # a Subscription Identifier the caller gave to a subscribe without a handler:
    # new_sid() gave the same one to the next handler, whose messages then came to it
    # too (the identifier alone chose the route)
    log = []
    c = Client("sfg-" + TAG)
    await c.connect(URL)
    c.on_message = lambda m: log.append(["on_message", m.topic[len(B) + 1:]])
    await c.subscribe(B + "/g/events", 1, subscription_identifier=1)
    await c.subscribe(B + "/g/cmd", 1, handler=lambda m: log.append(["cmd", m.topic[len(B) + 1:]]))
    first = c._router.sid(B + "/g/cmd")
    await c.publish(B + "/g/events", b"e", qos=1)
    await c.publish(B + "/g/cmd", b"c", qos=1)
    await asyncio.sleep(0.3)
    before = sorted(log)
    # the other order: a route's identifier, then given to a subscribe without handler
    del log[:]
    await c.subscribe(B + "/g2/cmd", 1, handler=lambda m: log.append(["cmd2", m.topic[len(B) + 1:]]))
    await c.subscribe(B + "/g2/events", 1,
                      subscription_identifier=c._router.sid(B + "/g2/cmd"))
    await c.publish(B + "/g2/events", b"e", qos=1)
    await c.publish(B + "/g2/cmd", b"c", qos=1)
    await asyncio.sleep(0.3)
    after = sorted(log)
    # then another route given that identifier comes and goes: its going cleared the
    # mark that makes g2/cmd's route match by topic too, and g2/events reached cmd2
    del log[:]
    await c.subscribe(B + "/g2/more", 1, handler=lambda m: log.append(["more", m.topic[len(B) + 1:]]),
                      subscription_identifier=c._router.sid(B + "/g2/cmd"))
    await c.unsubscribe(B + "/g2/more")
    await c.publish(B + "/g2/events", b"e", qos=1)
    await c.publish(B + "/g2/cmd", b"c", qos=1)
    await asyncio.sleep(0.3)
    emit(step="given_identifiers", first=first, before=before, after=after,
         gone=sorted(log))
    await c.disconnect()


async def resubscribed_out_of_a_list():
    # [x/#, x/y] with one handler, then x/y alone with another: x/y reused the list's
    # identifier and both handlers ran twice for a message on x/y
    log = []
    c = Client("sfr-" + TAG)
    await c.connect(URL)
    await c.subscribe([B + "/r/#", B + "/r/x"], 1, handler=lambda m: log.append("list"))
    await c.subscribe(B + "/r/x", 1, handler=lambda m: log.append("alone"))
    await c.publish(B + "/r/x", b"1", qos=1)
    await asyncio.sleep(0.4)
    emit(step="resubscribed", log=sorted(log))
    await c.disconnect()


async def bad_arguments():
    c = Client("sfb-" + TAG)
    await c.connect(URL)
    out = []
    for call in (lambda: c.subscribe(B + "/b", handler=1),
                 lambda: c.subscribe(B + "/b", handler="on_b"),
                 lambda: c.subscribe(None),
                 lambda: c.subscribe([]),
                 lambda: c.unsubscribe(b"x"),
                 lambda: c.unsubscribe(7)):
        try:
            await call()
            out.append("accepted")
        except Exception as e:
            out.append(error(e))
    routes = c._router.filters() if c._router is not None else []
    sup = Supervisor(Client("sfbs-" + TAG), URL)  # (down: only remembered, if accepted)
    sup_out = []
    for call in (lambda: sup.subscribe(B + "/b", qos=1, handler=2),
                 lambda: sup.unsubscribe(b"x")):
        try:
            await call()
            sup_out.append("accepted")
        except Exception as e:
            sup_out.append(error(e))
    emit(step="bad_arguments", out=out, routes=routes, sup=sup_out,
         remembered=len(sup._subs), connected=c.is_connected)
    await c.disconnect()


async def too_big_while_up():
    # a SUBSCRIBE over tx_size raised to the caller, and the filter stayed remembered
    # (sent again, and failing, at every reconnect without a session)
    c = Client("sfz-" + TAG)
    sup = Supervisor(c, URL, base_ms=50, cap_ms=100)
    sup.start()
    await sup.wait_up(5000)
    try:
        await sup.subscribe(B + "/" + "z" * 2100, qos=1, handler=lambda m: None)
        out = "accepted"
    except Exception as e:
        out = error(e)
    emit(step="too_big", out=out, remembered=len(sup._subs), up=c.is_connected,
         routes=len(c._router.filters()))
    await sup.stop()


async def resubscribe_fails():
    # a filter subscribed (and granted) through the Supervisor, then again in a list
    # whose SUBSCRIBE fails with the link up (over tx_size): the earlier subscription,
    # still on the server and routed, was forgotten, and after the next link without a
    # session its handler got nothing
    c = Client("sfs-" + TAG)  # (session_expiry 0: each reconnect restores from memory)
    sup = Supervisor(c, URL, base_ms=50, cap_ms=100)
    sup.start()
    await sup.wait_up(5000)
    got = []
    a = B + "/s/a"
    await sup.subscribe(a, qos=1, handler=lambda m: got.append("a"))
    try:
        await sup.subscribe([a, B + "/s/" + "z" * 2100], qos=1,
                            handler=lambda m: got.append("list"))
        out = "accepted"
    except Exception as e:
        out = error(e)
    c.abort()  # a new link, no session: the Supervisor restores what it remembers
    await asyncio.sleep(0.3)
    await sup.wait_up(5000)
    await asyncio.sleep(0.2)
    await c.publish(a, b"x", qos=1)
    await asyncio.sleep(0.3)
    emit(step="resubscribe_fails", out=out, got=got, remembered=[s[0] for s in sup._subs],
         present=sup.session_present)
    await sup.stop()


async def twice_in_a_list():
    # a list naming a routed filter twice, whose SUBSCRIBE fails (over tx_size): the
    # routes were put back in list order, the last the failed call's own handler
    c = Client("sfd-" + TAG)
    await c.connect(URL)
    got = []
    f = B + "/d/" + "z" * 1100
    await c.subscribe(f, 1, handler=lambda m: got.append("old"))
    try:
        await c.subscribe([f, f], 1, handler=lambda m: got.append("new"))
        out = "accepted"
    except Exception as e:
        out = error(e)
    await c.publish(f, b"x", qos=1)
    await asyncio.sleep(0.3)
    emit(step="twice_in_a_list", out=out, got=got)
    await c.disconnect()


async def run():
    for step in (lambda: own_memoryerror(1), lambda: own_memoryerror(2),
                 lambda: task_memoryerror(1, 1), lambda: task_memoryerror(2, 1),
                 lambda: task_memoryerror(1, 2), lambda: task_memoryerror(2, 2),
                 given_identifiers, resubscribed_out_of_a_list, bad_arguments,
                 too_big_while_up, resubscribe_fails, twice_in_a_list):
        try:  # (one that fails leaves the others their say)
            await step()
        except Exception as e:
            emit(step="failed", error=error(e))


main(run())
