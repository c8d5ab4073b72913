# Ctrl-C landing in a task of the link (its reader, its writer or the drainer), then
# the firmware's goodbye (main.py Node.stop): `offline` (QoS 1, retained) when
# connected, then DISCONNECT 0x00, or 0x04 when `offline` was not acknowledged.
# MicroPython raises KeyboardInterrupt in whatever task runs and leaves that task
# dead, never to complete: the link closes with it, and the Will says `offline`.  A
# busy handler (the reader), a slow socket write (the writer) or a slow offline queue
# (the drainer) makes it land there.  MicroPython only.
# argv: port tag reader|writer|drainer
import asyncio
import sys
import time

from client_util import args, emit
from mqtt5 import Client, Supervisor, Will

PORT, TAG = args()
WHICH = sys.argv[3]
STATUS = "intr/%s/status" % TAG
armed = []


def spin(*_):
    if armed:
        armed.pop()
        print("spinning")
        t = time.ticks_ms()  # (no allocation: Ctrl-C in an allocation of this unix
        while time.ticks_diff(time.ticks_ms(), t) < 10000:  # port can leave the heap locked)
            pass


client = Client("intr-" + TAG, keepalive=30,
                will=Will(STATUS, b"offline", qos=1, retain=True))
sup = Supervisor(client, "mqtt://127.0.0.1:%d" % PORT, birth=(STATUS, b"online", 1, True))


async def serve():
    sup.start()
    await sup.wait_up()
    if WHICH == "reader":  # a handler runs in the reader task
        await sup.subscribe("intr/%s/go" % TAG, qos=0, handler=spin)
    elif WHICH == "writer":
        t = client._t
        write = t.write

        def slow_write(b):
            spin()
            return write(b)
        t.write = slow_write
    else:  # the drainer hands the queued QoS 1 publish to the session
        s = client._s
        publish = s.publish

        def slow_publish(*a):
            spin()
            return publish(*a)
        s.publish = slow_publish
    armed.append(1)
    await client.publish("intr/%s/go" % TAG, b"go", qos=0 if WHICH != "drainer" else 1)
    await asyncio.sleep(20)


async def stop():
    t = time.ticks_ms()
    said = False
    if client.is_connected:
        try:
            await asyncio.wait_for(client.publish(STATUS, b"offline", qos=1, retain=True), 3)
            said = True
        except Exception as e:
            emit(step="offline", error=repr(e))
    await sup.stop(0 if said else 0x04)
    emit(step="stopped", said=said, ms=time.ticks_diff(time.ticks_ms(), t), state=sup.state)


try:
    asyncio.run(serve())
except KeyboardInterrupt:
    print("interrupted")
    asyncio.run(stop())
