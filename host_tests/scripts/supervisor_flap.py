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
    q = sup.queue
    most = 0  # births queued at once (one may be in flight instead: it went out)
    for _ in range(2000):
        if sup.stats.connects >= 6:
            break
        most = max(most, [q.topic[(q.head + i) % q.size] for i in range(q.n)].count(
            "flap/status"))
        await asyncio.sleep(0.01)
    emit(step="flapped", connects=sup.stats.connects, most=most)
    await sup.stop()
    task.cancel()


main(run())
