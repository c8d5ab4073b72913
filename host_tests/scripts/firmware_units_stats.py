"""Unit checks of firmware/app.py's stats on this runtime (no board, no broker): the
stats JSON in its boot-time buffer and its log line said whole (or cut short by a
full heap, saying so), a stats message the heap could not hold said skipped, and
the stats task's turns (100 ms until the link's birth is said, then 1 s). One JSON
record per check (firmware_units_util.ok)."""

import asyncio
import json

import app
from firmware_units_util import _app, _n, _Queue, ok
from mqtt5._compat import ticks_add
from mqtt5.supervisor import DOWN


# a stats message the heap could not hold was skipped without a word (the bench's
# node at 48 KiB: no stats, nothing in the log)
# the stats JSON is written into a buffer made at boot (json.dumps grew one block to
# the whole text, which a fragmented heap lacked: the stats were skipped for good), and
# its log line printed in pieces cut between UTF-8 characters
class _Counts:
    reconnects = drops = expired = 3


a = _app()
a.sup.stats = a.sup.queue = _Counts()
a.last_disconnect = "\u00e9" * 60 + "\u20ac"  # 2-byte characters across the 64 B cuts
text = a.stats_json()
printed = []
app.print = lambda *args, end="\n": printed.append(" ".join(args) + end)
try:
    app._say("node: -> stats ", text)
finally:
    del app.print
line = "".join(printed)
got = json.loads(str(text, "utf-8"))
want = a.stats()
for k in ("uptime_s", "mem_free"):  # (they move between the two calls)
    got.pop(k)
    want.pop(k)
ok("stats_json_in_its_buffer_and_said_whole",
   got == want and isinstance(text, memoryview) and line.endswith("\n")
   and json.loads(line[len("node: -> stats "):]) == json.loads(str(text, "utf-8"))
   and line.startswith("node: -> stats {") and len(printed) > 3, (line, got, want))
# the heap full while the line is printed (the stats went out): the line says so and
# ends, where the MemoryError reached stats_task, which said they were skipped
printed = []


def _full_third(*args, end="\n"):
    if len(printed) == 2:
        printed.append(None)
        raise MemoryError
    printed.append(" ".join(args) + end)


app.print = _full_third
try:
    app._say("node: -> stats ", text)
    escaped = None
except MemoryError as e:
    escaped = e
finally:
    del app.print
ok("stats_line_cut_short_by_a_full_heap_says_so", escaped is None
   and "".join(p for p in printed if p).endswith("... (not shown: heap full)\n"), printed)


async def _stats_heap_full():
    a = _app()
    said = []
    a.stats = lambda: (_ for _ in ()).throw(MemoryError())
    a.sup.state = app.UP
    app.print = lambda *args: said.append(" ".join(str(x) for x in args))
    try:
        task = asyncio.create_task(a.stats_task())
        for _ in range(5):
            await asyncio.sleep(0)
        task.cancel()
    finally:
        del app.print
    return said


said = asyncio.run(_stats_heap_full())
ok("stats_heap_full_said", said[:1] == ["node: stats skipped: heap full"], said)


# the stats task's turns: every 100 ms while no birth of this link is said (before the
# link, and until the birth's ack), then a second apart. `online` was logged on the
# next 1 s turn, up to a second after the ack (and a Ctrl-C a second after `online`
# met make run's reading due 2 s after boot: test_run_local.py)
async def _stats_turns():
    a = _app()
    a.stats_due = ticks_add(app.ticks_ms(), 600000)  # no stats message in this test

    class _Birth:
        rc = err = None

    a.sup.queue = _Queue()
    a.sup.queue.outcome = None  # (mqtt5.offline: the birth's Signal, once it is sent)
    a.sup.state = app.UP
    slept, said = [], []

    async def sleep(ms):
        slept.append(ms)
        await asyncio.sleep(0)

    async def turns(n=3):
        del slept[:]
        for _ in range(n):
            await asyncio.sleep(0)
        return list(slept)

    real = app.sleep_ms
    app.sleep_ms = sleep
    app.print = lambda *args: said.append(" ".join(str(x) for x in args))
    task = asyncio.create_task(a.stats_task())
    try:
        down = await turns()
        a.link(app.UP, None)
        up = await turns()
        a.sup.queue.outcome = birth = _Birth()
        up_unsaid = await turns()  # sent, its ack not in
        birth.rc = 0
        acked = await turns()
        a.link(DOWN, OSError(104))
        lost = await turns()
    finally:
        task.cancel()
        app.sleep_ms = real
        del app.print
    return down, up, up_unsaid, acked, lost, said


down, up, up_unsaid, acked, lost, said = asyncio.run(_stats_turns())
ok("stats_turns_fast_until_the_birth_is_said",
   down and up and up_unsaid and max(down + up + up_unsaid + lost) == 100
   and acked[1:] and min(acked[1:]) == 1000 and said == ["node: %s online" % _app().status_topic]
   and lost and max(lost) == 100, (down, up, up_unsaid, acked, lost, said))

print(json.dumps({"done": _n[0]}))
