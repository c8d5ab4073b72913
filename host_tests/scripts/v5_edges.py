# Found by an audit of v5 features (argv: port tag):
# - a retry of a request that is still being handled is not handled again: a slow
#   handler ran twice for one request sent twice (a `reboot` would run twice);
# - publish(topic_alias=False) under a Supervisor goes out with the full topic name
#   and no alias (the offline queue lost the flag).
import asyncio

from client_util import args, emit, main
from mqtt5 import Client, Responder, Supervisor

PORT, TAG = args()
URL = "mqtt://127.0.0.1:%d" % PORT


async def retry_while_running():
    runs = []

    async def slow(m):
        runs.append(1)
        await asyncio.sleep(0.5)
        return b"done"

    a = Client("edges-r-" + TAG)
    await a.connect(URL)
    rsp = Responder(a, "edges/%s/svc" % TAG, slow)
    await rsp.start()
    answers = []
    b = Client("edges-q-" + TAG, on_message=lambda m: answers.append(bytes(m.payload)))
    await b.connect(URL)
    await b.subscribe("edges/%s/rep" % TAG, qos=1)
    for _ in range(2):  # the requester retries 0.1 s later, same Correlation Data
        await b.publish("edges/%s/svc" % TAG, b"x", qos=1, correlation_data=b"id-1",
                        response_topic="edges/%s/rep" % TAG)
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    await b.publish("edges/%s/svc" % TAG, b"x", qos=1, correlation_data=b"id-1",
                    response_topic="edges/%s/rep" % TAG)  # after: answered again
    await asyncio.sleep(0.5)
    emit(step="retry", runs=len(runs), answers=len(answers), answered=rsp.answered,
         repeated=rsp.repeated)
    await a.disconnect()
    await b.disconnect()


async def no_alias_supervised():
    c = Client("edges-a-" + TAG, topic_alias_out=4)
    sup = Supervisor(c, URL)
    q = asyncio.create_task(c.publish("edges/%s/a" % TAG, b"queued", qos=1,
                                      topic_alias=False))  # while down: queued
    await asyncio.sleep(0)
    sup.start()
    await sup.wait_up(5000)
    await q
    await c.publish("edges/%s/a" % TAG, b"up", qos=1, topic_alias=False)
    await c.publish("edges/%s/a" % TAG, b"q0", qos=0, topic_alias=False)
    await asyncio.sleep(0.3)
    emit(step="alias", table=c.session._aout.topic)
    await c.publish("edges/%s/a" % TAG, b"aliased", qos=1)  # the default: aliased
    emit(step="alias_on", table=c.session._aout.topic)
    await sup.stop()


async def run():
    await retry_while_running()
    await no_alias_supervised()
    emit(step="done")


main(run())
