# After disconnect() the client must close its network connection [MQTT-3.14.4-2];
# on MicroPython the asyncio Stream's close() does nothing, and the socket stayed
# open (a board at the REPL after a cut goodbye kept its link to the broker).
# The test looks for the socket in /proc while this sleeps.  argv: port tag
import asyncio

from client_util import args, emit
from mqtt5 import Client

PORT, TAG = args()


async def main():
    c = Client("intr-close-" + TAG, keepalive=30)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    emit(step="connected")
    await c.disconnect()
    emit(step="disconnected")
    await asyncio.sleep(10)


asyncio.run(main())
