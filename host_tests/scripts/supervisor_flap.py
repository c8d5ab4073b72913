# A supervised client with a birth on a server that resets every link right after
# its CONNACK, before the client sends anything: the birth is queued once, not once
# per link (it piled up in the offline queue, crowding out what the node queued).
#   supervisor_flap.py PORT
import asyncio

from client_util import args, emit, main
from mqtt5 import Client, Supervisor


async def run():
    port = args()[0]
    sup = Supervisor(Client("flap"), "mqtt://127.0.0.1:%d" % port, base_ms=20, cap_ms=40,
                     birth=("flap/status", b"online", 1, True))
    task = asyncio.create_task(sup.run())
    for _ in range(400):
        if sup.stats.connects >= 6:
            break
        await asyncio.sleep(0.05)
    q = sup.queue
    emit(step="flapped", connects=sup.stats.connects, queued=q.n,
         topics=[q.topic[(q.head + i) % q.size] for i in range(q.n)])
    await sup.stop()
    task.cancel()


main(run())
