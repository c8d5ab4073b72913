"""Test-only stand-in for MicroPython's `machine` module (esp32 and rp2 ports).

Signatures mirror the ports' stubs (checked by host_tests/test_board_fakes.py).
Test controls have names starting with ``fake_``: ``fake_adc`` (channel -> 16-bit
reading), ``fake_state`` (reset cause, unique id, sleeps, interrupt nesting,
watchdog, the RTC's time and every time it was set; ``now``, the ms a light sleep
advances ``fake_ticks_ms()`` by, and ``wake_after``, the ms after which the next light
sleeps wake early, as rp2's do), ``Pin.fake_level()`` (drive an
input and fire its IRQ like the port's edge detector), ``Pin.fake_edges()`` (edges
faster than the IRQ handler), ``Pin.fake_irq_flags`` (rp2's IRQ object, with flags(),
else esp32's), ``Timer.fake_fire()`` (its period elapsed), and ``mem32`` is a plain
register file. A hard IRQ that fires while ``disable_irq()`` is in force runs at the
``enable_irq()`` that ends it, as on the ports.
"""

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

fake_adc = {}
fake_state = {"reset_cause": PWRON_RESET, "unique_id": b"\xe6\x61\x41\x04\x03\x2f\x5a\x2b",
              "irq_off": 0, "irq_off_max": 0, "lightsleep": [], "deepsleep": [],
              "resets": 0, "wdt": None, "timers": [],
              "rtc": (2000, 1, 1, 6, 0, 0, 0, 0), "rtc_set": [], "now": 0,
              "wake_after": []}


class _Mem:
    def __init__(self):
        self.regs = {}
        self.writes = []

    def __getitem__(self, addr):
        return self.regs.get(addr, 0)

    def __setitem__(self, addr, value):
        self.writes.append((addr, value, fake_state["irq_off"]))
        self.regs[addr] = value


mem32 = _Mem()


def unique_id():
    return fake_state["unique_id"]


def reset_cause():
    return fake_state["reset_cause"]


def disable_irq():
    fake_state["irq_off"] += 1
    fake_state["irq_off_max"] = max(fake_state["irq_off_max"], fake_state["irq_off"])
    return fake_state["irq_off"]


def enable_irq(state):
    fake_state["irq_off"] -= 1
    pending = fake_state.setdefault("irq_pending", [])
    while not fake_state["irq_off"] and pending:
        pending.pop(0)()


class _Reboot(SystemExit):
    """What the fake raises where the real board would reboot."""


def reset():
    fake_state["resets"] += 1
    raise _Reboot("reset")


def deepsleep(time_ms=None):
    fake_state["deepsleep"].append(time_ms)
    raise _Reboot("deepsleep")


def lightsleep(time_ms=None):
    fake_state["lightsleep"].append(time_ms)
    early = fake_state["wake_after"]
    fake_state["now"] += min(time_ms, early.pop(0)) if early else time_ms


def fake_ticks_ms():
    """The clock light sleeps advance (not the port's: a board module reads it in
    place of ``ticks_ms`` where a test puts it)."""
    return fake_state["now"]


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    IRQ_FALLING = 4
    IRQ_RISING = 8
    fake_pins = {}

    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=None, alt=None):
        self.id = id
        self.mode = mode
        self.pull = pull
        self._level = 1 if pull == Pin.PULL_UP else (value or 0)
        self._handler = None
        self._trigger = 0
        Pin.fake_pins[id] = self

    def value(self, x=None):
        if x is None:
            return self._level
        self._level = 1 if x else 0
        return None

    def irq(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING, *, priority=1,
            wake=None, hard=False):
        self._handler = handler
        self._trigger = trigger
        self._hard = hard
        self._flags = 0
        return (_IrqFlags if Pin.fake_irq_flags else _Irq)(self)

    fake_irq_flags = True

    def fake_level(self, level):
        """Drive the input to ``level``; an edge the trigger selects calls the handler."""
        self.fake_edges(level)

    def fake_edges(self, *levels):
        """Drive the input through ``levels`` faster than its IRQ handler runs: rp2's
        (``fake_irq_flags``) runs once, its flags() every edge that fired (latched at
        the interrupt, ports/rp2/machine_pin.c gpio_irq); esp32's soft handler runs
        once per edge, after the last (each reads the pin as it is then)."""
        fired = []
        for level in levels:
            if level != self._level:
                self._level = level
                edge = Pin.IRQ_RISING if level else Pin.IRQ_FALLING
                if self._trigger & edge:
                    fired.append(edge)
        if self._handler is None or not fired:
            return
        if Pin.fake_irq_flags:
            flags = 0
            for edge in fired:
                flags |= edge
            fired = [flags]
        for flags in fired:
            self._fire(flags)

    def _fire(self, flags):
        def run():
            self._flags = flags
            self._handler(self)
        if self._hard and fake_state["irq_off"]:  # held until enable_irq()
            fake_state.setdefault("irq_pending", []).append(run)
        else:
            run()


class _Irq:
    """What Pin.irq() returns on esp32: trigger() only (its machine_pin.c, v1.28)."""

    def __init__(self, pin):
        self._pin = pin

    def trigger(self):
        return self._pin._trigger


class _IrqFlags(_Irq):
    """rp2's (mp_irq_type): flags() are the edges that fired at the last interrupt."""

    def flags(self):
        return self._pin._flags


class ADC:
    CORE_TEMP = 4

    def __init__(self, id, *, sample_ns=None, atten=None):
        self.channel = id

    def read_u16(self):
        v = fake_adc[self.channel]
        if isinstance(v, Exception):  # a test's failing conversion
            raise v
        return v


class Timer:
    """A timer that fires only when the test calls ``fake_fire()``; the timers made
    so far are in ``fake_state["timers"]``."""

    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id, *, mode=PERIODIC, period=None, freq=None, tick_hz=None,
                 callback=None, hard=None):
        self.id = id
        self.period = self.callback = None
        fake_state["timers"].append(self)
        if callback is not None:
            self.init(mode=mode, period=period, freq=freq, tick_hz=tick_hz,
                      callback=callback, hard=hard)

    def init(self, *, mode=PERIODIC, period=None, freq=None, tick_hz=None, callback=None,
             hard=None):
        self.mode = mode
        self.period = period
        self.callback = callback

    def deinit(self):
        self.callback = None

    def fake_fire(self):
        if self.callback is not None:
            self.callback(self)


class WDT:
    def __init__(self, *, id=0, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
        fake_state["wdt"] = self

    def feed(self):
        self.feeds += 1


class RTC:
    """The real-time clock: ``datetime()`` reads ``fake_state["rtc"]``; setting it
    also appends the tuple to ``fake_state["rtc_set"]``. It does not tick."""

    def __init__(self, id=0, *, datetime=None):
        if datetime is not None:
            self.datetime(datetime)

    def datetime(self, datetimetuple=None):
        if datetimetuple is None:
            return fake_state["rtc"]
        fake_state["rtc"] = tuple(datetimetuple)
        fake_state["rtc_set"].append(fake_state["rtc"])
        return None
