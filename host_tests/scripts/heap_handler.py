# A handler that meets a full heap (MemoryError) for one message at the given QoS, on a
# supervised client with a kept session: the first time only ("once") or at every call
# ("always").  QoS 1/2: the message is left unacknowledged the first time (the link
# ends, the server sends it again with DUP set); met again then, it is a handler
# error: reported, the message acknowledged, the link kept.  QoS 0: a handler error at
# once (mqtt5.message _call).  argv: port tag qos once|always
import asyncio
import sys

from client_util import args, emit, main
from mqtt5 import Client, Supervisor

PORT, TAG = args()
QOS = int(sys.argv[3])
ALWAYS = sys.argv[4] == "always"
BASE = "aud/" + TAG
URL = "mqtt://127.0.0.1:%d" % PORT
calls = []


def handler(m):
    calls.append(bytes(m.payload).decode())
    if len(calls) == 1 or ALWAYS and calls[-1] == "one":
        raise MemoryError("injected")


async def run():
    a = Client("sub-" + TAG, keepalive=5, session_expiry=60)
    sup = Supervisor(a, URL, base_ms=50)
    await sup.subscribe(BASE + "/#", qos=QOS, handler=handler)
    sup.start()
    await sup.wait_up(5000)
    b = Client("pub-" + TAG, keepalive=5)
    await b.connect(URL)
    await b.publish(BASE + "/one", b"one", qos=QOS)
    for _ in range(40):
        await asyncio.sleep(0.05)
        if len(calls) > 1:
            break
    await asyncio.sleep(0.3)  # (another resend would come meanwhile)
    await sup.wait_up(5000)
    await b.publish(BASE + "/two", b"two", qos=QOS)
    await asyncio.sleep(0.3)
    emit(step="end", calls=calls, links_lost=sup.stats.as_dict()["links_lost"])
    await b.disconnect()
    await sup.stop()


main(run())
