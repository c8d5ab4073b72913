# one MemoryError inside the Supervisor's reconnect path.  argv: port tag mode
#   drain:   asyncio.create_task(_drainer) fails (mqtt5.drain.start)
#   connect: asyncio.create_task(_writer) fails (Client.connect)
#   until:   the Supervisor's wait for the new link's end (mqtt5.offline.until_closed:
#            the client's _ended_within(), whose timer task a full heap cannot make)
#   report:  the state callback fails for lack of heap when the link drops, and so does
#            showing why (print_exception in mqtt5.message._report), twice: the second
#            time inside run()'s own recovery from the first
import asyncio
import sys

import mqtt5.message as _msg

from client_util import args, emit, failing, main
from mqtt5 import Client, Supervisor

PORT, TAG = args()
MODE = sys.argv[3]
BASE = "aud/" + TAG
URL = "mqtt://127.0.0.1:%d" % PORT
ARM = [0]
_ct = asyncio.create_task
_wf = asyncio.wait_for
NAME = {"drain": "_drainer", "connect": "_writer"}.get(MODE)


asyncio.create_task = failing(_ct, ARM, lambda coro: NAME and NAME in repr(coro))
_msg.print_exception = failing(_msg.print_exception, ARM, lambda e: MODE == "report")
got = []


def on_state(sup, state, reason):  # a node's callback: it needs the heap too
    if MODE == "report" and ARM[0] and state == 0:  # DOWN
        raise MemoryError("injected: the callback")


async def run():
    a = Client("sup-" + TAG, keepalive=5, session_expiry=60)
    a._ended_within = failing(a._ended_within, ARM, lambda ms: MODE == "until")
    sup = Supervisor(a, URL, base_ms=50, cap_ms=200, on_state=on_state)
    await sup.subscribe(BASE + "/t", qos=1, handler=lambda m: got.append(bytes(m.payload)))
    task = sup.start()
    await sup.wait_up(5000)
    rc = await _wf(a.publish(BASE + "/t", b"before", qos=1), 3)
    emit(step="before", rc=rc)
    ARM[0] = armed = 2 if MODE == "report" else 1
    a._close(OSError(104, "kicked"))  # the link drops (as ECONNRESET from the reader)
    await asyncio.sleep(1.5)
    try:
        rc = await _wf(a.publish(BASE + "/t", b"after", qos=1), 5)
    except Exception as e:
        rc = repr(e)
    emit(step="after", injected=ARM[0] < armed, rc=rc, state=sup.state, up=a.is_connected,
         task_done=task.done(), got=[g.decode() for g in got], queued=sup.queue.n)
    a._close(OSError(104, "kicked again"))  # a later link loss
    await asyncio.sleep(1.5)
    try:
        rc = await _wf(a.publish(BASE + "/t", b"later", qos=1), 5)
    except Exception as e:
        rc = repr(e)
    emit(step="later", rc=rc, state=sup.state, up=a.is_connected, task_done=task.done(),
         queued=sup.queue.n, unshown=_msg._shown[1])
    if task.done():
        try:
            task.result() if hasattr(task, "result") else await task
        except BaseException as e:
            emit(step="task", error=repr(e))


main(run())
