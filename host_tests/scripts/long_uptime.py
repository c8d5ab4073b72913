"""Weeks of uptime, simulated: the clocks the library, the firmware and the board's
button read are replaced by one advanced with _compat.ticks_add, which wraps as the
device's ticks_ms does (2**30 ms on 32-bit ports: every 12.4 days; ticks_diff is
right only up to half of that). What runs periodically in real life (the
Supervisor's hourly ageing of its offline queue, the readings task's 100 ms clock)
is played by advancing a day at a time and calling it. One JSON record per check.

    long_uptime.py [mqtt://broker]   (the byte counters need a broker)
"""

import asyncio
import gc
import json
import sys

import app
import keeper
import config
import payload as pl
import board_env
import mqtt5.offline as offline
from mqtt5._compat import sleep_ms
import mqtt5.supervisor as sv
from mqtt5 import Client, MQTTError
from mqtt5._compat import ticks_add

DAY = 86400000
NOW = [ticks_add(0, -5000)]  # 5 s before the first wrap


def now():
    return NOW[0]


offline.ticks_ms = sv.monotonic_ms = app.ticks_ms = now


def emit(**r):
    print(json.dumps(r))


def advance(ms, paced=None):
    # ms of simulated time, a day at most per step (ticks_add's reach), `paced()`
    # read after each step
    while ms > 0:
        s = min(ms, DAY)
        NOW[0] = ticks_add(NOW[0], s)
        ms -= s
        if paced is not None:
            paced()


def offline_expiry():
    # a queued message's Message Expiry, reduced by the whole seconds it waited
    for expiry_s, waited_ms in ((5, 1999), (5, 4999), (5, 5000), (8 * 86400, 7 * DAY),
                                (10 * 86400, 9 * DAY), (30 * 86400, 13 * DAY),
                                (7 * 86400, 14 * DAY)):
        q = offline.OfflineQueue(4, 1024)
        q.put("fieldnode/n/event/button", b"x", 1, False, {0x02: expiry_s}, now())
        advance(waited_ms, lambda: q.age(now()))
        left = expiry_s - waited_ms // 1000
        p = q.props_at(q.head, now())
        emit(check="expiry", expiry_s=expiry_s, waited_ms=waited_ms,
             expired=q.expired_at(q.head, now()), want_expired=left <= 0,
             sent=None if p is None else p[0x02], want_sent=left if left > 0 else None)


async def supervisor_links():
    # Supervisor.stats.last_up_ms, and the backoff reset after a stable link
    c = Client("long")
    sup = sv.Supervisor(c, "mqtt://127.0.0.1:1", base_ms=1, cap_ms=1)
    links = [1000, DAY, 7 * DAY, 10 * DAY, int(12.43 * DAY), (1 << 30) + 30000]
    left = list(links)
    out = []

    async def connect(url, clean_start=None):
        return False

    link = [0]  # ms left of the current link

    async def ended_within(ms):
        # a day at most per call; False plays until_closed()'s hourly wake
        if not link[0]:
            sup._attempt = 5  # as after five failed attempts before this link
            link[0] = left.pop(0)
        step = min(link[0], DAY)
        advance(step)
        link[0] -= step
        if link[0]:
            return False
        if not left:
            sup._stop = True
        c.error = OSError(104, "closed by the server")
        return True

    async def after(err):
        out.append([sup.stats.last_up_ms, sup._attempt])
        return not sup._stop

    c.connect = connect
    c._ended_within = ended_within
    import mqtt5.drain as drain
    start = drain.start
    drain.start = lambda c: None  # no link: nothing to drain
    sup._after_failure = after
    try:
        await sup.run()  # (the last link ends with a stop: no _after_failure)
    finally:
        drain.start = start
    out.append([sup.stats.last_up_ms, sup._attempt])
    emit(check="links", want=[[ms, 0 if ms >= sup.stable_ms else 5] for ms in links], got=out)


async def fatal_backoff():
    # a fatal refusal with fatal_backoff_ms of a week: the supervisor waits it out
    c = Client("long")
    sup = sv.Supervisor(c, "mqtt://127.0.0.1:1", fatal_backoff_ms=7 * DAY)

    async def connect(url, clean_start=None):
        e = MQTTError("connection refused: bad user name or password")
        e.reason_code = 0x86
        raise e

    c.connect = connect
    task = asyncio.create_task(sup.run())
    await asyncio.sleep(0.3)
    rec = {"check": "fatal_backoff", "running": not task.done(), "state": sup.state}
    if task.done():
        try:
            await task
        except Exception as e:
            rec["ended"] = repr(e)
    else:
        task.cancel()
    emit(**rec)


class _Pub:
    def __init__(self):
        self.sent = []

    async def publish(self, topic, data, *args, **kw):  # (kw: topic_alias)
        self.sent.append(bytes(data))


