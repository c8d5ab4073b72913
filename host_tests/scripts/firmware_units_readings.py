"""Unit checks of firmware/app.py's readings and events on this runtime (no board,
no broker): sensor errors, sequence numbers, threshold levels at boot and on a
change, sensors published in turn, a reading refused for now sent again, and the
readings task's schedule on a simulated clock (late wakes, a start days late).
Readings come from the unix board's sim/ files in $FIELDNODE_HOME. One JSON
record per check (firmware_units_util.ok)."""

import asyncio
import json

import app
import config
import payload as pl
from firmware_units_util import H, SENSORS, T, _app, _n, ok
from mqtt5._compat import ticks_add
from mqtt5.reason_codes import rc_error


# readings and events, from an audit of the app's logic

# a driver raising a bare Exception (a bad CRC in common DHT/SHT drivers) ended the
# readings task: no readings, and the watchdog reset the board
a = _app()
real_read = app.board.read_sensor
try:
    app.board.read_sensor = lambda name: (_ for _ in ()).throw(RuntimeError("checksum"))
    a._read(T, 0)
    ok("sensor_any_error_counted", a.sensor_errors == 1 and a.seq[T] == 0, a.sensor_errors)
    app.board.read_sensor = lambda name: (_ for _ in ()).throw(MemoryError())
    try:
        a._read(T, 0)
        ok("sensor_memoryerror_raised", False)
    except MemoryError:
        ok("sensor_memoryerror_raised", True)
    # sequence numbers run 1..65535: 0 stays "no reading yet" (get_state)
    app.board.read_sensor = lambda name: 5
    a.seq[T] = 65535
    a._read(T, 0)
    a.ev_seq = 65535
    a.event("button", pl.EV_BUTTON)
    ok("seq_wraps_to_1", a.seq[T] == 1 and a.ev_seq == 1, (a.seq[T], a.ev_seq))
finally:
    app.board.read_sensor = real_read

# at boot the level of a sensor with thresholds is reported, normal included: a
# `_high` sent before a reboot was never cleared when the value was back meanwhile
def _events_made(a):  # published (awaiting their ack) or waiting, oldest first
    return [e[0] for e in a.ev_fly] + [e[0] for e in a.ev_wait]


a = _app({"sensors": {"temperature": {"high": 3000}}})
a._threshold(T, 2000)
a._threshold(H, 500)
a._threshold(T, 2100)
ok("boot_level_reported", _events_made(a) == ["temperature_normal"], _events_made(a))
a = _app({"sensors": {"temperature": {"low": 1000}}})
a._threshold(T, 900)
ok("boot_level_low", _events_made(a) == ["temperature_low"], _events_made(a))

# sensors are published in turn: one read faster than its acks come kept the rest
# waiting for ever
a = _app()
order = []
for _ in range(4):
    a.dirty[T] = a.dirty[H] = 1
    order.append(a._next_dirty())
ok("publish_in_turn", sorted(order[:2]) == [0, 1] and order[2:] == order[:2], order)

# new thresholds are checked against a reading taken at once, not at the next
# interval (up to a day away)
DAY = {"interval_ms": 86400000}
a = _app({"sensors": {"temperature": DAY, "humidity": DAY}})
a.due[T] = a.due[H] = ticks_add(app.ticks_ms(), 86400000)
a.apply(config.validate({"sensors": {"temperature": dict(DAY, high=1), "humidity": DAY}},
                        SENSORS))
ok("threshold_change_reads_now", app.ticks_diff(a.due[T], app.ticks_ms()) <= 0
   and app.ticks_diff(a.due[H], app.ticks_ms()) > 60000, (a.due, app.ticks_ms()))


# the readings task on a simulated clock: readings keep their schedule when the
# loop wakes late (they drifted by each wake's delay), and a start days after the
# App was made (the network took that long) reads at once (due times looked days
# ahead once ticks_diff wrapped)
async def _readings(start_after_ms, late_ms, run_ms):
    clock = [ticks_add(0, -5000)]

    async def sleep(ms):
        clock[0] = ticks_add(clock[0], ms + late_ms)
        await asyncio.sleep(0)

    real = app.ticks_ms, app.sleep_ms
    app.ticks_ms = lambda: clock[0]
    app.sleep_ms = sleep
    try:
        a = _app({"sensors": {"temperature": {"interval_ms": 1000},
                              "humidity": {"interval_ms": 86400000}}})
        for _ in range(start_after_ms // 300000):  # main.network(): the clock on each try
            clock[0] = ticks_add(clock[0], 300000)
            a.clock()
        t0 = clock[0]
        task = asyncio.create_task(a.readings())
        while app.ticks_diff(clock[0], t0) < run_ms:
            await asyncio.sleep(0)
        task.cancel()
    finally:
        app.ticks_ms, app.sleep_ms = real
    return a, a.up_s


# a reading refused with 0x97 (the broker's quota, a full offline queue) waited for
# the sensor's next reading, up to a day away; it is sent again after _RETRY_MS
class _Quota:
    connects = 1  # (as Supervisor.stats: the link was not lost meanwhile)

    def __init__(self):
        self.n = 0

    async def publish(self, topic, data, *args, **kw):  # (kw: topic_alias)
        self.n += 1
        if self.n == 1:
            raise rc_error("PUBACK", 0x97)


async def _quota_retry():
    a = _app()
    a.client = a.sup.stats = _Quota()
    a.sup.state = app.UP
    said = []
    app.print = lambda *args: said.append(" ".join(str(x) for x in args))
    real_sleep = app.sleep_ms
    app.sleep_ms = lambda ms: asyncio.sleep(0)
    try:
        a.seq[T], a.value[T], a.taken[T], a.dirty[T] = 1, 2000, app.ticks_ms(), 1
        task = asyncio.create_task(a.publisher())
        a.wake.set()
        for _ in range(20):
            await asyncio.sleep(0)
        task.cancel()
    finally:
        del app.print
        app.sleep_ms = real_sleep
    return a, said

a, said = asyncio.run(_quota_retry())
ok("reading_refused_for_now_is_sent_again", a.client.n == 2 and a.readings_sent == 1
   and a.dirty[T] == 0 and "refused: PUBACK 0x97 Quota exceeded" in said[0], (a.client.n, said))
a, up = asyncio.run(_readings(0, 50, 60000))  # each wake 50 ms late: 58 when drifting
ok("readings_keep_schedule", a.seq[T] == 60, a.seq[T])
a, up = asyncio.run(_readings(7 * 86400000, 0, 2000))
ok("readings_start_after_a_week", a.seq[T] >= 2 and a.seq[H] == 1
   and up >= 7 * 86400, (a.seq, up))

print(json.dumps({"done": _n[0]}))
