# Callers cancelled at the worst moment: after their packet went out, before its ack.
# Their waiter slot must stay taken until the ack (its packet id is in use) and then
# free itself, so the next caller waits for a slot instead of failing, and no slot
# or Receive Maximum count leaks (found by a cancellation audit, both runtimes).
# Also: a handler raising CancelledError, and disconnect() while connect() opens.
import asyncio

from client_util import Inbox, args, emit, main
from mqtt5 import Client, MQTTError, Supervisor

PORT, TAG = args()
URL = "mqtt://127.0.0.1:%d" % PORT
BASE = "cancel/" + TAG


def slots(c):
    # every waiter slot but connect()'s (slot 0) free; no publish in flight
    return {"free": c._wpid[1:].count(-1) == len(c._wpid) - 1, "npub": c._s.inflight_count}


async def until(cond):
    for _ in range(10000):
        if cond():
            return True
        await asyncio.sleep(0)
    return False


async def cancel(task):
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return True
    return False  # it had finished: the cancel came too late to test anything


async def outcome(aw):
    try:
        return await asyncio.wait_for(aw, 5)
    except Exception as e:  # noqa: BLE001 - the record names it
        return "%s: %s" % (type(e).__name__, e)


async def plain():
    c = Client("cancel-p-" + TAG, max_inflight=1)
    await c.connect(URL)
    inbox = Inbox()
    await c.subscribe(BASE + "/p/#", qos=1, handler=inbox)
    # a SUBSCRIBE that went out, cancelled before its SUBACK
    t = asyncio.create_task(c.subscribe(BASE + "/p/late", qos=1))
    await until(lambda: max(c._wpid) > 0)  # its packet id: the SUBSCRIBE is queued
    sub_cancelled = await cancel(t)
    after_sub = await outcome(c.publish(BASE + "/p/a", b"a", qos=1))
    # a publish that waited for the slot, went out, and was cancelled before its PUBACK
    first = c.publish(BASE + "/p/b", b"b", qos=1)     # takes the one slot
    t = asyncio.create_task(c.publish(BASE + "/p/c", b"c", qos=1))  # waits for it
    await first
    await until(lambda: c._s.inflight_count)
    pub_cancelled = await cancel(t)
    after_pub = await outcome(c.publish(BASE + "/p/d", b"d", qos=2))
    got = await inbox.wait(4)
    await asyncio.sleep(0.2)  # the cancelled ones' acks are in
    emit(step="plain", sub_cancelled=sub_cancelled, pub_cancelled=pub_cancelled,
         after_sub=after_sub, after_pub=after_pub,
         topics=sorted(m["topic"][len(BASE):] for m in got), **slots(c))
    await c.disconnect()


async def supervised():
    c = Client("cancel-s-" + TAG, max_inflight=2)  # one slot for publishes, one kept
    sup = Supervisor(c, URL)
    inbox = Inbox()
    await sup.subscribe(BASE + "/s/#", qos=1, handler=inbox)
    a = asyncio.create_task(c.publish(BASE + "/s/a", b"a", qos=1))  # queued while down
    await asyncio.sleep(0)
    x = asyncio.create_task(c.publish(BASE + "/s/x", b"x", qos=1))  # waits for the slot
    await asyncio.sleep(0)
    sup.start()
    # x has the slot and sits in the offline queue
    await until(lambda: any(k == 1 for k in c._wpub))
    x_cancelled = await cancel(x)
    y = await outcome(c.publish(BASE + "/s/y", b"y", qos=1))
    got = await inbox.wait(3)
    await asyncio.sleep(0.2)
    emit(step="supervised", x_cancelled=x_cancelled, a=await a, y=y,
         topics=sorted(m["topic"][len(BASE):] for m in got), **slots(c))
    await sup.stop()


async def handler_cancel():
    c = Client("cancel-h-" + TAG)
    await c.connect(URL)

    def h(m):
        raise asyncio.CancelledError()  # e.g. fut.result() of a cancelled future

    await c.subscribe(BASE + "/h", qos=1, handler=h)
    first = await outcome(c.publish(BASE + "/h", b"1", qos=1))
    await asyncio.sleep(0.1)  # its delivery ran the handler
    again = await outcome(c.publish(BASE + "/h", b"2", qos=1))
    emit(step="handler", first=first, again=again, connected=c.is_connected,
         reader_alive=not c._tasks[0].done())
    await c.disconnect()


async def disconnect_while_opening():
    c = Client("cancel-d-" + TAG)
    t = asyncio.create_task(c.connect(URL))
    await asyncio.sleep(0)  # connect() is opening its socket
    await c.disconnect()
    emit(step="opening", connect=await outcome(t), connected=c.is_connected)


async def run():
    await plain()
    await supervised()
    await handler_cancel()
    await disconnect_while_opening()
    emit(step="done")


main(run())
