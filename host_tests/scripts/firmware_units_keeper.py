"""Unit checks of firmware/keeper.py on this runtime (no board, no broker): a vital
task ended with no watchdog, a network loss said at once and the clock tried apart,
the rejoin's growing pause, the watchdog covered while a connect blocks, and the
reset after 5 links in a row ended by a full heap. One JSON record per check
(firmware_units_util.ok)."""

import asyncio
import json

import app
import keeper
from firmware_units_util import _app, _n, ok
from mqtt5 import MQTTError
from mqtt5._compat import ticks_add
from mqtt5.supervisor import CONNECTING, DOWN, UP


# with watchdog_ms 0 a vital task that ended went unsaid: the node ran on half dead
async def _keeper_no_watchdog():
    a = _app({"watchdog_ms": 0})
    said = []

    async def short(s):
        await asyncio.sleep(s)

    dead = asyncio.create_task(short(0))
    alive = asyncio.create_task(short(60))
    await asyncio.sleep(0)
    app.print = lambda *args: said.append(" ".join(str(x) for x in args))
    real_sleep = keeper.sleep_ms
    keeper.sleep_ms = lambda ms: asyncio.sleep(0)  # keeper turns without waiting a second
    try:
        task = asyncio.create_task(keeper.run(a, (("readings", dead), ("supervisor", alive))))
        for _ in range(10):
            await asyncio.sleep(0)
        task.cancel()
        alive.cancel()
    finally:
        del app.print
        keeper.sleep_ms = real_sleep
    return said

# the keeper's turns: a loss is said the moment the board reports it (the first line
# came when a join had failed, network_timeout_ms later), and a clock that NTP did not
# set is tried again apart from it (esp32/rp2: network_ok() read False for that, so a
# loss the driver mended by itself in the meantime went uncounted, and a line at the
# loss would have come every 5 minutes on a board without NTP)
async def _keeper_network():
    a = _app({"watchdog_ms": 0})
    said, ups, net = [], [], {"ok": True, "due": False, "tries": 0}

    async def network_up(ssid, password, timeout_ms):
        ups.append(("up, clock due" if net["ok"] else "lost", len(said)))
        net["due"] = False  # (tried: the next try is minutes away)
        if not net["ok"]:
            raise OSError("driver error")
        return False

    async def turns(n=12):
        for _ in range(n):
            await asyncio.sleep(0)

    b = app.board
    real = keeper.sleep_ms, b.network_up, b.network_ok, b.clock_due
    keeper.sleep_ms = lambda ms: asyncio.sleep(0)  # keeper turns without waiting a second
    b.network_up, b.network_ok, b.clock_due = network_up, lambda: net["ok"], lambda: net["due"]
    app.print = lambda *args: said.append(" ".join(str(x) for x in args))
    alive = asyncio.create_task(turns(10 ** 6))
    task = asyncio.create_task(keeper.run(a, (("readings", alive),)))
    try:
        await turns()  # up, the clock set: nothing to do
        net["due"] = True
        await turns()  # the clock due: one try, nothing said
        net["ok"] = False
        await turns()  # lost: said once, joins tried
        ups[2:] = []
        net["ok"] = True
        await turns()
    finally:
        task.cancel()
        alive.cancel()
        del app.print
        keeper.sleep_ms, b.network_up, b.network_ok, b.clock_due = real
    return said, ups, a

# a lost Wi-Fi: the rejoin's pause grows as at boot (it was the same line each second),
# and ends as soon as the driver rejoins by itself: a pause of minutes left as it was
# held up the join after the next loss
async def _rejoin_pauses(back_after_ms, fails=99, lost=True):
    a = _app()
    said, slept, tries = [], [0], [0]

    async def sleep(ms):
        slept[0] += ms

    async def network_up(ssid, password, timeout_ms):
        tries[0] += 1
        if tries[0] > fails:
            return False  # connected: the driver rejoined by itself
        raise OSError("driver error")

    real = keeper.sleep_ms, app.board.network_up, app.board.network_ok
    keeper.sleep_ms, app.board.network_up = sleep, network_up
    app.board.network_ok = lambda: slept[0] >= back_after_ms or tries[0] > fails
    app.print = lambda *args: said.append(" ".join(str(x) for x in args))
    if lost:  # (not lost: only the clock was due for another try)
        a.lost_at = (a.clock(), a.up_s)
    try:
        await keeper._rejoin(a)
    finally:
        keeper.sleep_ms, app.board.network_up, app.board.network_ok = real
        del app.print
    return a, said, slept[0], tries[0]


# a heap that kept ending links (fragmented: no block for a packet the node must send
# or take) left the node cycling through links for ever; after 5 in a row the keeper
# resets the board, and a link lost any other way starts the count again
class _Stats:
    last_up_ms = 0


