# Subscription Identifiers through the client (needs the client hook): identifiers
# are assigned per subscription, the broker echoes them, and messages reach the
# handler of each identifier (overlapping filters, a shared subscription, a
# filter without handler).  argv: port tag
import asyncio

from client_util import args, emit, main
from mqtt5 import Client

PORT, TAG = args()
B = "sid/" + TAG


async def run():
    c = Client("sid-" + TAG)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    got = {"all": [], "x": [], "shared": [], "rest": []}

    def rec(name):
        def h(m):
            got[name].append([m.topic, m.subscription_identifiers])
        return h

    c.on_message = rec("rest")
    await c.subscribe(B + "/#", 1, handler=rec("all"))
    await c.subscribe(B + "/x", 1, handler=rec("x"))
    await c.subscribe("$share/g%s/%s/s/+" % (TAG, B), 1, handler=rec("shared"))
    await c.subscribe(B + "/plain", 1)  # no handler: no identifier, on_message
    r = c._router
    sids = [r.sid(B + "/#"), r.sid(B + "/x"), r.sid("$share/g%s/%s/s/+" % (TAG, B))]
    for t in ("x", "y", "s/1", "plain"):
        await c.publish(B + "/" + t, t, qos=1)
    await asyncio.sleep(0.5)
    emit(step="sid", available=c.session.sub_id_available, sids=sids, got=got)
    await c.disconnect()


main(run())
