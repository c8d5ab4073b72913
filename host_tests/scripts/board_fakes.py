# The ESP32 and Pico W board modules against the fake machine/network pair
# (host_tests/fakes/): Wi-Fi retry, timeouts, reasons, a vanishing AP, a
# bouncing button, sensors, watchdog, reset cause. Both runtimes. Time is virtual
# (`Clock`): the joins' deadlines and the button's debounce are the board's own, in
# its own ms, and none is waited for in real time.
#   board_fakes.py <esp32|rp2_pico_w>
import asyncio
import json
import sys

import board_env

BOARD = sys.argv[1]

board_env.use(BOARD)
import machine  # noqa: E402
import network  # noqa: E402
machine.Pin.fake_irq_flags = BOARD != "esp32"  # rp2's pin IRQ has flags(), esp32's not
import board  # noqa: E402
import board_common  # noqa: E402
from mqtt5._compat import ticks_diff  # noqa: E402

AIR = network.AIR


class Clock:
    """Virtual milliseconds, for the board module (board_common's ticks_ms and
    sleep_ms), the fake driver (network.ticks_ms) and this script. A task's sleep_ms()
    ends when the clock reaches its end; `run` moves the clock to the earliest end once
    the tasks that can run have run (until each waits again), so what a case measures is
    the board's own arithmetic, whatever the machine's load, and takes no real time."""

    def __init__(self):
        self.now = 0
        self.waits = []  # (end, order, asyncio.Event) of each sleeping task
        self.order = 0

    def ticks_ms(self):
        return self.now

    async def sleep_ms(self, ms):
        ev = asyncio.Event()
        self.order += 1
        self.waits.append((self.now + ms, self.order, ev))
        await ev.wait()

    async def run(self):
        while True:
            for _ in range(5):  # the tasks woken (and made) run on to their next wait
                await asyncio.sleep(0)
            if self.waits:
                w = min(self.waits)
                self.waits.remove(w)
                self.now = max(self.now, w[0])
                w[2].set()

    def use(self, board_common_module):
        """The board module's clock is this one (again after a re-import)."""
        board_common_module.ticks_ms = self.ticks_ms
        board_common_module.sleep_ms = self.sleep_ms


CLOCK = Clock()
ticks_ms = CLOCK.ticks_ms
_sleep_ms = CLOCK.sleep_ms
network.ticks_ms = CLOCK.ticks_ms
CLOCK.use(board_common)
board.NTP_HOST = None  # no clock set from NTP here (board_clock.py tests it): that looked
# up pool.ntp.org for real, and queried it where the machine is online


def emit(**rec):
    print(json.dumps(rec))


async def up(ssid, password, timeout_ms):
    """network_up's outcome: (reason or "ok", connect() calls, elapsed ms)."""
    AIR.connects = 0
    t0 = ticks_ms()
    try:
        await board.network_up(ssid, password, timeout_ms)
        reason = "ok"
    except board.NetworkError as e:
        reason = e.args[0]
    return reason, AIR.connects, ticks_diff(ticks_ms(), t0)