async def _keeper_heap_losses(reasons, span_ms=61000, idle_ms=0):
    # reasons: errors the links ended with, or a number: a link that lasted that long;
    # each run of losses began span_ms before its next ones, and the last loss was
    # idle_ms ago (the backoff waiting to try again)
    a = _app({"watchdog_ms": 0})
    a.sup.stats = _Stats()
    said, resets = [], []
    for r in reasons:
        if isinstance(r, int):
            keeper.on_state(a, UP, None)
            a.link(UP, None)
            a.sup.stats.last_up_ms = r
            continue
        keeper.on_state(a, DOWN, r)
        if a.heap_losses == 1:  # a run's first loss: span_ms before the next ones
            a.heap_since[0] = ticks_add(a.heap_since[0], -span_ms)
        a.link(DOWN, r)
    a.heap_since[0] = ticks_add(a.heap_since[0], -idle_ms)
    async def later():
        await asyncio.sleep(60)

    alive = asyncio.create_task(later())
    app.print = lambda *args: said.append(" ".join(str(x) for x in args))
    real = keeper.sleep_ms, app.board.reset
    keeper.sleep_ms = lambda ms: asyncio.sleep(0)
    app.board.reset = lambda: resets.append(a.heap_losses)
    try:
        task = asyncio.create_task(keeper.run(a, (("readings", alive),)))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        task.cancel()
        alive.cancel()
    finally:
        del app.print
        keeper.sleep_ms, app.board.reset = real
    return said[:1], resets[:1]

# the broker's DNS lookup at each connect blocks the loop, and nothing fed the
# watchdog meanwhile (rp2: ~7 s per silent DNS server, its watchdog 8.4 s at most)
a = _app()
covered = []
for st in (CONNECTING, UP, CONNECTING, DOWN):
    keeper.on_state(a, st, None if st != DOWN else OSError(104))
    covered.append(app.board._wdt[3] != 0)
ok("connect_covers_the_watchdog", covered == [True, False, True, False], covered)

HEAP = [MemoryError("memory allocation failed, allocating 2048 bytes"),
        MQTTError("connection lost: heap full: memory allocation failed, allocating 1536 bytes")]
said, resets = asyncio.run(_keeper_heap_losses(HEAP * 2 + HEAP[:1]))
ok("keeper_resets_after_5_links_ended_by_a_full_heap", resets == [5] and said == [
   "node: 5 links in a row ended by a full heap in 61 s: reset"], (said, resets))
said, resets = asyncio.run(_keeper_heap_losses(HEAP * 3, span_ms=50000))
ok("keeper_rides_out_a_heap_full_for_a_moment", resets == [] and said == [], (said, resets))
# a heap full for 50 s, then the backoff's next attempt drawn 55 s later: the keeper
# reset the board at 60 s from the first loss, its heap long whole again (the
# full-heap link test in test_heap_exhaustion failed so, rarely)
said, resets = asyncio.run(_keeper_heap_losses(HEAP * 3, span_ms=50000, idle_ms=55000))
ok("keeper_rides_out_a_long_backoff_after_a_heap_full_for_a_moment",
   resets == [] and said == [], (said, resets))
said, resets = asyncio.run(_keeper_heap_losses(HEAP * 2 + [OSError(104)] + HEAP * 2))
ok("keeper_heap_losses_counted_in_a_row", resets == [] and said == [], (said, resets))
said, resets = asyncio.run(_keeper_heap_losses(HEAP * 2 + [60000] + HEAP * 2))
ok("keeper_heap_losses_restart_after_a_lasting_link", resets == [] and said == [],
   (said, resets))
said, resets = asyncio.run(_keeper_heap_losses(HEAP * 2 + [50000] + HEAP[:1]))
ok("keeper_heap_losses_go_on_after_a_short_link", resets == [5], (said, resets))

said = asyncio.run(_keeper_no_watchdog())
ok("keeper_no_watchdog_says_a_task_ended",
   said == ["node: task ended: readings (watchdog_ms 0: nothing resets the node)"], said)
a, said, slept, tries = asyncio.run(_rejoin_pauses(13000))
ok("keeper_rejoin_pause_grows_and_ends_when_the_network_is_back",
   said[:4] == ["node: network failed (driver error): next try in %d s" % s for s in (1, 2, 4, 8)]
   and said[4].startswith("node: network back after ") and len(said) == 5
   and (slept, tries) == (13000, 4) and a.lost_at is None and a.rejoins == 1, (said, slept))
a, said, slept, tries = asyncio.run(_rejoin_pauses(10 ** 9, fails=2))
ok("keeper_rejoin_joined_after_failures_is_counted",
   len(said) == 3 and said[2].startswith("node: network back after ")
   and tries == 3 and a.lost_at is None and a.rejoins == 1, (said, tries))
a, said, slept, tries = asyncio.run(_rejoin_pauses(10 ** 9, fails=0, lost=False))
ok("keeper_rejoin_for_the_clock_says_nothing",
   said == [] and tries == 1 and a.lost_at is None and a.rejoins == 0, (said, tries))
said, ups, a = asyncio.run(_keeper_network())
ok("keeper_network_lost_said_at_once_and_clock_tried_apart",
   ups == [("up, clock due", 0), ("lost", 1)] and said[0] == "node: network lost: joining again"
   and said.count(said[0]) == 1 and said[1].startswith("node: network failed (driver error)")
   and said[-1].startswith("node: network back after ") and a.rejoins == 1
   and a.lost_at is None, (said, ups, a.rejoins))

print(json.dumps({"done": _n[0]}))
