"""What the ESP32 and Pico W board modules share: the Wi-Fi station, the clock set
from NTP once it is up, a debounced button, and the board_api functions both ports
implement alike. Only `machine`/`network` calls both ports' stubs have (the typecheck
runs it against each; host_tests/fakes/ drive it under CPython and the unix port).
Frozen next to `board` as `board_common`; each board re-exports what it uses."""

import gc
import time

import machine
import network
from binascii import hexlify
from mqtt5._compat import const, sleep_ms, ticks_add, ticks_diff, ticks_ms

_DEBOUNCE_MS = const(30)  # button contact bounce settles within this
_POLL_MS = const(100)   # how often the driver's status is read while joining
_RETRY_MS = const(1000)  # a failure reported this long is answered by a new connect()
_NTP_TRIES = const(2)   # NTP queries per attempt to set the clock
_NTP_TIMEOUT_MS = const(1000)  # each waits this long for the answer (the loop runs on)
_NTP_POLL_MS = const(50)  # how often the socket is read meanwhile
_NTP_RETRY_MS = const(300000)  # a clock NTP did not set is tried again this much later
_HOUR_MS = const(3600000)  # the longest piece of a light sleep without a watchdog
_ETIMEDOUT = const(110)  # the error of a query nobody answered (as the ports' sockets)
NTP_PORT = 123  # the NTP server's UDP port (a variable: the tests use a local server)


class NetworkError(Exception):
    """The network could not be brought up; ``args[0]`` is a short reason:
    "wrong_password", "no_ap_found", "timeout", "no_network", "connect_failed",
    "bad_country" (a `WIFI_COUNTRY` the port refuses: not 2 characters)."""


async def join(wlan, ssid, password, timeout_ms, reason_of):
    """Connect the active station ``wlan`` to ``ssid`` within ``timeout_ms``.

    ``reason_of(status)`` maps the port's `WLAN.status()` to None (idle, joining, got
    IP) or a failure reason. A failure reported for `_RETRY_MS` is answered by
    ``disconnect()`` and a fresh ``connect()`` until the deadline (rp2: a failed join is
    final); then it disconnects and raises `NetworkError` with the last failure seen,
    or "timeout" when the driver only said joining (esp32: a wrong password's first).

    esp32 (ports/esp32/network_wlan.c, v1.28): status() is the last disconnect reason,
    which connect() does not reset (only STA_DISCONNECTED ~112 and GOT_IP ~188 set
    it): an old failure would read as this attempt's. The disconnect() first (a
    retry's, the last join's, or after a connect() refused while the driver rejoins)
    sets ASSOC_LEAVE (8), read as STAT_IDLE (~386): a join longer than `_RETRY_MS` is
    not cut short (host_tests: the "slow_*" cases)."""
    if wlan.isconnected():
        return
    if not ssid:
        raise NetworkError("no_network")  # nothing configured to join
    start = ticks_ms()
    failed_at = None
    last = "timeout"
    retry = True
    while True:
        now = ticks_ms()
        if retry:
            retry = False
            failed_at = None
            try:
                wlan.connect(ssid, password)
            except OSError:
                # esp32 refuses while its driver rejoins by itself, as it does after a
                # lost link (ESP_ERR_WIFI_CONN, "Wifi Internal Error"): stop that first
                try:
                    wlan.disconnect()
                    wlan.connect(ssid, password)
                except OSError:
                    if last == "timeout":  # the very first connect() refused: no radio
                        raise NetworkError("no_network")  # (rp2: cyw43 did not start)
                    last = "connect_failed"  # the driver refused: again after _RETRY_MS
                    failed_at = now
        elif wlan.isconnected():
            return
        else:
            reason = reason_of(wlan.status())
            if reason is None:
                failed_at = None
            else:
                last = reason
                if failed_at is None:
                    failed_at = now
        if failed_at is not None and ticks_diff(now, failed_at) >= _RETRY_MS:
            wlan.disconnect()
            retry = True
        if ticks_diff(now, start) >= timeout_ms:
            wlan.disconnect()
            raise NetworkError(last)
        await sleep_ms(_POLL_MS)


_wlan = None  # the station interface, made by the first station_up()
_clock_set = False  # set_clock() succeeded since boot
_clock_retry = None  # the NTP host of a set_clock() that failed, to try again
_clock_tried = ticks_ms()  # when station_up() last began (a retry is due 5 min later)
_ntp_addr = None  # (host, address) of the last NTP host looked up


