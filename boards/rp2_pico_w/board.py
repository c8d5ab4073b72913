"""Raspberry Pi Pico W board (RP2040 + CYW43439; MicroPython port rp2, RPI_PICO_W).

Implements boards/board_api.py through the rp2 port's own modules only:
`network.WLAN` station (cyw43), `machine` (unique_id, Pin, ADC, WDT, mem32,
reset_cause, sleeps); what both boards do alike is in board_common. Pins are in
board.json and mirrored below.

The clock starts in 2021 (the rp2 port's default) on power-on: `network_up` sets it from NTP
once connected (board_common.set_clock), or TLS refuses every server certificate.

Sensors:
- "temperature": the RP2040's on-die sensor, ADC channel 4, with the datasheet's
  conversion T = 27 - (V - 0.706 V) / 1.721 mV, in fixed point (hundredths of C).
- "vsys": the supply voltage in mV, ADC channel 3 on GPIO29 through the board's
  1:3 divider. On the Pico W GPIO29 is also the CYW43 SPI clock (WL_CLK). The read
  disables interrupts (so no cyw43 poll can start an SPI transfer; none is running
  while Python code runs), saves GPIO29's function and pad registers, makes the
  pad an analogue input, takes the reading and restores both registers before
  interrupts come back. Wi-Fi keeps working; the window is a few microseconds.
"""

import board_common
import machine
import network
from board_common import (NetworkError, button_pressed_on, clock_due,  # noqa: F401
                          config_dir, default_broker, led_on, lightsleep, mem_free,
                          network_ok, reset, rssi, station_up, unique_id, wdt_cover,
                          wdt_feed, wdt_hold)  # (rp2's machine.Timer: virtual ones only, -1)
from mqtt5._compat import const

NAME = "rp2_pico_w"
SENSORS = {"temperature": ("C", -2), "vsys": ("V", -3)}
HAS_BUTTON = True
HAS_WATCHDOG = True

# Optional Wi-Fi settings: a two-letter regulatory domain (e.g. "DE"; None keeps the
# default "XX", worldwide safe channels), which the cyw43 driver takes only as it brings
# the radio up, so at the first network_up() after a boot (set it in boot.py, or here
# before the node starts), and power saving (True PM_POWERSAVE, False PM_NONE, None the
# driver's), applied at the next network_up().
WIFI_COUNTRY = None
WIFI_POWER_SAVE = None
# The NTP server that sets the clock at the first network_up() after boot (UTC;
# None: never, e.g. on a LAN without one and with mqtt:// brokers only).
NTP_HOST = "pool.ntp.org"

_LED_PIN = "LED"              # on the cyw43's GPIO 0
_BUTTON_PIN = const(15)       # a push button from GP15 to ground (the Pico W has none)
_WDT_MAX_MS = const(8388)     # RP2040 watchdog limit (ports/rp2/machine_wdt.c)
_WDT_CTRL = const(0x40058000)     # WATCHDOG CTRL: bit 30 ENABLE (RP2040 datasheet 4.7.6)
_WDT_REASON = const(0x40058008)   # WATCHDOG REASON: bit 0 TIMER, bit 1 FORCE
_WDT_SCRATCH0 = const(0x4005800C)  # kept through a watchdog reboot; no one else uses it
_DEEPSLEEP_MARK = const(0x6465)    # in SCRATCH0: the FORCE reboot ends a deepsleep()
_BOOT_MARK_AT = const(0x40030024)  # BUSCTRL PERFSEL3: 0x1f after a chip reset (pico-sdk
_BOOT_MARK = const(0x1E)  # regs/busctrl.h); this once imported (events are 0-19: none counts)
_GPIO29_CTRL = const(0x400140EC)  # IO_BANK0 GPIO29_CTRL (function select)
_GPIO29_PAD = const(0x4001C078)   # PADS_BANK0 GPIO29
_PAD_ANALOG = const(0x80)         # output disabled, input buffer off, no pulls
_FUNC_NULL = const(31)

_adc = [None, None]  # type: list  # ADC(3) VSYS, ADC(4) temperature: made on first use


def _reason(status):
    # cyw43 link status (extmod/network_cyw43.c): -3 bad auth, -2 no net, -1 fail
    if status == network.STAT_WRONG_PASSWORD:
        return "wrong_password"
    if status == network.STAT_NO_AP_FOUND:
        return "no_ap_found"
    if status == network.STAT_CONNECT_FAIL:
        return "connect_failed"
    return None  # idle, joining, joined without IP yet, got IP


