# MemoryError in Message.copy() while an async handler's message is kept
# (mqtt5.message _deliver).  argv: port tag
import asyncio

import sys

from client_util import args, emit, failing, main
from mqtt5 import Client, Supervisor
from mqtt5.message import Message

PORT, TAG = args()
QOS = int(sys.argv[3]) if len(sys.argv) > 3 else 0
BASE = "aud/" + TAG
URL = "mqtt://127.0.0.1:%d" % PORT
ARM = [0]
Message.copy = failing(Message.copy, ARM)
seen = []


async def handler(m):
    first = (m.topic, None if m.payload is None else bytes(m.payload))
    await asyncio.sleep(0.6)  # the handler's own await (e.g. a publish)
    later = (m.topic, None if m.payload is None else bytes(m.payload))
    seen.append([first, later])


async def run():
    a = Client("sub-" + TAG, keepalive=5, session_expiry=60)
    sup = Supervisor(a, URL, base_ms=50)
    await sup.subscribe(BASE + "/#", qos=1, handler=handler)
    sup.start()
    await sup.wait_up(5000)
    b = Client("pub-" + TAG, keepalive=5)
    await b.connect(URL)
    ARM[0] = 1
    await b.publish(BASE + "/one", b"first", qos=QOS)
    await asyncio.sleep(0.2)
    await sup.wait_up(5000)
    await b.publish(BASE + "/two", b"second", qos=QOS)
    await asyncio.sleep(1.2)
    for first, later in seen:
        emit(step="handler", first=[first[0], first[1] and first[1].decode()],
             later=[later[0], later[1] and later[1].decode()])
    emit(step="end", links_lost=sup.stats.as_dict()["links_lost"], connects=sup.stats.connects)
    await b.disconnect()
    await sup.stop()


main(run())
