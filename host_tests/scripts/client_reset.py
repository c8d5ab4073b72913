# The proxy RSTs the connection (the test's trigger on <base>/ready) while a
# QoS 1 publish waits for its PUBACK: the waiter fails, the client is closed.
import asyncio

from client_util import args, emit, main
from mqtt5 import Client, MQTTError

PORT, TAG = args()
BASE = "reset/" + TAG


async def run():
    c = Client("reset-" + TAG, keepalive=30)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    await c.publish(BASE + "/ready", b"1")
    try:
        while True:   # until the cut lands
            await c.publish(BASE + "/x", b"x", qos=1)
            await asyncio.sleep(0.05)
    except MQTTError as e:
        emit(step="cut", error=str(e), connected=c.is_connected)


main(run())
