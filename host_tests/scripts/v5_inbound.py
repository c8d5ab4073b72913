# Our Receive Maximum on inbound QoS 1 (or 2): subscribe with a small receive_maximum,
# tell the test we are ready, take messages until the test's publisher is done or
# the session ends the connection (0x93 Receive Maximum exceeded).
# argv: port tag receive_maximum [strict 1|0 [qos]]
import asyncio
import sys

from client_util import args, emit, main
from mqtt5 import Client

PORT, TAG = args()
RM = int(sys.argv[3])
STRICT = len(sys.argv) < 5 or sys.argv[4] != "0"
QOS = int(sys.argv[5]) if len(sys.argv) > 5 else 1


async def run():
    c = Client("inb-" + TAG, receive_maximum=RM, strict_receive_maximum=STRICT)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    got = []
    await c.subscribe("inb/%s/t" % TAG, QOS, handler=lambda m: got.append(1))
    print("ready")  # unbuffered: PYTHONUNBUFFERED on CPython
    for _ in range(100):
        await asyncio.sleep(0.05)
        if not c.is_connected or len(got) >= 200:
            break
    err = c.error
    emit(step="end", got=len(got), connected=c.is_connected,
         exceeded=c.session.receive_maximum_exceeded,
         reason_code=getattr(err, "reason_code", None), error=str(err) if err else None)
    if c.is_connected:
        await c.disconnect()


main(run())
