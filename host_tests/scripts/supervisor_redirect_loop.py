# Two servers that each accept, then send the client to the other (DISCONNECT 0x9C
# Use another server): the Supervisor follows 3 redirects in a row, then backs off.
# It reset its count at every CONNACK, and went from one to the other with no wait,
# about 1,000 links a second.   supervisor_redirect_loop.py PORT SECONDS
import asyncio

from client_util import args, emit, main
from mqtt5 import Client, Supervisor


async def run():
    port, seconds = [int(a) for a in args()]
    sup = Supervisor(Client("redir"), "mqtt://127.0.0.1:%d" % port, base_ms=200, cap_ms=400)
    task = asyncio.create_task(sup.run())
    await asyncio.sleep(seconds)
    emit(step="looped", connects=sup.stats.connects, lost=sup.stats.links_lost)
    await sup.stop()
    task.cancel()


main(run())
