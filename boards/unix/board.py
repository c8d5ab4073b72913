"""Unix board: the hardware the firmware sees when it runs on a PC (boards/board_api.py).

Nothing here touches real hardware. The network is the host's, the device id
comes from the environment, sensors are simulated deterministically from the
clock, and tests steer the simulation through files in the config directory:

- ``<config_dir>/sim/<sensor>``: an integer that overrides that sensor's value (a
  number with a point is returned as a float, as a misbehaving driver would);
- ``<config_dir>/sim/button``: present = one button press (the file is removed);
- ``<config_dir>/sim/hang``: present = the next sensor read blocks (a hung driver:
  the watchdog must catch it);
- ``<config_dir>/sim/network_down``: present = the Wi-Fi is gone (network_ok() is
  False, and a join waits for the file to go, up to its timeout);
- ``<config_dir>/sim/network_error``: present = a join raises OSError, as a real
  driver may (not NetworkError).

Environment: FIELDNODE_DEVICE_ID (default ``unix-node``), FIELDNODE_BROKER
(default ``mqtt://127.0.0.1:1883``), FIELDNODE_HOME (config directory, default
``.cache/fieldnode-home/<device id>``).
"""

import os
import sys
import time

import _thread

from mqtt5._compat import ticks_add, ticks_diff, ticks_ms

NAME = "unix"
SENSORS = {"temperature": ("C", -2), "humidity": ("%", -1)}
HAS_BUTTON = True
HAS_WATCHDOG = False  # software watchdog: logs and exits non-zero

_dir = []  # the config directory, once made
# [timeout_ms, ticks_ms of the last feed, held (wdt_hold), ticks_ms until which
# wdt_cover feeds or 0]: the monotonic clock, so the host's wall clock being set (NTP)
# neither trips nor stalls the watchdog
_wdt = [0, 0, 0, 0]


class NetworkError(Exception):
    """The network could not be brought up; args[0] is a short reason."""


def unique_id():
    """$FIELDNODE_DEVICE_ID, else 'unix-node'."""
    return os.getenv("FIELDNODE_DEVICE_ID") or "unix-node"


def config_dir():
    """$FIELDNODE_HOME, else .cache/fieldnode-home/<device id> (created)."""
    if _dir:
        return _dir[0]
    d = os.getenv("FIELDNODE_HOME") or ".cache/fieldnode-home/" + unique_id()
    path = ""
    for part in d.split("/"):
        path = path + part + "/" if path or part else "/"
        if part:
            try:
                os.mkdir(path)
            except OSError:
                pass
    _dir.append(d)
    return d


def default_broker():
    """$FIELDNODE_BROKER, else mqtt://127.0.0.1:1883."""
    return os.getenv("FIELDNODE_BROKER") or "mqtt://127.0.0.1:1883"


async def network_up(ssid, password, timeout_ms):
    """The host's network, up unless ``sim/network_down`` plays a lost Wi-Fi: then the
    join waits for that file to go, at most `timeout_ms` (NetworkError "timeout")."""
    from mqtt5._compat import sleep_ms

    end = ticks_add(ticks_ms(), timeout_ms)
    if _present("network_error"):
        raise OSError(5, "simulated driver error")  # EIO
    down = not network_ok()
    while not network_ok():
        if ticks_diff(ticks_ms(), end) >= 0:
            raise NetworkError("timeout")
        await sleep_ms(100)
    return down


def network_ok():
    return not _present("network_down")


def clock_due():
    return False  # the host's clock: nothing to set


def _present(name):
    try:
        os.stat(_sim(name))
        return True
    except OSError:
        return False


def rssi():
    return None


def _sim(name):
    return config_dir() + "/sim/" + name


def read_sensor(name):
    """A simulated reading: a slow triangle wave (10-minute period), or the
    integer in sim/<name> when that file exists."""
    if name not in SENSORS:
        raise ValueError("unknown sensor %r" % name)
    try:
        os.stat(_sim("hang"))
        os.remove(_sim("hang"))
        print("board: simulated hang in read_sensor")
        while True:
            time.sleep(1)
    except OSError:
        pass
    try:
        with open(_sim(name)) as f:
            text = f.read().strip()
        return float(text) if "." in text else int(text)
    except (OSError, ValueError):
        pass
    phase = int(time.time()) % 600
    tri = phase if phase < 300 else 600 - phase
    if name == "temperature":
        return 1800 + tri * 10 // 3  # 18.00 .. 28.00 C
    return 400 + tri * 2 // 3  # 40.0 .. 60.0 %


def button_pressed():
    """True once per sim/button file (removed when seen)."""
    try:
        os.remove(_sim("button"))
        return True
    except OSError:
        return False


def led(on):
    pass


def mem_free():
    """Free heap after a collection (None on CPython)."""
    try:
        import gc
        gc.collect()
        return gc.mem_free()
    except AttributeError:  # CPython
        return None


def _die(status):
    # from the watchdog thread: end the whole process, now
    try:
        os._exit(status)  # CPython
    except AttributeError:  # MicroPython: no os._exit; the shell's $PPID is us
        os.system("kill -9 $PPID")


def _watch():
    while True:
        time.sleep(0.1)
        if _wdt[2] or _wdt[3] and ticks_diff(_wdt[3], ticks_ms()) > 0:
            _wdt[1] = ticks_ms()  # wdt_hold(), wdt_cover(): fed from here, as a Timer
        late = ticks_diff(ticks_ms(), _wdt[1])
        if late > _wdt[0]:
            try:  # (on a full heap it still ends the process)
                print("board: WATCHDOG: not fed for %d ms (timeout %d ms): exiting"
                      % (late, _wdt[0]))
            except MemoryError:
                pass
            try:
                sys.stdout.flush()
            except AttributeError:
                pass
            _die(4)


def wdt_start(timeout_ms):
    """Start the software watchdog thread (once)."""
    first = not _wdt[0]
    _wdt[0] = timeout_ms
    _wdt[1] = ticks_ms()
    _wdt[2] = 0  # (a wdt_hold() ends)
    if first:
        _thread.start_new_thread(_watch, ())


def wdt_feed():
    _wdt[1] = ticks_ms()


def wdt_hold():
    _wdt[2] = 1


def wdt_cover(on):
    _wdt[3] = ticks_add(ticks_ms(), 20000) if on else 0  # as board_common.COVER_MS


def reset_cause():
    return os.getenv("FIELDNODE_RESET_CAUSE") or "power_on"


def reset():
    """Exit the process with status 3 (a process supervisor restarts it)."""
    print("board: reset")
    try:  # CPython: at once; a SystemExit from a task is reported as never retrieved
        sys.stdout.flush()
        os._exit(3)
    except AttributeError:  # MicroPython: out of asyncio.run, through main.py
        raise SystemExit(3)


def deepsleep(ms):
    time.sleep(ms / 1000)
    reset()


def lightsleep(ms):
    time.sleep(ms / 1000)
