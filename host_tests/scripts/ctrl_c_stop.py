# Ctrl-C (KeyboardInterrupt) while the Supervisor's own task runs, as on a board's REPL
# or in `make run`.  MicroPython raises it in whatever task is running and leaves the
# loop there: that task's coroutine is dead and never completes, so a stop() that
# awaited it waited for ever.  A slow on_state callback (it spins) makes the
# interrupt land in the Supervisor's task.  MicroPython only.  argv: port tag
import asyncio
import time

from client_util import args, emit
from mqtt5 import Client, Supervisor
from mqtt5.supervisor import UP

PORT, TAG = args()
spun = []


def on_state(sup, state, reason):
    if state == UP and not spun:
        spun.append(1)
        print("spinning")
        t = time.time()
        while time.time() - t < 10:
            pass


client = Client("ctrlc-" + TAG, keepalive=5)
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
