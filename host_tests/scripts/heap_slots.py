# waiter slots and callers after one MemoryError in a publish.  argv: port tag mode
#   signal_plain: the Signal() of a new waiter slot fails (connected, unsupervised)
#   signal_sup:   the same, supervised (drain.q12_now)
#   drop:         an MQTTError made when the full offline queue (DROP_OLDEST) drops
#                 the oldest message fails (there is none to make now)
import asyncio
import sys

from client_util import args, emit, failing, main
import mqtt5._compat as mc
import mqtt5.drain as md
from mqtt5 import Client, MQTTError, Supervisor

PORT, TAG = args()
MODE = sys.argv[3]
BASE = "aud/" + TAG
URL = "mqtt://127.0.0.1:%d" % PORT
ARM = [0]
Signal = failing(mc.Signal, ARM, lambda: MODE.startswith("signal"))
Err = failing(md.MQTTError, ARM, lambda *a: MODE == "drop")
mc.Signal = Signal  # (mqtt5.link.take() makes a slot's Signal: it imports it from here
# when it makes one; the modules that imported it at load keep the real one)


def busy(c):
    return sum(1 for p in c._wpid[1:] if p != -1)


async def outcome(aw, t=3):
    try:
        return await asyncio.wait_for(aw, t)
    except asyncio.TimeoutError:
        return "TIMEOUT (no answer)"
    except Exception as e:
        return repr(e)


async def signal_mode():
    c = Client("sl-" + TAG, keepalive=5, session_expiry=60, max_inflight=4)
    sup = None
    if MODE == "signal_sup":
        sup = Supervisor(c, URL, base_ms=50)
        sup.start()
        await sup.wait_up(5000)
    else:
        await c.connect(URL)
    errs = []
    for k in range(6):
        ARM[0] = 1
        try:
            # a new slot has no Signal yet: take() makes one
            aw = c.publish(BASE + "/x", b"%d" % k, qos=1)
        except MemoryError as e:
            errs.append(repr(e))
            aw = None
        ARM[0] = 0
        if aw is not None:
            errs.append(await outcome(aw))
        await asyncio.sleep(0.1)
    emit(step="injected", results=errs, slots_taken=busy(c), slots=len(c._wpid) - 1,
         npub=c._s.inflight_count)
    r = await outcome(c.publish(BASE + "/x", b"after", qos=1))
    emit(step="after", result=r, slots_taken=busy(c))
    if sup:
        await sup.stop()
    else:
        await c.disconnect()


async def drop_mode():
    c = Client("sd-" + TAG, keepalive=5, session_expiry=60)
    sup = Supervisor(c, URL, base_ms=50, queue_count=2)  # not started: down
    md.MQTTError = Err  # an MQTTError made from now on in mqtt5.drain may fail
    ts = [asyncio.create_task(outcome(c.publish(BASE + "/d", b"%d" % i, qos=1), 5))
          for i in range(2)]
    await asyncio.sleep(0.05)
    ARM[0] = 1  # at the drop of "0" (oldest) for "2"
    try:
        third = await outcome(c.publish(BASE + "/d", b"2", qos=1), 5)
    except MemoryError as e:
        third = "raised " + repr(e)
    ARM[0] = 0
    sup.start()
    res = []
    for t in ts:
        res.append(await t)
    await asyncio.sleep(0.5)
    emit(step="drop", first=res[0], second=res[1], third=third, slots_taken=busy(c),
         queued=sup.queue.n, drops=sup.queue.drops,
         wpid=c._wpid, wpub=list(c._wpub))
    await sup.stop()


main(signal_mode() if MODE.startswith("signal") else drop_mode())
