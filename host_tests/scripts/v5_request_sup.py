# A Requester over a Supervisor (through the test's proxy) and a Responder on a
# plain client: a request, the link cut by the test, another request after the
# reconnect (the response subscription restored).  argv: proxy_port tag broker_port
import asyncio
import sys

from client_util import args, emit, main, text
from mqtt5 import Client, Requester, Responder, Supervisor
from mqtt5.supervisor import UP

PORT, TAG = args()
BROKER = int(sys.argv[3])
SVC = "supsvc/%s/echo" % TAG


async def run():
    srv = Client("sup-rsp-" + TAG)
    await srv.connect("mqtt://127.0.0.1:%d" % BROKER)
    await Responder(srv, SVC, lambda m: b"echo:" + bytes(m.payload)).start()

    c = Client("sup-req-" + TAG, keepalive=5)
    ups = []  # connections that came up
    sup = Supervisor(c, "mqtt://127.0.0.1:%d" % PORT, base_ms=100,
                     on_state=lambda s, st, r: st == UP and ups.append(1))
    sup.start()
    await sup.wait_up(5000)
    req = Requester(sup)
    one = await req.request(SVC, b"one", timeout=5)
    print("cut-me")
    for _ in range(200):  # the test cuts the link; the supervisor reconnects
        if len(ups) >= 2 and c.is_connected:
            break
        await asyncio.sleep(0.05)
    lost = len(ups) >= 2
    await sup.wait_up(10000)
    two = await req.request(SVC, b"two", timeout=5)
    emit(step="sup", one=text(one.payload), two=text(two.payload), lost=lost,
         topic=req.response_topic)
    await sup.stop()
    await srv.disconnect()


main(run())
