# A broker that answers pings but whose PUBACKs are lost (argv: port tag): the test
# has the fault proxy drop PUBACKs once the script is up; 1 s later the script
# publishes rr/<tag>/out "unacked" (QoS 1). With ack_timeout_ms 3000 the link ends
# ("ack timeout") while keep alive (2 s) is content, the supervisor reconnects,
# the session resumes and the publish is resent with DUP [MQTT-4.4.0-1]; the
# script emits the publish's result.
import asyncio

from client_util import args, emit, main
from resilience_util import ms, supervised

PORT, TAG = args()


async def run():
    c, sup = supervised(PORT, "ra-" + TAG, keepalive=2, client_kw={"ack_timeout_ms": 3000})
    sup.start()
    await sup.wait_up(10000)
    await asyncio.sleep(1)
    emit(step="publish", ms=ms())
    rc = await c.publish("rr/%s/out" % TAG, b"unacked", qos=1)
    emit(step="done", rc=rc, ms=ms(), stats=sup.stats.as_dict())
    await sup.stop()


main(run())
