# QoS 1 publishes handed to the client, then disconnect() at once: the client closed
# its socket right after its DISCONNECT while the PUBACKs were still arriving, its
# kernel answered them with a reset, and the broker dropped what it had not read yet
# (the last publishes, the DISCONNECT itself: then it published the Will). Seen on
# MicroPython: 2-3 of 5 arrived, Mosquitto logged "disconnected due to out of memory".
# With "twice", two disconnect() calls at once: the second cut the first one's wait
# short, with the same loss.
#   client_disconnect_queued.py PORT TAG [twice]
import asyncio
import sys

from client_util import args, emit, main
from mqtt5 import Client, Will

N = 12  # within max_inflight (16): none waits for a slot


async def run():
    port, tag = args()
    c = Client("dq-" + tag, will=Will("dq/%s/will" % tag, "gone", qos=1))
    await c.connect("mqtt://127.0.0.1:%d" % port)
    waits = [c.publish("dq/%s/m" % tag, b"%d" % i, qos=1) for i in range(N)]
    if sys.argv[3:] == ["twice"]:
        await asyncio.gather(c.disconnect(), c.disconnect())
    else:
        await c.disconnect()
    errors = []
    for w in waits:
        try:
            await w
        except Exception as e:  # an ack that came after the DISCONNECT: "disconnected"
            errors.append(str(e))
    emit(step="done", n=N, errors=sorted(set(errors)), closed=str(await c.wait_closed()))


main(run())
