"""Unit checks of firmware/app.py's App on this runtime (no board, no broker): its
clock across the ticks_ms wrap, the events task past a MemoryError, an event published
whose entry then found no heap, a lost session
and a link lost on a full heap, identify/reboot bursts, and command handlers that
run out of heap (also after set_config saved). One JSON record per check
(firmware_units_util.ok; the Supervisor fakes are there too)."""

import asyncio
import json

import app
import config
import payload as pl
from firmware_units_util import _n, _Sup, _SupLost, ok
from mqtt5._compat import ticks_add
from mqtt5.supervisor import DOWN


# the app's clock across the wrap of ticks_ms (2**30 ms on 32-bit ports, about
# 12.4 days): uptime keeps counting and due times still compare right
class _Clock:
    tick = ticks_add(0, -500)  # 500 ms before the wrap (on MicroPython)
    up_s = 1


c = _Clock()
real = app.ticks_ms
app.ticks_ms = lambda: 300  # 800 ms later, after the wrap: no whole second yet
try:
    now = app.App.clock(c)
    ok("clock_wrap_uptime", c.up_s == 1 and now == 300 and c.tick == ticks_add(0, -500), c.up_s)
    app.ticks_ms = lambda: 600  # 1100 ms: a second counted, its 100 ms left over
    app.App.clock(c)
    ok("clock_wrap_second", c.up_s == 2 and c.tick == 500, (c.up_s, c.tick))
    before = ticks_add(0, -100)  # due before the wrap is sooner than 50 after it
    ok("clock_wrap_sooner", app._sooner(before, 50) == before and app._sooner(50, before) == before)
finally:
    app.ticks_ms = real


# the events task goes on past an error that is no MQTTError (a MemoryError on a
# full heap ended it: the rest waited for ever, uncounted); a lowered queue_count
# applies to the waiting list at once
async def _events():
    sensors = app.board.SENSORS
    a = app.App(_Sup(), config.validate({}, sensors), "defaults", "unit")
    for _ in range(3):
        a.event("button", pl.EV_BUTTON)
    task = asyncio.create_task(a.events())
    for _ in range(20):
        await asyncio.sleep(0)
    ok("events_after_memoryerror", (a.events_sent, a.events_dropped, len(a.ev_wait))
       == (2, 1, 0) and not task.done(), (a.events_sent, a.events_dropped))
    task.cancel()
    a.cfg = config.validate({"queue_count": 2}, sensors)
    a.ev_fly[:] = [("x", 9, None, True)]  # one published, held: the rest wait
    a.ev_wait[:] = [("x", b"", i, a.tick, a.up_s) for i in range(10, 15)]
    a.event("button", pl.EV_BUTTON)
    ok("events_queue_count_lowered", [e[2] for e in a.ev_wait] == [14, a.ev_seq],
       [e[2] for e in a.ev_wait])

asyncio.run(_events())


# an event published, whose entry in the list of those awaiting their ack then found
# no heap: it was logged and counted as dropped, though it went out. After a collect
# the entry is made again
class _FullOnce(list):
    def append(self, item):
        if not self:
            self.append = super().append  # (once)
            raise MemoryError("memory allocation failed, allocating 32 bytes")
        super().append(item)


class _Queued:
    def publish(self, *args, **kw):
        return "awaitable"


a = app.App(_Sup(), config.validate({}, app.board.SENSORS), "defaults", "unit")
a.client = _Queued()
a.ev_fly = _FullOnce()
a.event("button", pl.EV_BUTTON)
a._send_events()
ok("event_published_when_its_entry_found_no_heap_is_followed",
   a.events_dropped == 0 and [e[:3] for e in a.ev_fly] == [("button", a.ev_seq, "awaitable")]
   and not a.ev_wait, (a.events_dropped, list(a.ev_fly), a.ev_wait))


# a lost session re-marks every sensor that has a reading, also one whose
# sequence number wrapped to 0; a sensor never read has nothing to send
async def _lost():
    a = app.App(_SupLost(), config.validate({}, app.board.SENSORS), "defaults", "unit")
    a.seq[0], a.value[0] = 0, 5  # read 65536 times
    a.link(app.UP, None)
    ok("lost_session_remarks_wrapped", list(a.dirty[:2]) == [1, 0], list(a.dirty))

asyncio.run(_lost())


