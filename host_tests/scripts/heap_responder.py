# MemoryError while a Responder's request is dispatched (the asyncio.create_task
# of its task fails once), four times over.  argv: port tag
import asyncio

from client_util import args, emit, failing, main
from mqtt5 import Client, Supervisor, Requester, Responder

PORT, TAG = args()
BASE = "aud/" + TAG
URL = "mqtt://127.0.0.1:%d" % PORT
ARM = [0]
asyncio.create_task = failing(asyncio.create_task, ARM)


async def run():
    a = Client("resp-" + TAG, keepalive=5, session_expiry=60)
    sup = Supervisor(a, URL, base_ms=100)
    rsp = Responder(sup, BASE + "/cmd/+", lambda m: "pong", qos=1, remember=4, max_busy=4)
    await rsp.start()
    sup.start()
    await sup.wait_up(5000)
    b = Client("req-" + TAG, keepalive=5)
    await b.connect(URL)
    req = Requester(b, qos=1)
    await req.start()

    async def ask():
        try:
            r = await req.request(BASE + "/cmd/ping", b"{}", timeout=1)
            return bytes(r.payload).decode()
        except asyncio.TimeoutError:
            return "timeout"

    emit(step="before", answer=await ask(), running=rsp._running, busy=rsp.busy)
    for k in range(4):
        await asyncio.sleep(0.05)  # the reader of `a` dispatches the next request
        ARM[0] = 1  # the next asyncio.create_task(): the responder's dispatch of this request
        got = await ask()
        ARM[0] = 0
        emit(step="injected", k=k, answer=got, running=rsp._running, busy=rsp.busy)
    answer = await ask()
    await asyncio.sleep(0.2)  # (its answer's PUBACK: the place is given back then)
    emit(step="after", answer=answer, running=rsp._running, busy=rsp.busy,
         up=a.is_connected, state=sup.state)
    await b.disconnect()
    await sup.stop()


main(run())