class _Stats:
    connects = 1


class _Sup:
    client = _Pub()
    session_present = False
    state = 0
    stats = _Stats()


def new_app():
    a = app.App(_Sup(), config.validate({}, app.board.SENSORS), "defaults", "long")
    app.log = keeper.log = lambda msg: a.logs.append(msg)
    a.logs = []
    return a


async def stale_readings():
    # a reading published days after it was taken (the sensor failing since, the
    # session lost): its TIME field is when it was taken
    for days in (1, 6, 7, 10, 13):
        a = new_app()
        advance(1000 * 1000, a.clock)  # 1000 s after boot
        a.seq[0], a.value[0] = 1, 2137
        a.taken[0], a.taken_s[0] = a.clock(), a.up_s
        advance(days * DAY, a.clock)
        a.dirty[0] = 1
        await a._publish_reading(0)
        emit(check="stale", days=days, time=pl.decode(a.client.sent[-1])["time"],
             want=1000, log=a.logs[-1])


def app_clock():
    # uptime: whole seconds, no allocation at any uptime; the rejoin log after a week
    a = new_app()
    advance(13 * DAY, a.clock)
    mem = getattr(gc, "mem_alloc", None)  # (MicroPython)
    gc.collect()
    gc.disable()
    m0 = mem and mem()
    for _ in range(100):
        NOW[0] = ticks_add(NOW[0], 100)
        a.clock()
    alloc = mem and mem() - m0
    gc.enable()
    a.lost_at = (a.clock(), a.up_s)
    advance(7 * DAY, a.clock)
    keeper._back(a)
    emit(check="app_clock", uptime_s=a.uptime_s(), want_uptime_s=20 * 86400 + 10,
         alloc=alloc, log=a.logs[-1])


async def boot_join():
    # no network at boot for 20 days: the join tries again every 5 minutes at most, and
    # the uptime counts every second of it (ticks wrap past half their period on 32-bit)
    a = new_app()
    slept = [0]
    tries = [0]

    async def sleep(ms):
        advance(ms)
        slept[0] += ms

    async def network_up(ssid, password, timeout_ms):
        tries[0] += 1
        if slept[0] < 20 * DAY:
            raise OSError(5, "simulated driver error")
        return False

    last = [None]

    def keep_last(msg):  # (not every line: there are thousands)
        last[0] = msg

    keeper.log = keep_last
    real = keeper.sleep_ms, app.board.network_up
    keeper.sleep_ms, app.board.network_up = sleep, network_up
    try:
        await keeper.join(a)
    finally:
        keeper.sleep_ms, app.board.network_up = real
    emit(check="boot_join", uptime_s=a.uptime_s(), want_uptime_s=slept[0] // 1000,
         tries=tries[0], log=last[0])


def button():
    # the ESP32 / Pico W button after quiet spells of up to 13 days
    board_env.use("esp32")
    import machine
    import board_common

    board_common.ticks_ms = now
    pin = machine.Pin(99, machine.Pin.IN, machine.Pin.PULL_UP)
    b = board_common.Button(pin, 30)
    got = []
    for days in (0, 1, 6, 6.3, 7, 10, 12, 13):
        advance(int(days * DAY))
        pin.fake_level(0)  # pressed
        advance(200)
        pin.fake_level(1)  # released
        got.append(b.pressed())
    emit(check="button", presses=got)


async def byte_counters(url):
    # the client's counters count modulo 2**30: small ints on 32-bit ports; an
    # unsupervised client counts what it publishes too (msgs_out stayed 0 but under a
    # Supervisor, and msgs_in went past 2**30)
    c = Client("long-bytes")
    got = []
    await c.connect(url)
    await c.subscribe("long/bytes", qos=1, handler=lambda m: got.append(1))
    c.bytes_in = c.bytes_out = (1 << 30) - 3
    c.msgs_in = c.msgs_out = (1 << 30) - 2
    await c.publish("long/bytes", b"x" * 10)  # QoS 0, queued by the call
    for _ in range(2):
        await c.publish("long/bytes", b"x" * 10, qos=1)
    for _ in range(200):  # the three messages back
        if len(got) == 3:
            break
        await sleep_ms(10)
    emit(check="bytes", bytes_in=c.bytes_in, bytes_out=c.bytes_out, msgs_in=c.msgs_in,
         msgs_out=c.msgs_out, got=len(got))
    await c.disconnect()


async def main():
    offline_expiry()
    await supervisor_links()
    await fatal_backoff()
    await stale_readings()
    app_clock()
    await boot_join()
    button()
    if len(sys.argv) > 1:
        await byte_counters(sys.argv[1])


asyncio.run(main())