async def wifi():
    AIR.aps = {"home": ("secret", -61)}
    emit(case="before", ok=board.network_ok(), rssi=board.rssi())
    AIR.fail_joins = 2
    reason, n, ms = await up("home", "secret", 10000)
    emit(case="fail_twice", reason=reason, connects=n, ms=ms, ok=board.network_ok(),
         rssi=board.rssi())
    reason, n, ms = await up("home", "secret", 10000)
    emit(case="already_up", reason=reason, connects=n, ms=ms)
    del AIR.aps["home"]  # the AP vanishes
    emit(case="vanished", ok=board.network_ok(), rssi=board.rssi())
    reason, n, ms = await up("home", "secret", 1500)
    emit(case="vanished_up", reason=reason, connects=n, ms=ms, ok=board.network_ok())
    AIR.aps["home"] = ("secret", -70)  # it comes back
    reason, n, ms = await up("home", "secret", 10000)
    emit(case="back", reason=reason, connects=n, ok=board.network_ok(), rssi=board.rssi())
    AIR.rssi_fails = True  # esp32: the link goes between isconnected() and status("rssi")
    emit(case="rssi_race", rssi=board.rssi())
    AIR.rssi_fails = False
    board_common._wlan.disconnect()
    reason, n, ms = await up("home", "wrong", 1500)
    emit(case="wrong_password", reason=reason, connects=n, ms=ms, ok=board.network_ok())
    reason, n, ms = await up("elsewhere", "secret", 1500)
    emit(case="no_ap", reason=reason, connects=n, ms=ms)
    AIR.join_ms = 60000  # the driver says "joining" forever
    reason, n, ms = await up("home", "secret", 800)
    emit(case="timeout", reason=reason, connects=n, ms=ms)
    AIR.join_ms = 30
    reason, n, ms = await up("", "", 1000)
    emit(case="no_ssid", reason=reason, connects=n)
    board_common._wlan = None
    AIR.radio = False
    reason, n, ms = await up("home", "secret", 1000)
    emit(case="no_radio", reason=reason, connects=n)
    AIR.radio = True
    board.WIFI_COUNTRY = "Deutschland"  # refused by the port (ValueError): a NetworkError
    reason, n, ms = await up("home", "secret", 5000)
    emit(case="bad_country", reason=reason, connects=n)
    board.WIFI_COUNTRY, board.WIFI_POWER_SAVE = "DE", False
    reason, n, ms = await up("home", "secret", 5000)
    emit(case="options", reason=reason, country=network.country(),
         pm_none=board_common._wlan.config("pm") == network.WLAN.PM_NONE)
    # joins slower than board_common's _RETRY_MS: an AP absent (its failure the last
    # the driver reported), then back; then one back in the middle of a join
    AIR.join_ms = 1500
    board_common._wlan.disconnect()
    del AIR.aps["home"]
    reason, n, ms = await up("home", "secret", 2000)
    emit(case="slow_absent", reason=reason, connects=n, ms=ms)
    AIR.aps["home"] = ("secret", -61)
    reason, n, ms = await up("home", "secret", 10000)
    emit(case="slow_back", reason=reason, connects=n, ms=ms, ok=board.network_ok())
    board_common._wlan.disconnect()
    del AIR.aps["home"]
    asyncio.create_task(ap_back_after(1700))
    reason, n, ms = await up("home", "secret", 10000)
    emit(case="slow_midway", reason=reason, connects=n, ms=ms, ok=board.network_ok())
    # a wrong password and a join of 1 s, 1.5 s to join: esp32's first failed join is a
    # handshake timeout (15), which its status() reads as "connecting"
    AIR.join_ms = 1000
    board_common._wlan.disconnect()
    reason, n, ms = await up("home", "wrong", 1500)
    emit(case="wrong_password_slow", reason=reason, connects=n, ms=ms)
    AIR.join_ms = 30
    # a soft reset after `fieldnode config set wifi_ssid=work --reset`: the port keeps
    # the station joined to "home", and the board module, imported afresh, took that
    # for up (the new settings never applied)
    reason, n, ms = await up("home", "secret", 5000)
    AIR.aps["work"] = ("pw2", -55)
    for name in ("board", "board_common"):
        del sys.modules[name]
    import board as again
    CLOCK.use(again.board_common)
    again.NTP_HOST = None
    joined = await again.network_up("work", "pw2", 5000)
    emit(case="soft_reset", joined=joined, ssid=again.board_common._wlan._ssid,
         ok=again.network_ok(), was=reason)


async def ap_back_after(ms):
    await _sleep_ms(ms)
    AIR.aps["home"] = ("secret", -61)


def sleep_ms(ms):
    CLOCK.now += ms  # (the button's IRQs run at the edges the script makes)


def bounce(pin, final, edges=5, gap_ms=1):
    for i in range(edges):
        pin.fake_level(final if i % 2 == 0 else 1 - final)
        sleep_ms(gap_ms)
    pin.fake_level(final)


