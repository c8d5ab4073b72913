"""board_fakes.py's system case: unique id, config dir, reset causes, the watchdog
(fed, covered during a DNS lookup, held at the REPL, taken over after a soft reset),
the LED, light and deep sleep in fed pieces, reboots."""
import sys

from board_fakes_setup import BOARD, CLOCK, emit  # (first: the fakes)
import board
import board_common
import machine


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
