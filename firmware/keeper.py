"""The keeper: the node's watchdog and last resorts, a task over the App (app.py).

It feeds the watchdog while the readings loop turns and every vital task lives, and
keeps it fed through a connect's blocking DNS lookup (`board.wdt_cover`); it joins
the network at boot (`join`: tried again after a growing pause, however long it takes)
and brings it back when the board says it went; and it resets the board when waiting
will not help: after `broker_timeout_s` without a broker link (a wedged network
stack), or when a link ends by a full heap HEAP_SPAN_MS or more after the first of a
run of HEAP_LOSSES such ends in a row (a heap fragmented for good: a reset starts it
afresh; a heap full for a moment is ridden out, however long the backoff then waits
before the next attempt).
"""

import asyncio
import gc

import board
from app import log, why
from mqtt5._compat import sleep_ms, ticks_diff, ticks_ms
from mqtt5.backoff import reason_key
from mqtt5.supervisor import CONNECTING, UP

HEAP_LOSSES = 5  # links in a row ended by a full heap, the last HEAP_SPAN_MS or more
HEAP_SPAN_MS = 60000  # after the first: then the board is reset


def on_state(app, state, reason):
    """The keeper's part of a link state change (before `App.link`, which clears
    `app.linked`)."""
    board.wdt_cover(state == CONNECTING)  # a connect's DNS lookup blocks the loop
    if state == UP or reason is None:
        return
    if reason_key(reason) != "heap":
        app.heap_losses = 0
        return
    t = app.heap_since
    # a new run, too, after a link that lasted (the heap had room again)
    if not app.heap_losses or app.linked and app.sup.stats.last_up_ms >= HEAP_SPAN_MS:
        app.heap_losses = 0
        t[0], t[1] = app.clock(), app.up_s
    # [ticks, uptime_s] of the run's first loss, and the ms from it to this one: the
    # heap still full that long after (not the time since, which a long backoff after
    # a heap full for a moment also makes long); set in place, as the heap may be full
    t[2] = app.age_ms(t[0], t[1])
    app.heap_losses += 1


async def run(app, vital):
    """Feed the watchdog while the readings loop turns and every (name, task) in
    `vital` lives; bring the network back; reset the board as the module says."""
    wdt = app.cfg["watchdog_ms"]  # (armed by main.py before the tasks start)
    period = max(100, min(1000, wdt // 4)) if wdt else 1000
    rejoin = None  # the task bringing the network back, while it runs
    said = 0  # watchdog_ms 0: a vital task that ended is logged once
    while True:
        since = ticks_diff(ticks_ms(), app.beat)
        ended = False
        for _, task in vital:
            ended = ended or task.done()
        ended = ended and not app.stopping  # (the goodbye ends the supervisor's task)
        if wdt and since < max(wdt, 1000) and not ended:
            board.wdt_feed()
        try:
            if wdt and (ended or since >= max(wdt, 1000)):
                log("watchdog not fed: readings %d ms ago, ended: %s" % (
                    since, ", ".join(n for n, t in vital if t.done()) or "none"))
            elif ended and not said:
                said = 1
                log("task ended: %s (watchdog_ms 0: nothing resets the node)"
                    % ", ".join(n for n, t in vital if t.done()))
            _broker_timeout(app)
            if app.heap_losses >= HEAP_LOSSES and app.heap_since[2] >= HEAP_SPAN_MS:
                log("%d links in a row ended by a full heap in %d s: reset"
                    % (app.heap_losses, app.heap_since[2] // 1000))
                board.reset()
            idle = rejoin is None or rejoin.done()
            if not board.network_ok():
                if app.lost_at is None:
                    app.lost_at = (app.clock(), app.up_s)
                    log("network lost: joining again")
                if idle:
                    rejoin = asyncio.create_task(_rejoin(app))  # this loop feeds on
            elif app.lost_at is not None:  # back (the driver may rejoin by itself)
                _back(app)
            elif idle and board.clock_due():  # network_up tries NTP again
                rejoin = asyncio.create_task(_rejoin(app))
        except MemoryError:
            gc.collect()
        await sleep_ms(period)


def _broker_timeout(app):
    # reset after broker_timeout_s (live: set_config) without a broker link, counted
    # from boot or from the link's loss: a wedged network stack
    bto = app.cfg["broker_timeout_s"]
    if bto and not app.linked and app.age_ms(*app.unlinked) >= bto * 1000:
        log("no broker link for %d s (broker_timeout_s): reset" % bto)
        board.reset()


async def join(app, again=False):
    """The network, at boot and after a loss (`again`), tried again after a pause that
    doubles up to 5 minutes, until it is up (`again`: joined, or back by itself, which
    is looked for during a pause).  At boot, which the keeper's task does not watch yet,
    broker_timeout_s counts here too (a Wi-Fi chip that never starts is a wedged stack)."""
    cfg = app.cfg
    pause = 1000
    while True:
        try:
            await board.network_up(cfg["wifi_ssid"], cfg["wifi_password"],
                                   cfg["network_timeout_ms"])
            return
        except Exception as e:  # NetworkError, or whatever a driver raises: at boot
            # nothing else would catch it, and the watchdog is held (fed by a timer: a
            # board left at the REPL for good); later a rejoin task that died on it was made
            # again every second, each with a "Task exception" traceback
            log("network failed (%s): next try in %d s" % (why(e), pause // 1000))
            for _ in range(pause // 1000):  # looked at each second: after a loss the
                await sleep_ms(1000)  # driver may rejoin by itself, and a pause of
                # minutes must not hold up the next loss; at boot, broker_timeout_s
                if not again:  # may run out meanwhile
                    _broker_timeout(app)
                elif board.network_ok():
                    return
            pause = min(pause * 2, 300000)
            app.clock()  # the uptime stays true however long this takes (ticks wrap)


async def _rejoin(app):
    await join(app, True)
    if board.network_ok():  # (lost again, when a try of the clock alone failed on it)
        _back(app)


def _back(app):
    if app.lost_at is not None:
        app.rejoins += 1
        log("network back after %d ms" % app.age_ms(*app.lost_at))
        app.lost_at = None
