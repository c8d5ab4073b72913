# Supervisor basics against a plain broker (argv: port tag): up, subscribe
# through the supervisor, publish QoS 0/1/2 to ourselves, queue while down
# (before start), stats, clean stop.
import asyncio

from client_util import Inbox, args, emit, main
from mqtt5 import Client, Supervisor

PORT, TAG = args()
BASE = "sb/" + TAG


async def run():
    c = Client("sb-" + TAG, keepalive=5, session_expiry=60)
    states = []
    sup = Supervisor(c, "mqtt://127.0.0.1:%d" % PORT, base_ms=100,
                     on_state=lambda s, st, r: states.append(st))
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
    items = await inbox.wait(5)
    emit(step="basic", rc_early=rc_early, rcs=rcs,
         topics=sorted(m["topic"] for m in items), states=states,
         stats=sup.stats.as_dict())
    await sup.stop()
    emit(step="stopped", state=sup.state, connected=c.is_connected)


main(run())