async def _ntp_time(host):
    """The transmit timestamp (NTP seconds, 32 bits) of NTP server ``host``'s answer.

    Only the DNS lookup of ``host`` blocks (an IP address has none; an armed watchdog
    is fed meanwhile by a timer, `_feeding`); its answer is kept for retries. Up to
    `_NTP_TRIES` requests on a non-blocking UDP socket, read every `_NTP_POLL_MS` for
    `_NTP_TIMEOUT_MS` with the loop free. A reply counts if whole (48 bytes), from a
    server (mode 4), with a nonzero stratum (0: kiss-o'-death). Raises OSError (DNS,
    no route, ETIMEDOUT: none counted) or ValueError (only bad replies came).
    """
    import socket
    global _ntp_addr
    if _ntp_addr is None or _ntp_addr[0] != host:  # (a retry after a lost reply: none)
        t = _feeding()  # getaddrinfo blocks; rp2's lwIP waits ~7 s per silent DNS server,
        try:  # past its 8.4 s watchdog, and runs scheduled callbacks meanwhile (esp32's
            addr = socket.getaddrinfo(host, NTP_PORT)[0][-1]  # does not: watchdog_ms)
        finally:
            if t is not None:
                t.deinit()
        _ntp_addr = (host, addr)
    addr = _ntp_addr[1]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setblocking(False)
        query = bytearray(48)
        query[0] = 0x1B  # LI 0, version 3, mode 3: a client's request
        err = None
        for _ in range(_NTP_TRIES):
            s.sendto(query, addr)
            end = ticks_add(ticks_ms(), _NTP_TIMEOUT_MS)
            while ticks_diff(end, ticks_ms()) > 0:
                await sleep_ms(_NTP_POLL_MS)
                try:
                    msg = s.recv(48)
                except OSError:  # EAGAIN: nothing yet
                    continue
                if len(msg) == 48 and msg[0] & 7 == 4 and msg[1]:
                    import struct
                    return struct.unpack("!I", msg[40:44])[0]
                err = ValueError("kiss-o'-death" if len(msg) == 48 and msg[0] & 7 == 4
                                 else "bad reply")
        raise err or OSError(_ETIMEDOUT)
    finally:
        s.close()


