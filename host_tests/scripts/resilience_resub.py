# Session lost (argv: port tag): subscribed through the supervisor to
# rr/<tag>/#; the test publishes rr/<tag>/in "one", restarts the broker WITHOUT
# persistence, then publishes "two".  While the broker is down the script
# publishes rr/<tag>/out "queued" (QoS 1, offline queue); it must go out after
# the subscription is restored, so the script receives it itself.
import asyncio

from client_util import args, emit, main, text
from resilience_util import ms, supervised
from mqtt5.supervisor import DOWN

PORT, TAG = args()
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
        if st == DOWN and not queued:  # the link is gone: publish into the queue
            queued.append(asyncio.create_task(c.publish(BASE + "/out", b"queued", qos=1)))

    sup.on_state = on_state
    await sup.subscribe(BASE + "/#", qos=1, handler=on_msg)
    sup.start()
    while not ("two" in got and "queued" in got):
        ev.clear()
        await asyncio.wait_for(ev.wait(), 30)
    rc = await queued[0]
    emit(step="done", got=got, queued_rc=rc, stats=sup.stats.as_dict())
    await sup.stop()


main(run())
