# Unsubscribed while the link is down (argv: port tag): the supervisor sends the
# UNSUBSCRIBE on the next connect when the server kept the session (it only forgot
# the filter: a resumed session kept delivering to on_message). The test cuts and
# refuses the link once "subscribed" is out, lets it back once "unsubscribed" is,
# then publishes rs/<tag>/x.
import asyncio

from client_util import args, emit, main, text
from resilience_util import supervised
from mqtt5.supervisor import DOWN

PORT, TAG = args()
BASE = "rs/" + TAG
got = []


def on_msg(m):
    got.append([m.topic, text(m.payload)])


async def run():
    c, sup = supervised(PORT, "rs-" + TAG, client_kw={"on_message": on_msg})
    sup.start()
    await sup.wait_up(10000)
    await sup.subscribe(BASE + "/#", qos=1, handler=on_msg)
    emit(step="subscribed")
    while sup.state != DOWN:
        await asyncio.sleep(0.05)
    emit(step="unsubscribed", rc=await sup.unsubscribe(BASE + "/#"))
    await sup.wait_up(30000)
    await asyncio.sleep(0.5)
    emit(step="resumed", present=sup.session_present)
    await asyncio.sleep(2)  # the test publishes meanwhile
    emit(step="done", got=got)
    await sup.stop()


main(run())