def button():
    before = board.button_pressed()  # creates the button
    pin = [p for p in machine.Pin.fake_pins.values() if p._handler is not None][0]
    counts = []
    for hold_ms in (80, 200):
        bounce(pin, 0)        # press, bouncing
        sleep_ms(hold_ms)
        bounce(pin, 1)        # release, bouncing
        sleep_ms(60)
        n = 0
        while board.button_pressed():
            n += 1
        counts.append(n)
    # two clean presses before anyone asks: both are kept
    for _ in range(2):
        pin.fake_level(0)
        sleep_ms(40)
        pin.fake_level(1)
        sleep_ms(40)
    queued = [board.button_pressed(), board.button_pressed(), board.button_pressed()]
    # a press whose contact bounces back up before the handler runs, then down again
    # within the debounce time, and held: rp2's handler finds the falling edge in flags()
    sleep_ms(40)
    pin.fake_edges(0, 1)
    sleep_ms(3)
    pin.fake_level(0)
    sleep_ms(80)
    pin.fake_level(1)
    sleep_ms(40)
    fast = [board.button_pressed(), board.button_pressed()]
    # a press held, released with a bounce down and up again before the handler runs:
    # rp2's flags() hold that bounce's falling edge too
    pin.fake_level(0)
    sleep_ms(200)
    pin.fake_edges(1, 0, 1)
    sleep_ms(100)
    release = [board.button_pressed(), board.button_pressed()]
    emit(case="button", before=before, pin=pin.id, pull_up=pin.pull == machine.Pin.PULL_UP,
         hard=pin._hard, counts=counts, queued=queued, fast_bounce=fast,
         release_bounce=release,
         race=_press_while_taken(pin) if pin._hard else None)


def _press_while_taken(pin):
    """CPython: a press whose hard IRQ comes while pressed() takes the one before, just
    before it writes `presses` back (traced by opcode); what pressed() then says."""
    if sys.implementation.name != "cpython":
        return None
    import dis
    code = board_common.Button.pressed.__code__
    stores = {i.offset for i in dis.get_instructions(code)
              if i.opname == "STORE_ATTR" and i.argval == "presses"}
    fired = []

    def trace(frame, event, arg):
        if frame.f_code is not code:
            return None
        frame.f_trace_opcodes = True
        if event == "opcode" and frame.f_lasti in stores and not fired:
            fired.append(1)
            pin.fake_level(0)
        return trace

    pin.fake_level(0)
    sleep_ms(40)
    pin.fake_level(1)
    sleep_ms(40)  # one press queued, the button quiet since
    sys.settrace(trace)
    try:
        first = board.button_pressed()
    finally:
        sys.settrace(None)
    pin.fake_level(1)
    return [first, board.button_pressed(), board.button_pressed(), len(fired)]


def sensors():
    rec = {"case": "sensors", "names": sorted(board.SENSORS)}
    if BOARD == "esp32":
        import esp32
        esp32.RAW_TEMPERATURE[0] = 122
        rec["t_122F"] = board.read_sensor("temperature")
        esp32.RAW_TEMPERATURE[0] = 128  # read while the sensor is not ready
        try:
            rec["t_128F"] = board.read_sensor("temperature")
        except OSError as e:
            rec["t_128F"] = str(e)
        esp32.RAW_TEMPERATURE[0] = 122
    else:
        for volts_x1000, key in ((706, "t_0706"), (0, "t_0"), (3300, "t_3300")):
            machine.fake_adc[4] = volts_x1000 * 65535 // 3300
            rec[key] = board.read_sensor("temperature")
        ctrl, pad = 0x400140EC, 0x4001C078
        machine.mem32.regs.update({ctrl: 6, pad: 0x56})   # as the cyw43 PIO left it
        machine.fake_adc[3] = MemoryError()  # a read that fails with GPIO29 switched
        try:
            board.read_sensor("vsys")
        except MemoryError:
            pass
        rec["restored_after_error"] = [machine.mem32[ctrl], machine.mem32[pad],
                                       machine.fake_state["irq_off"] == 0]
        del machine.mem32.writes[:]
        machine.fake_adc[3] = 5000 // 3 * 65535 // 3300  # 5.0 V on VSYS, 1:3 divider
        rec["vsys"] = board.read_sensor("vsys")
        rec["restored"] = [machine.mem32[ctrl], machine.mem32[pad]]
        rec["writes_with_irq_off"] = all(w[2] > 0 for w in machine.mem32.writes)
        rec["analog_during_read"] = [w[1] for w in machine.mem32.writes[:2]]
        rec["irq_on_after"] = machine.fake_state["irq_off"] == 0
    try:
        board.read_sensor("nope")
    except ValueError as e:
        rec["unknown"] = str(e)
    emit(**rec)


