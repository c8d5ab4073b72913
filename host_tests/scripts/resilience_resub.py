# Session lost (argv: port tag): subscribed through the supervisor to
# rr/<tag>/#; the test publishes rr/<tag>/in "one", restarts the broker WITHOUT
# persistence, then publishes "two".  While the broker is down the script
# publishes rr/<tag>/out "queued" (QoS 1, offline queue); it must go out after
# the subscription is restored, so the script receives it itself.
# With a third argument "inflight": 1 s after the first connect it also publishes
# rr/<tag>/out "inflight" (QoS 1) -- the test has blackholed the link by then, so
# it is in flight when the session is lost and must go out again as a new message.
import asyncio
import sys

from client_util import args, emit, main, text
from resilience_util import ms, supervised
from mqtt5.supervisor import DOWN

PORT, TAG = args()
INFLIGHT = len(sys.argv) > 3 and sys.argv[3] == "inflight"
BASE = "rr/" + TAG
got = []
ev = asyncio.Event()


def on_msg(m):
    got.append(text(m.payload))
    emit(got=text(m.payload), topic=m.topic, ms=ms())
    ev.set()


async def run():
    c, sup = supervised(PORT, "rr-" + TAG, keepalive=5)
    queued = []
    prev = sup.on_state

    def on_state(s, st, reason):
        prev(s, st, reason)
        if st == DOWN and len(queued) == INFLIGHT:  # link gone: publish into the queue
            queued.append(asyncio.create_task(c.publish(BASE + "/out", b"queued", qos=1)))

    sup.on_state = on_state
    await sup.subscribe(BASE + "/#", qos=1, handler=on_msg)
    sup.start()
    if INFLIGHT:
        await sup.wait_up(10000)
        await asyncio.sleep(1)
        queued.append(asyncio.create_task(c.publish(BASE + "/out", b"inflight", qos=1)))
    while not ("two" in got and "queued" in got and (not INFLIGHT or "inflight" in got)):
        ev.clear()
        await asyncio.wait_for(ev.wait(), 30)
    rcs = []
    for t in queued:
        rcs.append(await t)
    emit(step="done", got=got, rcs=rcs, stats=sup.stats.as_dict())
    await sup.stop()


main(run())
