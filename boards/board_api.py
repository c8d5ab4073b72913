"""The board interface: what the firmware asks of `boards/<board>/board.py`.

This file is the reference, written down once. It is never imported by the
firmware; every board module (unix, esp32, rp2_pico_w) implements these names
with the same signatures and meanings, through its port's own APIs only. The
firmware imports `board` and calls nothing else that differs per board, and
never tests `sys.platform`.

Units: sensor values are integers in fixed point. `SENSORS[name]` says the
unit and the power of ten of one step, e.g. ``("C", -2)``: a value of 2137 is
21.37 C. No floats cross this interface, so nothing allocates per reading.
"""

NAME = "reference"
"""The board's name, the same as its folder and `board.json` "name"."""

SENSORS = {"temperature": ("C", -2)}
"""The sensors this board has: name -> (unit, exponent of ten of one step)."""

HAS_BUTTON = False
"""True when `button_pressed()` can report presses (a real or simulated button)."""

HAS_WATCHDOG = False
"""True when `wdt_start()` arms a hardware watchdog that resets the board."""


class NetworkError(Exception):
    """The network could not be brought up; ``args[0]`` is a short reason:

    ``"wrong_password"``, ``"no_ap_found"``, ``"timeout"``, ``"no_network"`` (no
    network hardware or driver, e.g. in an emulator), ``"connect_failed"``,
    ``"bad_country"`` (a Wi-Fi country code the port refuses).
    """


def unique_id():
    """The default device id as a short lowercase string (hex of the chip id on boards)."""
    raise NotImplementedError


def config_dir():
    """The directory that holds `config.json` and its last-good copy ("/" on boards)."""
    raise NotImplementedError


def default_broker():
    """The broker URL used when the config names none."""
    raise NotImplementedError


async def network_up(ssid, password, timeout_ms):
    """Bring the network up, waiting at most ``timeout_ms``; return when connected:
    True when it had to join (the network was down), False when it was up already.

    Raises `NetworkError` with a reason. The join never blocks the event loop: it
    polls the driver's status with ``await asyncio.sleep_ms``. Calling it while
    already connected (and the clock set, below) returns at once. Boards without
    Wi-Fi settings ignore ssid/password.

    Boards whose clock starts in the past at power-on (esp32, rp2_pico_w) then set
    it to UTC from NTP server ``board.NTP_HOST`` (None: never), until that has
    worked once since boot: TLS checks certificate dates against it. That takes at
    most 2 queries of 1 s each, with the loop free (only a DNS lookup of the host
    blocks it); a failure prints one line and is not raised, the node goes on, and
    `clock_due` reads True once another try is due (5 minutes later), so that the
    keeper calls this again. unix: the host's clock, nothing to set.
    """
    raise NotImplementedError


def network_ok():
    """True while the network link is up (the firmware calls `network_up` again if not)."""
    raise NotImplementedError


def clock_due():
    """True when the clock, which NTP did not set at the last try, is due for another:
    the firmware then calls `network_up`, which tries again (esp32, rp2_pico_w; False
    on boards with nothing to set)."""
    raise NotImplementedError


def rssi():
    """The Wi-Fi signal strength in dBm, or None where there is none."""
    raise NotImplementedError


def read_sensor(name):
    """The current value of sensor ``name`` as a fixed-point int (see `SENSORS`): an
    int, never a float (the app counts a float as a failed read).

    Raises ValueError for a name not in `SENSORS`; OSError when the hardware fails.
    Any other exception a driver raises (a bare Exception for a bad checksum, say)
    is counted and logged the same way: the node goes on reading.
    """
    raise NotImplementedError


def button_pressed():
    """True once for each debounced press since the last call (False without a button)."""
    raise NotImplementedError


def led(on):
    """Switch the status LED on or off (unix: no LED; print nothing, do nothing)."""
    raise NotImplementedError


def mem_free():
    """Free heap in bytes (`gc.mem_free()`), or None where the runtime has no such figure."""
    raise NotImplementedError


def wdt_start(timeout_ms):
    """Arm the watchdog; from now on `wdt_feed()` must come at least every ``timeout_ms``.

    On boards with `HAS_WATCHDOG` a missed feed resets the board. The unix board
    checks the feeds itself and, when one is missed, logs and exits with a
    non-zero status so a process supervisor can restart it. Called again, it sets
    the new timeout; it ends a `wdt_hold()`.
    """
    raise NotImplementedError


def wdt_feed():
    """Feed the watchdog armed by `wdt_start` (a no-op before it)."""
    raise NotImplementedError


def wdt_hold():
    """Keep an armed watchdog fed in the background from now until the next reset
    or `wdt_start()`.

    For a node stopped on purpose (Ctrl-C from the REPL, `fieldnode config` or
    `deploy`): a watchdog cannot be disarmed once started, so without this the
    board would reset while it waits at the REPL. A no-op when none is armed.
    A soft reset does not stop a watchdog either: the esp32 and rp2_pico_w board
    modules take one that may still run over at import, held so until the node's
    `wdt_start()` (a config with ``watchdog_ms`` 0: until a hard reset).
    """
    raise NotImplementedError


def wdt_cover(on):
    """While ``on``, keep an armed watchdog fed in the background, for at most 20 s
    from the call: the loop may block meanwhile (the node calls it for each broker
    connect, whose DNS lookup blocks; rp2's lwIP waits ~7 s per DNS server that does
    not answer, past its 8.4 s watchdog cap). ``on`` False stops it. A no-op when
    none is armed, and on esp32 (its lookup runs no timer callbacks). A loop that
    hangs meanwhile (a sensor driver) trips the watchdog that much later.
    """
    raise NotImplementedError


def reset_cause():
    """Why the board last reset: "power_on", "hard_reset", "watchdog", "deepsleep",
    "soft_reset" or "unknown"."""
    raise NotImplementedError


def reset():
    """Reboot the board (unix: exit the process with status 3 after flushing output)."""
    raise NotImplementedError


def deepsleep(ms):
    """Deep sleep for ``ms`` (the board reboots after it); unix: sleep, then `reset()`."""
    raise NotImplementedError


def lightsleep(ms):
    """Light sleep for ``ms`` and return; unix: a plain sleep."""
    raise NotImplementedError
