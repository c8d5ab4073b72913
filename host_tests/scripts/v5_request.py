# Request/response: a Responder and a Requester on two clients, concurrent
# requests, a timeout, a late reply (dropped), a repeated correlation id (answered
# again, handler run once).  argv: port tag
import asyncio

from client_util import args, emit, main, text
from mqtt5 import Client, Requester, Responder

PORT, TAG = args()
SVC = "svc/%s" % TAG


async def run():
    url = "mqtt://127.0.0.1:%d" % PORT
    srv = Client("rsp-" + TAG)
    await srv.connect(url)
    calls = []

    def echo(m):
        calls.append(bytes(m.payload))
        return b"echo:" + bytes(m.payload)

    async def slow(m):
        await asyncio.sleep(0.6)
        return b"late"

    rsp = Responder(srv, SVC + "/echo", echo)
    await rsp.start()
    await Responder(srv, SVC + "/slow", slow).start()

    cli = Client("req-" + TAG)
    await cli.connect(url)
    req = Requester(cli)
    replies = await asyncio.gather(*[req.request(SVC + "/echo", b"m%d" % i, timeout=5)
                                     for i in range(6)])
    emit(step="replies", response_topic=req.response_topic,
         payloads=[text(r.payload) for r in replies],
         cids=[bytes(r.correlation_data).hex() for r in replies],
         topics=[r.topic for r in replies])

    t = []
    for topic in (SVC + "/nobody", SVC + "/slow"):
        try:
            await req.request(topic, b"?", timeout=0.3)
            t.append("answered")
        except asyncio.TimeoutError:
            t.append("timeout")
    await asyncio.sleep(0.8)  # the slow reply arrives after its request timed out
    after = await req.request(SVC + "/echo", b"after", timeout=5)
    emit(step="timeouts", results=t, dropped=req.dropped, after=text(after.payload))

    # a requester retrying with the same correlation data once the first answer came:
    # answered twice, run once. (A retry that arrives while the first is still being
    # handled gets that one answer: v5_edges.py. Both sent back to back could
    # reach the responder in one read, before its handler ran: one answer, as a CI run
    # saw.)
    box = []
    await cli.subscribe(SVC + "/manual", 1, handler=lambda m: box.append(text(m.payload)))
    n = len(calls)
    for k in (1, 2):
        await cli.publish(SVC + "/echo", b"retry", qos=1, response_topic=SVC + "/manual",
                          correlation_data=b"fixed-id")
        for _ in range(100):
            if len(box) >= k:
                break
            await asyncio.sleep(0.05)
    emit(step="repeat", replies=box, handler_runs=len(calls) - n, repeated=rsp.repeated)

    # more Requesters on the client: each its own response topic (one handler a
    # filter: a shared one would take the others' replies); a topic given that
    # another Requester routes is refused; stopping one leaves the others working
    r2, r3 = Requester(cli), Requester(cli)
    got = []
    for r in (req, r2, r3, req, r2, r3):
        got.append(text((await r.request(SVC + "/echo", b"x", timeout=5)).payload))
    try:
        await Requester(cli, response_topic=req.response_topic).start()
        clash = "started"
    except Exception as e:
        clash = type(e).__name__
    await r2.stop()
    after_stop = []
    for r in (req, r3):
        after_stop.append(text((await r.request(SVC + "/echo", b"y", timeout=5)).payload))
    emit(step="several", topics=[req.response_topic, r2.response_topic, r3.response_topic],
         replies=got, dropped=[req.dropped, r2.dropped, r3.dropped], clash=clash,
         after_stop=after_stop)
    await cli.disconnect()
    await srv.disconnect()


main(run())