# a link lost while the heap was full: the text of its reason met a MemoryError, which
# left the node `linked` (no broker_timeout_s reset) and its last_disconnect stale
class _NoText(Exception):
    def __str__(self):
        raise MemoryError("memory allocation failed, allocating 64 bytes")


async def _lost_on_a_full_heap():
    a = app.App(_SupLost(), config.validate({}, app.board.SENSORS), "defaults", "unit")
    a.link(app.UP, None)
    a.link(DOWN, _NoText())
    ok("a_link_lost_on_a_full_heap_is_unlinked", not a.linked and
       a.last_disconnect == "_NoText", (a.linked, a.last_disconnect))

asyncio.run(_lost_on_a_full_heap())


# identify and reboot in a burst: one blinker (extended to the latest end), one reboot
# task; each identify left a blink task (and a list entry) of its own: 300 of them
# ran a MicroPython node's heap out
async def _identify():
    import commands

    a = app.App(_SupLost(), config.validate({}, app.board.SENSORS), "defaults", "unit")
    c = commands.Commands(a, None)
    rc = [json.loads(c.cmd_identify({"seconds": 1 + i % 60}))["msg"] for i in range(300)]
    first = c.blinker
    longest = c.blink_end
    c.cmd_identify({"seconds": 2})  # ends sooner than the blinking: changes nothing
    same = c.blinker is first and c.blink_end == longest
    for _ in range(20):
        c.cmd_reboot({})
    ok("identify_one_blinker", same and rc[59] == "identifying for 60 s" and len(a.tasks) == 1,
       (same, len(a.tasks)))
    for t in a.tasks + [c.blinker]:
        t.cancel()
    await asyncio.sleep(0)

asyncio.run(_identify())


# a handler that runs out of heap: handle()'s answer, made without allocating after a
# collect (the catch-all of _run() had answered it, formatting the error on a full heap)
class _NS:
    pass


def _app_commands():
    # an App on a lost link and its Commands, for a handler run directly
    import commands

    a = app.App(_SupLost(), config.validate({}, app.board.SENSORS), "defaults", "unit")
    a.client = _NS()
    a.client.session = _NS()
    a.client.session.server_max_packet_size = 0
    return a, commands.Commands(a, None)


def _oom():
    a, c = _app_commands()

    def boom(args):
        raise MemoryError("memory allocation failed, allocating 680 bytes")

    c.cmd_boom = boom
    m = _NS()
    m.topic, m.payload, m.qos, m.response_topic, m.correlation_data = (
        "fieldnode/v1/unit/cmd/boom", b"{}", 0, "r/1", b"c1")
    out = c.handle(m)
    ok("handler_out_of_memory", json.loads(out) == {"rc": 5, "msg": "out of memory"}
       and c.errors == 1, out)

_oom()


# a set_config that saved config.json and then ran out of heap: answered rc 5 "out of
# memory", as if nothing had changed, though the file had (and a retry ran it again)
def _oom_after_save():
    import board

    a, c = _app_commands()
    real = a.apply
    fails = [1]

    def apply(cfg):  # the heap runs out once (then: applied on the second try), or always
        if fails[0]:
            fails[0] -= 1
            raise MemoryError("memory allocation failed, allocating 96 bytes")
        real(cfg)

    a.apply = apply
    got = []
    for n, ka in ((1, 45), (2, 46)):
        fails[0] = n
        m = _NS()
        m.topic, m.payload, m.qos, m.response_topic, m.correlation_data = (
            "fieldnode/v1/unit/cmd/set_config", b'{"keepalive": %d}' % ka, 0, "r/1", b"c%d" % n)
        out = json.loads(c.handle(m))
        saved, src = config.load(board.config_dir())
        got.append((out, saved["keepalive"], src, a.cfg["keepalive"], c.keep(None)))
    ok("set_config_oom_after_save", got[0] == ({"rc": 0, "msg": "saved; out of memory after it"},
                                               45, "file", 45, True)
       and got[1][0] == {"rc": 0, "msg": "saved; out of memory: reboot to apply"}
       and got[1][1:3] == (46, "file") and got[1][4] and c.errors == 0, got)

_oom_after_save()
ok("why_timeout", app.why(asyncio.TimeoutError()) == "timed out", app.why(asyncio.TimeoutError()))

print(json.dumps({"done": _n[0]}))