async def set_clock(host):
    """Set the RTC to UTC from NTP server ``host`` (`_ntp_time`); True when it is set.

    The loop runs on meanwhile (the keeper feeds the watchdog), but for the DNS lookup
    of ``host``. Converted as micropython-lib's `ntptime` does (timestamps before 2024
    are past the 2036 wrap; the port's epoch is 2000 or 1970). A failure prints one
    line and returns False: the node goes on (mqtt:// needs no clock; mqtts:// then
    refuses the server's certificate as not yet valid, the clock being years behind).
    """
    try:
        t = await _ntp_time(host)
        if t < 3913056000:  # 2024-01-01 as an NTP timestamp: earlier ones are past 2036
            t += 0x100000000
        epoch = time.gmtime(0)[0]
        if epoch == 2000:
            t -= 3155673600  # (date(2000, 1, 1) - date(1900, 1, 1)).days * 24*60*60
        elif epoch == 1970:
            t -= 2208988800  # (date(1970, 1, 1) - date(1900, 1, 1)).days * 24*60*60
        else:
            raise ValueError("unsupported epoch %d" % epoch)
        tm = time.gmtime(t)
        machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6] + 1, tm[3], tm[4], tm[5], 0))
    except Exception as e:  # OSError (DNS, timeout), ValueError (bad replies)
        print("board: clock NOT set from NTP %s (%s %s): TLS will refuse certificates as "
              "not yet valid; next try in %d min" % (host, type(e).__name__, e,
                                                      _NTP_RETRY_MS // 60000))
        return False
    print("board: clock set from NTP %s: %04d-%02d-%02d %02d:%02d:%02d UTC"
          % ((host,) + tm[:6]))
    return True


async def station_up(ssid, password, timeout_ms, reason_of, country, power_save, ntp_host):
    """board_api's `network_up` for a `network.WLAN` station.

    ``country``: a regulatory domain to set first (None: keep the driver's);
    ``power_save``: True PM_POWERSAVE, False PM_NONE, None the driver's default.
    A radio that does not come up raises `NetworkError` "no_network" (esp32 raises
    from ``active(True)``; rp2 prints "[CYW43] Failed to start CYW43", then refuses
    ``connect()`` with EPERM). True when it joined, False when connected already.
    Once connected, the clock is set from NTP server ``ntp_host`` (`set_clock`) until
    that worked once since boot; None: never. After a failure (of that, or of this
    call), `clock_due` reads True once a retry is due: the keeper then calls
    `network_up` again (the join returns at once)."""
    global _wlan, _clock_set, _clock_retry, _clock_tried
    _clock_tried = ticks_ms()  # a try that raises below waits as long for the next
    try:
        if _wlan is None:
            _wlan = network.WLAN(network.STA_IF)
            if _wlan.active():  # up since before a soft reset (a deploy, `config --reset`):
                _wlan.disconnect()  # no port resets the radio then, and esp32's driver
                _wlan.active(False)  # rejoins by itself: joined afresh, this config's way
        if country:
            try:
                network.country(country)  # before active(True): the driver reads it there
            except ValueError:
                raise NetworkError("bad_country")
        _wlan.active(True)  # rp2: True even when the cyw43 failed to start
        if power_save is not None:
            _wlan.config(pm=_wlan.PM_POWERSAVE if power_save else _wlan.PM_NONE)
    except OSError:
        raise NetworkError("no_network")
    joined = not _wlan.isconnected()
    await join(_wlan, ssid, password, timeout_ms, reason_of)
    if ntp_host and not _clock_set:
        _clock_set = await set_clock(ntp_host)
        _clock_retry = None if _clock_set else ntp_host
        _clock_tried = ticks_ms()
    return joined


def network_ok():
    return _wlan is not None and _wlan.isconnected()  # a link and an address


def clock_due():
    """True when a clock NTP did not set is due for another try (every `_NTP_RETRY_MS`,
    or the last is so old that ticks_diff() wrapped: 6.2 days on 32-bit ports)."""
    d = ticks_diff(ticks_ms(), _clock_tried)
    return _clock_retry is not None and (d < 0 or d >= _NTP_RETRY_MS)


def rssi():  # the station's signal strength in dBm, None while not connected
    wlan = _wlan
    if wlan is None or not wlan.isconnected():
        return None
    try:
        return wlan.status("rssi")
    except OSError:  # esp32: the link went between the two calls (no AP info); the
        return None  # stats task that asks must not die of it (then the watchdog)


def unique_id():
    return hexlify(machine.unique_id()).decode()  # lowercase hex


def mem_free():
    return gc.mem_free()


def config_dir():
    return "/"


_wdt = None
_wdt_ms = 0
_hold = None  # the machine.Timer of wdt_hold()
_cover = None  # [the machine.Timer of wdt_cover(True), ticks_ms when it stops feeding]
COVER_MS = 20000  # wdt_cover(True) feeds at most this long: a lookup's worst case (two
# silent DNS servers, ~7 s each); a loop blocked longer (a hung driver) then resets
TIMER_ID = -1  # the machine.Timer board_common uses: -1 virtual (rp2); the esp32 board sets 0
_button = None
_led = None


def wdt_start(timeout_ms):
    """Arm `machine.WDT` (again: a new timeout); `wdt_feed()` must then come every
    ``timeout_ms``. It ends a `wdt_hold()`."""
    global _wdt, _wdt_ms, _hold
    if _hold is not None:
        _hold.deinit()
        _hold = None
    _wdt = machine.WDT(timeout=timeout_ms)
    _wdt_ms = timeout_ms


def wdt_feed(_timer=None):
    if _wdt is not None:
        _wdt.feed()


def _feeding(feed=wdt_feed):
    """A `machine.Timer` (`TIMER_ID`) calling ``feed`` for an armed watchdog from now on,
    or None (none armed, or wdt_hold's feeds it). Its callback is scheduled: it runs
    between bytecodes, at the REPL, and while rp2 waits in a blocking call."""
    if _wdt is None or _hold is not None:
        return None
    t = machine.Timer(TIMER_ID)
    t.init(mode=machine.Timer.PERIODIC, period=max(100, min(1000, _wdt_ms // 4)),
           callback=feed)
    return t


def _cover_feed(_timer=None):
    if _cover is not None and ticks_diff(_cover[1], ticks_ms()) > 0:
        wdt_feed()


def wdt_cover(on):
    """board_api's `wdt_cover`: `_feeding` with `_cover_feed`, at most `COVER_MS`."""
    global _cover
    if _cover is not None:
        _cover[0].deinit()
        _cover = None
    if on:
        t = _feeding(_cover_feed)
        if t is not None:
            _cover = [t, ticks_add(ticks_ms(), COVER_MS)]


def wdt_hold():
    """board_api's `wdt_hold` (`_feeding` until a soft reset stops the timer)."""
    global _hold
    if _hold is None:
        _hold = _feeding()


def button_pressed_on(pin_id, hard=False):
    """board_api's `button_pressed` for a button from ``pin_id`` to ground; ``hard``:
    its IRQ runs at the edge (a port with hard pin IRQs), not when the VM next
    runs scheduled callbacks."""
    global _button
    if _button is None:
        _button = Button(machine.Pin(pin_id, machine.Pin.IN, machine.Pin.PULL_UP),
                         _DEBOUNCE_MS, hard)
    return _button.pressed()


def led_on(pin_id, on):
    """board_api's `led` for an LED on ``pin_id`` (a GPIO number or a name)."""
    global _led
    if _led is None:
        _led = machine.Pin(pin_id, machine.Pin.OUT)
    _led.value(1 if on else 0)


def default_broker():
    # mDNS name of a broker on the local network (both ports' lwIP/ESP-IDF resolve
    return "mqtt://mqtt.local:1883"  # .local names); the config's `brokers` usually names one


def reset():
    machine.reset()


def deepsleep(ms, light=False):
    """board_api's `deepsleep`. ``light``: the port's is a light sleep that any
    interrupt ends, then a reset (rp2: its machine.deepsleep() woke at the first USB or
    Wi-Fi interrupt and reset at once): slept as `lightsleep` does, by the clock and in
    fed pieces, then `machine.reset()`."""
    if light:
        lightsleep(ms)
        machine.reset()
    machine.deepsleep(ms)


def lightsleep(ms):
    """board_api's `lightsleep`, until `ms` have passed by the clock (rp2 returns at once
    while a Wi-Fi event is pending, and wakes on interrupts), in pieces of half an armed
    watchdog's timeout, fed after each (rp2: 8.4 s at most), else of an hour (rp2
    refuses 72 minutes and more)."""
    step = _wdt_ms // 2 if _wdt is not None else _HOUR_MS
    while ms > 0:
        t = ticks_ms()
        machine.lightsleep(ms if ms < step else step)
        if _wdt is not None:
            wdt_feed()
        ms -= ticks_diff(ticks_ms(), t)


class Button:
    """A push button to ground on ``pin`` (input with pull-up), debounced in its IRQ.

    Every edge restarts a quiet period of ``debounce_ms``; a falling edge after a
    quiet period, while released, is one press. Released or held is the level the
    handler read at its last run (any later edge runs it again, so once the contact
    has settled it is the button's). Contact bounce on press and release therefore
    counts once, and presses are not lost between polls. The falling edge is known
    from the IRQ's flags() where the port has it (rp2 latches the edges that fired at
    the interrupt, ports/rp2/machine_pin.c gpio_irq: a bounce back up before the
    handler runs hides nothing, and a release's bounce down and up again, latched too,
    is no press: the button was held). esp32's IRQ object has no flags() (its
    machine_pin.c, v1.28), but its soft handler runs once per edge (each scheduled at
    the interrupt): the first edge after a quiet period while released can only be a
    fall, so it is a press whatever the pin reads by the time the handler runs (a
    contact bounced back up, or a press already over after a blocking call).

    A soft IRQ runs when the VM next runs scheduled callbacks: after a blocking call (a
    DNS lookup, a flash write). With ``hard`` the handler runs at the edge; it
    allocates nothing.
    """

    def __init__(self, pin, debounce_ms, hard=False):
        self.presses = 0
        self._held = not pin.value()  # the level at the handler's last run
        self._ms = debounce_ms
        self._last = ticks_add(ticks_ms(), -debounce_ms)
        trigger = pin.IRQ_FALLING | pin.IRQ_RISING
        self._flags = None  # first: rp2 enables the IRQ inside pin.irq(), and a hard
        # handler that raised (an edge before this was set) is switched off for good
        if hard:
            irq = pin.irq(handler=self._edge, trigger=trigger, hard=True)
        else:  # (the esp32 port has no hard pin IRQs)
            irq = pin.irq(handler=self._edge, trigger=trigger)
        self._flags = getattr(irq, "flags", None)  # made here: the handler allocates nothing

    def _edge(self, pin):
        now = ticks_ms()
        d = ticks_diff(now, self._last)  # < 0: quiet for over half the ticks period
        flags = self._flags
        up = pin.value()
        fell = flags() & pin.IRQ_FALLING if flags is not None else True  # (esp32: the
        # edge of a run after a quiet period while released: a fall)
        if fell and not self._held and (d < 0 or d >= self._ms):
            self.presses += 1
        self._held = not up
        self._last = now

    def pressed(self):
        """True once per debounced press since the last call."""
        irq = machine.disable_irq()  # no press's += between this read and the write (a
        n = self.presses  # hard IRQ's; a soft one runs at a jump, as an `if` would make)
        self.presses = n - (n > 0)
        machine.enable_irq(irq)
        return n > 0
