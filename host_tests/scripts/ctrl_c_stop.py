# Ctrl-C (KeyboardInterrupt) while the Supervisor's own task runs, as on a board's REPL
# or in `make run`.  MicroPython raises it in whatever task is running and leaves the
# loop there: that task's coroutine is dead and never completes, so a stop() that
# awaited it waited for ever.  state: a slow on_state callback (it spins) makes the
# interrupt land in the Supervisor's task; connect: in the opening of the socket (a
# slow DNS lookup on a board), past the connect timeout (when that ran in a task of
# asyncio.wait_for's, the cancel that stop() forwards went to the dead task).
# MicroPython only.
# argv: port tag state|connect
import asyncio
import sys
import time

from client_util import args, emit
from mqtt5 import Client, Supervisor
from mqtt5.supervisor import UP

PORT, TAG = args()
WHICH = sys.argv[3]
spun = []


def spin():
    spun.append(1)
    print("spinning")
    t = time.ticks_ms()  # (no allocation: Ctrl-C in an allocation of this unix
    while time.ticks_diff(time.ticks_ms(), t) < 10000:  # port can leave the heap locked)
        pass


def on_state(sup, state, reason):
    if WHICH == "state" and state == UP and not spun:
        spin()


if WHICH == "connect":
    import mqtt5.transport

    async def slow_open(host, port, timeout_ms):
        spin()
    mqtt5.transport.open_tcp = slow_open

client = Client("ctrlc-" + TAG, keepalive=5, connect_timeout_ms=1000)
sup = Supervisor(client, "mqtt://127.0.0.1:%d" % PORT, on_state=on_state)


async def serve():
    sup.start()
    await asyncio.sleep(20)


async def stop():
    t = time.ticks_ms()
    await sup.stop()
    emit(step="stopped", ms=time.ticks_diff(time.ticks_ms(), t), state=sup.state,
         connected=client.is_connected)


try:
    asyncio.run(serve())
except KeyboardInterrupt:
    print("interrupted")
    asyncio.run(stop())
