# Connect with a Will (delay 2 s), say ready, then let the process die without
# DISCONNECT: the broker must publish the will after the delay.
import sys

from client_util import args, emit, main
from mqtt5 import Client, Will

PORT, TAG = args()
BASE = "will/" + TAG


async def run():
    will = Will(BASE + "/status", b"offline", qos=1, retain=False, delay=2,
                content_type="text/plain")
    c = Client("will-" + TAG, will=will, session_expiry=30)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    await c.publish(BASE + "/status", b"online", qos=1)
    emit(step="ready")
    sys.exit(0)  # the socket dies with the process: no DISCONNECT


main(run())