async def network_up(ssid, password, timeout_ms):
    """Join ``ssid`` as a station (board_api), then set the clock."""
    return await station_up(ssid, password, timeout_ms, _reason, WIFI_COUNTRY,
                            WIFI_POWER_SAVE, NTP_HOST)


def _read(channel):
    # 12-bit conversion (read_u16 scales it to 16 bits)
    i = channel - 3
    if _adc[i] is None:
        _adc[i] = machine.ADC(channel)
    return _adc[i].read_u16() >> 4


def read_sensor(name):
    if name == "temperature":
        tenth_mv = _read(4) * 33000 // 4095           # 0.1 mV steps, 3.3 V reference
        return 2700 - ((tenth_mv - 7060) * 10000 + 860) // 1721
    if name == "vsys":
        if _adc[0] is None:  # made first: it allocates, and nothing may fail with
            _adc[0] = machine.ADC(3)  # GPIO29 switched (the cyw43's clock: Wi-Fi off)
        mem = machine.mem32
        irq = machine.disable_irq()
        ctrl, pad = mem[_GPIO29_CTRL], mem[_GPIO29_PAD]
        try:
            mem[_GPIO29_CTRL] = _FUNC_NULL
            mem[_GPIO29_PAD] = _PAD_ANALOG
            _read(3)                                   # let the pin settle
            raw = _read(3)
        finally:  # whatever happened: the Wi-Fi chip's clock pin back, interrupts on
            mem[_GPIO29_PAD] = pad
            mem[_GPIO29_CTRL] = ctrl
            machine.enable_irq(irq)
        return raw * 9900 // 4095                     # 3 x 3.3 V full scale, in mV
    raise ValueError("no sensor %r" % name)


def button_pressed():
    # a hard IRQ: a press made during a blocking call (the DNS lookup of a connect)
    # is counted at its edge, not lost (host_tests/test_rp2_emulator.py)
    return button_pressed_on(_BUTTON_PIN, True)


def led(on):
    led_on(_LED_PIN, on)


def deepsleep(ms):
    """rp2's deep sleep is a light sleep and a reset (board_common.deepsleep: slept by
    the clock, fed, as lightsleep() does); the watchdog counts through it."""
    machine.mem32[_WDT_SCRATCH0] = _DEEPSLEEP_MARK  # (reset_cause() reads it)
    board_common.deepsleep(ms, True)


def wdt_start(timeout_ms):
    """Arm the watchdog; timeouts above the RP2040's 8388 ms are clamped to it."""
    board_common.wdt_start(min(timeout_ms, _WDT_MAX_MS))


def _cause():
    # The watchdog's REASON register (machine.reset_cause() says WDT_RESET for both
    # of its bits): TIMER a missed feed, FORCE machine.reset() or the end of a
    # deepsleep() (both reboot through the watchdog: pico-sdk watchdog_reboot(),
    # deepsleep() marks SCRATCH0 first); else power-on. A soft reset leaves REASON and
    # SCRATCH0 as the last chip reset set them, so a mark tells it apart: written at
    # each import into BUSCTRL PERFSEL3 (an unused bus performance counter's event),
    # which every chip reset clears (the watchdog's SCRATCH registers outlive its
    # reboots; pico-sdk's runtime_init_early_resets resets BUSCTRL at every boot) and a
    # soft reset leaves. Read once, at import (the frozen boot.py's, at every boot).
    mem = machine.mem32
    why, mark, booted = mem[_WDT_REASON], mem[_WDT_SCRATCH0], mem[_BOOT_MARK_AT]
    mem[_WDT_SCRATCH0] = 0
    mem[_BOOT_MARK_AT] = _BOOT_MARK
    if booted == _BOOT_MARK:
        return "soft_reset"
    if why & 1:
        return "watchdog"
    if why & 2:
        return "deepsleep" if mark == _DEEPSLEEP_MARK else "hard_reset"
    return "power_on"


_CAUSE = _cause()


def reset_cause():
    """"power_on", "watchdog", "hard_reset" (machine.reset()), "deepsleep" or
    "soft_reset" (Ctrl-D, a deploy, mpremote's raw-REPL reset: the chip ran on)."""
    return _CAUSE


if machine.mem32[_WDT_CTRL] & 0x40000000:  # armed before a soft reset, which cannot stop
    wdt_start(_WDT_MAX_MS)                 # it: fed by a timer until the node arms its own
    wdt_hold()                             # (or for good: a config without a watchdog)
