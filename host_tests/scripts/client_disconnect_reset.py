# A broker's DISCONNECT that reaches the client just before a write of its own
# fails: the broker said why (0x97 Quota exceeded) and reset the connection at once
# (host_tests/rogue_broker.py "disconnect_reset"). The client was busy when both
# arrived (the loop blocked for 0.6 s, as a node reading a slow sensor), then
# publishes: its writer runs before its reader, and the write fails (EPIPE). The
# link must still end with the broker's reason, read from what had arrived.
#   client_disconnect_reset.py PORT
import time

from client_util import args, emit, main
from mqtt5 import Client


async def run():
    port = args()[0]
    c = Client("disc-reset")
    await c.connect("mqtt://127.0.0.1:%d" % port)
    time.sleep(0.6)  # blocks the loop: the DISCONNECT and the reset arrive meanwhile
    await c.publish("t/x", b"reading")  # QoS 0: queued; the writer's turn fails
    err = await c.wait_closed()
    emit(step="closed", code=getattr(err, "reason_code", None), error=str(err),
         connected=c.is_connected)


main(run())
