# One publish loop of Fieldnode's client, for bench/instructions.py (instructions per
# message under callgrind; MicroPython unix port or CPython):
#   loop.py awaited PORT N   QoS 1, each PUBACK awaited
#   loop.py qos0 PORT N      QoS 0, then one QoS 1 whose PUBACK ends the run
import asyncio

from _bench import PAYLOAD16, args, emit
from mqtt5 import Client

MODE, (PORT, N) = args()


async def main():
    c = Client("bench-loop")
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    qos = 1 if MODE == "awaited" else 0
    n = 0
    for _ in range(N):
        await c.publish("bench/loop/data", PAYLOAD16, qos=qos)
        n += 1
    rc = await c.publish("bench/loop/data", PAYLOAD16, qos=1)  # 0 or 0x10
    await c.disconnect()
    emit("loop_messages", n, mode=MODE, last_rc=rc)


asyncio.run(main())