def _soft_reset_import():
    # the board imported again, as after a soft reset: (the module, the timers it
    # started, each fired once, the watchdog then)
    machine.fake_state["wdt"] = None
    n = len(machine.fake_state["timers"])
    for name in ("board", "board_common"):
        del sys.modules[name]
    import board as again
    CLOCK.use(again.board_common)
    hold = machine.fake_state["timers"][n:]
    for t in hold:
        t.fake_fire()
    return again, hold, machine.fake_state["wdt"]


def system():
    rec = {"case": "system", "id": board.unique_id(), "name": board.NAME,
           "config_dir": board.config_dir(), "broker": board.default_broker(),
           "armed_at_import": machine.fake_state["wdt"] is not None}
    causes = []
    if BOARD == "esp32":
        for code in (machine.PWRON_RESET, machine.HARD_RESET, machine.WDT_RESET,
                     machine.DEEPSLEEP_RESET, machine.SOFT_RESET, 99):
            machine.fake_state["reset_cause"] = code
            causes.append(board.reset_cause())
    else:  # the watchdog's REASON (TIMER 1, FORCE 2) and SCRATCH0 (deepsleep's mark)
        # after a chip reset, which sets BUSCTRL PERFSEL3 back to 0x1f; then again after a
        # soft reset, which leaves all three as they were
        regs = machine.mem32.regs
        for reason, scratch in ((0, 0), (1, 0), (2, 0), (2, 0x6465), (1, 0x6465), (0, 7)):
            regs.update({0x40058008: reason, 0x4005800C: scratch, 0x40030024: 0x1F})
            causes.append([board._cause(), regs[0x4005800C], board._cause()])
        rec["cause_at_import"] = board.reset_cause()
    rec["causes"] = causes
    board.wdt_feed()  # before wdt_start: a no-op
    board.wdt_start(20000)
    board.wdt_feed()
    board.wdt_feed()
    wdt = machine.fake_state["wdt"]
    rec["wdt"] = [wdt.timeout, wdt.feeds]
    # a broker connect's DNS lookup blocks the loop: a timer feeds meanwhile, for at
    # most COVER_MS (rp2; esp32's lookup runs no timer callbacks: none made)
    timers = machine.fake_state["timers"]
    n, feeds = len(timers), wdt.feeds
    board.wdt_cover(True)
    made = timers[n:]
    for t in made:
        t.fake_fire()
    fed = wdt.feeds - feeds
    board.wdt_cover(False)
    cover = [[t.period for t in made], fed, [t.callback is None for t in made]]
    real, board_common.COVER_MS = board_common.COVER_MS, 0  # its time is up at once
    board.wdt_cover(True)
    feeds = wdt.feeds
    for t in timers[n + len(made):]:
        t.fake_fire()
    cover.append(wdt.feeds - feeds)
    board.wdt_cover(False)
    board_common.COVER_MS = real
    rec["cover"] = cover
    # stopped with Ctrl-C: a timer keeps the watchdog fed at the REPL
    n, feeds = len(timers), wdt.feeds
    board.wdt_hold()
    board.wdt_hold()  # once is enough: no second timer
    for _ in range(3):
        timers[n].fake_fire()
    rec["hold"] = [len(timers) - n, timers[n].id, timers[n].mode == machine.Timer.PERIODIC,
                   timers[n].period, wdt.feeds - feeds]
    board.led(True)
    pins = machine.Pin.fake_pins
    led = pins["LED"] if BOARD == "rp2_pico_w" else pins[2]
    rec["led"] = [led.value()]
    board.led(False)
    rec["led"].append(led.value())
    real_ticks, board_common.ticks_ms = board_common.ticks_ms, machine.fake_ticks_ms
    board.lightsleep(250)
    rec["lightsleep"] = machine.fake_state["lightsleep"][:]
    # rp2 returns at once while a Wi-Fi event is pending, and wakes on interrupts: the
    # sleep goes on until its time has passed (it ended at the first wake)
    del machine.fake_state["lightsleep"][:]
    machine.fake_state["wake_after"][:] = [0, 300]
    t0 = machine.fake_state["now"]
    board.lightsleep(1000)
    rec["early_lightsleep"] = [machine.fake_state["lightsleep"][:],
                               machine.fake_state["now"] - t0]
    # longer than the armed watchdog allows (rp2: 8388 ms): slept in fed pieces
    del machine.fake_state["lightsleep"][:]
    feeds = wdt.feeds
    board.lightsleep(20000)
    rec["long_lightsleep"] = [machine.fake_state["lightsleep"][:], wdt.feeds - feeds]
    del machine.fake_state["lightsleep"][:]
    try:
        board.deepsleep(20000)
    except SystemExit:
        pass
    rec["long_deepsleep"] = [machine.fake_state["lightsleep"][:],
                             machine.fake_state["deepsleep"][:]]
    # no watchdog: pieces of an hour (rp2 refuses 72 minutes and more, deep sleep too)
    real_wdt, board_common._wdt = board_common._wdt, None
    del machine.fake_state["lightsleep"][:]
    del machine.fake_state["deepsleep"][:]
    board.lightsleep(7200005)
    try:
        board.deepsleep(7200000)
    except SystemExit:
        pass
    rec["hours"] = [machine.fake_state["lightsleep"][:], machine.fake_state["deepsleep"][:]]
    board_common._wdt = real_wdt
    del machine.fake_state["lightsleep"][:]
    del machine.fake_state["deepsleep"][:]
    for call in (board.reset, lambda: board.deepsleep(1000)):
        try:
            call()
            rec.setdefault("reboots", []).append(False)
        except SystemExit as e:
            rec.setdefault("reboots", []).append(str(e))
    board_common.ticks_ms = real_ticks
    rec["deepsleep"] = [machine.fake_state["lightsleep"][:], machine.fake_state["deepsleep"]]
    if BOARD == "esp32":
        # after a soft reset a watchdog armed before it may run on (the port cannot stop
        # one; nothing fed it, and a config with watchdog_ms 0 never armed it again: the
        # board reset): the board, imported again, takes it over at 600 s, fed by a timer
        # until the node arms its own
        machine.fake_state["reset_cause"] = machine.SOFT_RESET
        again, hold, wdt = _soft_reset_import()
        rec["adopted"] = [wdt and wdt.timeout, wdt and wdt.feeds, [t.id for t in hold]]
        if wdt:
            again.wdt_start(20000)  # the node's own: the hold ends
            rec["adopted"] += [machine.fake_state["wdt"].timeout, hold[0].callback is None]
    if BOARD == "rp2_pico_w":
        rec["deepsleep_mark"] = machine.mem32[0x4005800C]
        # a watchdog a soft reset left armed (CTRL ENABLE): the board, imported again,
        # arms it at its most and a timer feeds it until the node arms its own
        machine.mem32.regs[0x40058000] = 0x40000000 | 0x7FFFFF
        again, hold, wdt = _soft_reset_import()
        rec["adopted"] = [wdt.timeout, wdt.feeds, len(hold)]
        rec["cause_after_soft_reset"] = again.reset_cause()
        again.wdt_start(5000)  # the node's own: the hold ends
        hold[0].fake_fire()
        rec["adopted"] += [machine.fake_state["wdt"].timeout, machine.fake_state["wdt"].feeds,
                           hold[0].callback is None]
    emit(**rec)


async def main():
    clock = asyncio.create_task(CLOCK.run())
    await wifi()
    clock.cancel()


asyncio.run(main())
button()
sensors()
system()
emit(case="done")
