# A resumed session whose in-flight table is full of the last link's unacknowledged
# publishes (their callers were told "disconnected"): new publishes and a subscribe
# wait for a slot (the resends' acks free them), as the README says, where they
# failed with "no free in-flight slot".   client_resume_full.py PORT TAG
import asyncio

from client_util import args, emit, main
from mqtt5 import Client


async def run():
    port, tag = args()
    url = "mqtt://127.0.0.1:%d" % port
    c = Client("full-" + tag, max_inflight=2, session_expiry=60)
    await c.connect(url)
    t = "full/" + tag
    first = [c.publish(t, b"a", qos=1), c.publish(t, b"b", qos=1)]
    c.abort()  # the link lost before the PUBACKs were read
    lost = []
    for x in first:
        try:
            await x
        except Exception as e:
            lost.append(type(e).__name__)
    present = await c.connect(url, clean_start=False)
    out = []
    for i in range(3):
        try:
            out.append(await asyncio.wait_for(c.publish(t, b"new%d" % i, qos=1), 5))
        except Exception as e:
            out.append(repr(e))
    try:
        sub = await asyncio.wait_for(c.subscribe(t + "/x", qos=1), 5)
    except Exception as e:
        sub = repr(e)
    emit(step="resumed", lost=lost, present=present, publishes=out, subscribe=sub)
    await c.disconnect()


main(run())
