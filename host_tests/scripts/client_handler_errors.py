# A handler that raises on every message: its tracebacks are shown one a second at
# most, the next one shown counts those left out, and the link stays.  argv: port tag
import asyncio

from client_util import args, emit, main
from mqtt5 import Client

PORT, TAG = args()
URL = "mqtt://127.0.0.1:%d" % PORT
calls = [0]


def handler(m):
    calls[0] += 1
    raise ValueError("bad message %s" % bytes(m.payload).decode())


async def run():
    sub = Client("herr-s-" + TAG)
    await sub.connect(URL)
    await sub.subscribe("herr/%s/t" % TAG, qos=1, handler=handler)
    pub = Client("herr-p-" + TAG)
    await pub.connect(URL)
    for i in range(30):
        await pub.publish("herr/%s/t" % TAG, b"%d" % i, qos=1)
    await asyncio.sleep(0.3)
    print("-- burst done")
    await asyncio.sleep(1.0)
    await pub.publish("herr/%s/t" % TAG, b"last", qos=1)
    await asyncio.sleep(0.3)
    emit(step="end", calls=calls[0], connected=sub.is_connected)
    await pub.disconnect()
    await sub.disconnect()


main(run())
