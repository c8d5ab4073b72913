# A supervised client whose server is down: QoS 1 publishes with a 1 s Message
# Expiry Interval are queued and expire in the offline queue, their callers given up
# (as a Requester's timeout does) or still awaiting. Their waiter slots must free
# then, not when the link is back: the caller still awaiting hears that its message
# expired, and a publish made after them is queued at its call. The server then
# comes up (the test starts it on PORT once it reads "up-now") and what was queued
# goes out.
#   supervisor_expiry.py PORT BACKOFF_MS
# BACKOFF_MS 100: the Supervisor's waits between tries free them; 4000: none ends
# within the test's 1.6 s (no jitter), so the new publish's call frees them.
import asyncio
import sys

from client_util import args, emit, main
from mqtt5 import Client, MQTTError, Supervisor


async def outcome(aw, box):
    try:
        await aw
        box.append("sent")
    except MQTTError as e:
        box.append(str(e))


async def run():
    port, backoff = args()[0], int(sys.argv[2])
    c = Client("expiry", max_inflight=4)
    class Late:  # the jitter's draw: the whole wait, every time
        def random(self):
            return 0.99

    sup = Supervisor(c, "mqtt://127.0.0.1:%d" % port, base_ms=backoff, cap_ms=backoff,
                     rand=Late())
    sup.start()
    q = sup.queue
    box = []  # the awaiting caller's outcome
    kept = asyncio.create_task(outcome(c.publish("exp/kept", b"kept", 1,
                                                 message_expiry_interval=1), box))
    for i in range(8):  # more than the client's waiter slots
        try:
            await asyncio.wait_for(c.publish("exp/old", b"%d" % i, 1,
                                             message_expiry_interval=1), 0.05)
        except asyncio.TimeoutError:
            pass
    held = q.n
    await asyncio.sleep(1.3)
    heard = box[:]
    n0 = q.n
    try:  # after the expiry: a new publish must be queued at its call
        await asyncio.wait_for(c.publish("exp/new", b"new", 1), 0.3)
    except asyncio.TimeoutError:
        pass
    queued_new = q.n - n0
    await asyncio.sleep(0.1)
    heard_later = box[:]
    print("up-now")
    await sup.wait_up(15000)
    for _ in range(100):
        if not q.n:
            break
        await asyncio.sleep(0.05)
    emit(step="expiry", held=held, queued_new=queued_new, heard=heard,
         heard_later=heard_later, expired=q.expired, left=q.n)
    await sup.stop()
    kept.cancel()


main(run())
