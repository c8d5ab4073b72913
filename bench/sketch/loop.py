# bench/workloads/loop.py with the lean5 sketch's client, for measure.py --instructions:
#   loop.py awaited PORT N   QoS 1, each PUBACK awaited
#   loop.py qos0 PORT N      QoS 0, then one QoS 1 whose PUBACK ends the run
# (lean5 is found beside this script: the script's folder is first on the path)
import asyncio

from _bench import PAYLOAD16, args, emit
from lean5.client import Client

MODE, (PORT, N) = args()


async def main():
    c = Client("bench-loop-lean")
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    qos = 1 if MODE == "awaited" else 0
    for _ in range(N):
        await c.publish("bench/loop/data", PAYLOAD16, qos=qos)
    rc = await c.publish("bench/loop/data", PAYLOAD16, qos=1)
    await c.disconnect()
    emit("loop_messages", N, mode=MODE, last_rc=rc)


asyncio.run(main())
