# Our Requester against a foreign responder, or our Responder for a foreign
# requester (the test's paho peer).  argv: port tag mode(request|respond)
import asyncio
import sys

from client_util import args, emit, main, text
from mqtt5 import Client, Requester, Responder

PORT, TAG = args()
MODE = sys.argv[3]
SVC = "xsvc/%s" % TAG


async def run():
    c = Client("x-%s-%s" % (MODE, TAG))
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    if MODE == "request":
        req = Requester(c, response_topic=SVC + "/replies")
        r = await req.request(SVC + "/paho", b"ping", timeout=5)
        emit(step="reply", payload=text(r.payload), cid=bytes(r.correlation_data).hex(),
             user_properties=[list(kv) for kv in r.user_properties])
    else:
        rsp = Responder(c, SVC + "/ours", lambda m: b"pong:" + bytes(m.payload))
        await rsp.start()
        await c.publish(SVC + "/ready", b"1", qos=1)
        for _ in range(100):
            if rsp.answered:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        emit(step="answered", n=rsp.answered)
    await c.disconnect()


main(run())
