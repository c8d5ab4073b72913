# Client.abort(): the connection closed at once, no DISCONNECT, so the broker publishes
# the Will while this process (and the aborted client) lives on. First from inside the
# loop, then from outside any loop, as firmware/main.py calls it after a second Ctrl-C.
import asyncio

from client_util import Inbox, args, emit
from mqtt5 import Client, Will

PORT, TAG = args()
URL = "mqtt://127.0.0.1:%d" % PORT
BASE = "abort/" + TAG


async def in_loop():
    watcher, inbox = Client("abort-w-" + TAG), Inbox()
    await watcher.connect(URL)
    await watcher.subscribe(BASE + "/in", qos=1, handler=inbox)
    c = Client("abort-a-" + TAG, will=Will(BASE + "/in", b"offline", qos=1))
    await c.connect(URL)
    first = c.abort()
    connected = c.is_connected
    error = await asyncio.wait_for(c.wait_closed(), 1)
    try:
        await c.publish(BASE + "/x", b"x", qos=1)
        publish = "sent"
    except Exception as e:
        publish = type(e).__name__
    await inbox.wait(1, timeout=3)
    emit(step="in_loop", first=first, second=c.abort(), connected=connected,
         error=str(error), publish=publish, will=inbox.items[0]["payload"])
    await watcher.disconnect()


async def connect(c):
    await c.connect(URL)


async def retained_will():
    watcher, inbox = Client("abort-w2-" + TAG), Inbox()
    await watcher.connect(URL)
    await watcher.subscribe(BASE + "/out", qos=1, handler=inbox)
    await inbox.wait(1, timeout=3)
    await watcher.publish(BASE + "/out", b"", qos=1, retain=True)   # clear it
    await watcher.disconnect()
    return inbox.items[0]


asyncio.run(in_loop())
c = Client("abort-b-" + TAG, will=Will(BASE + "/out", b"offline", qos=1, retain=True))
asyncio.run(connect(c))
# MicroPython leaves the link's tasks in its loop, the link open: abort() closes it.
# CPython's asyncio.run cancels them on its way out, which closed the link already.
opened = c.is_connected
first = c.abort()
will = asyncio.run(retained_will())
emit(step="outside", opened=opened, first=first, connected=c.is_connected,
     will=will["payload"], retain=will["retain"])
