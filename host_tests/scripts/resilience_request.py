# Requester.request(timeout=1) on a dead link that keep-alive has not found yet
# (argv: port tag; the test blackholes the link once "up" is out): the first
# request's subscribe to the response topic waited outside the timeout, 15 s here
# (1.5 x keepalive), and ended in 'keep alive timeout' instead of a TimeoutError.
import asyncio

from client_util import args, emit, main
from mqtt5 import Client, MQTTError, Requester
from mqtt5._compat import ticks_diff, ticks_ms

PORT, TAG = args()


async def run():
    c = Client("rq-" + TAG, keepalive=10)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    emit(step="up")
    await asyncio.sleep(1)  # the link is blackholed meanwhile
    t0 = ticks_ms()
    try:
        await Requester(c).request("rq/%s/svc" % TAG, b"", timeout=1)
        out = "answered"
    except asyncio.TimeoutError:
        out = "timeout"
    except MQTTError as e:
        out = str(e)
    emit(step="done", out=out, ms=ticks_diff(ticks_ms(), t0))


main(run())
