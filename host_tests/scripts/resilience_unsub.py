# Unsubscribed while the link is down (argv: port tag): the supervisor sends the
# UNSUBSCRIBE on the next connect when the server kept the session (it only forgot
# the filter: a resumed session kept delivering to on_message). The test cuts and
# refuses the link once "subscribed" is out, lets it back once "unsubscribed" is,
# then publishes rs/<tag>/x and, after it, rsctl/<tag>: once that arrives, x would
# have (one publisher's messages come in order), so "done" says what came.
import asyncio

from client_util import args, emit, main, text
from resilience_util import supervised
from mqtt5.supervisor import DOWN

PORT, TAG = args()
BASE = "rs/" + TAG
got = []
ctl = []


def on_msg(m):
    got.append([m.topic, text(m.payload)])


async def run():
    c, sup = supervised(PORT, "rs-" + TAG, client_kw={"on_message": on_msg})
    sup.start()
    await sup.wait_up(10000)
    await sup.subscribe(BASE + "/#", qos=1, handler=on_msg)
    await sup.subscribe("rsctl/" + TAG, qos=1, handler=lambda m: ctl.append(text(m.payload)))
    emit(step="subscribed")
    while sup.state != DOWN:
        await asyncio.sleep(0.05)
    emit(step="unsubscribed", rc=await sup.unsubscribe(BASE + "/#"))
    await sup.wait_up(30000)
    await asyncio.sleep(0.5)
    emit(step="resumed", present=sup.session_present)
    for _ in range(200):  # the test publishes meanwhile: x, then the control message
        if ctl:
            break
        await asyncio.sleep(0.05)
    emit(step="done", got=got, ctl=ctl)
    await sup.stop()


main(run())
