"""ESP32 board (ESP32-WROOM-32 DevKit; MicroPython port esp32, board ESP32_GENERIC).

Implements boards/board_api.py through the esp32 port's own modules only:
`network.WLAN` station, `machine` (unique_id, Pin, WDT, reset_cause, sleeps) and
`esp32.raw_temperature()`; what both boards do alike is in board_common. Pins are
in board.json and mirrored below.

The clock starts at 2000-01-01 on power-on: `network_up` sets it from NTP once
connected (board_common.set_clock), or TLS refuses every server certificate.

Sensors: the original ESP32 exposes one internal sensor in MicroPython v1.28,
`esp32.raw_temperature()`: the die temperature in degrees Fahrenheit, uncalibrated
(it reads well above ambient; useful for trends and overheating only). The Hall
sensor is gone (ESP-IDF 5 dropped it, MicroPython removed `esp32.hall_sensor()`), and
`esp32.mcu_temperature()` exists only on the S2/S3/C3/C6 chips.
"""

import board_common
import esp32
import machine
import network
from board_common import (NetworkError, button_pressed_on, clock_due,  # noqa: F401
                          config_dir, default_broker, deepsleep, led_on, lightsleep,
                          mem_free, network_ok, reset, rssi, station_up, unique_id,
                          wdt_feed, wdt_hold, wdt_start)
from mqtt5._compat import const

board_common.TIMER_ID = 0  # esp32 has hardware timers only; the node uses no other
# (the port's UART.irq(RXIDLE) also takes timer 0: an application that adds one of
# those must change this)

NAME = "esp32"
SENSORS = {"temperature": ("C", -2)}
HAS_BUTTON = True
HAS_WATCHDOG = True

# Optional Wi-Fi setting, applied at the next network_up(): power saving (True
# PM_POWERSAVE, False PM_NONE, None the driver's default). No country setting: the
# esp32 port keeps network.country() but its driver does not apply it (v1.28).
WIFI_POWER_SAVE = None
# The NTP server that sets the clock at the first network_up() after boot (UTC;
# None: never, e.g. on a LAN without one and with mqtt:// brokers only).
NTP_HOST = "pool.ntp.org"

_LED_PIN = const(2)      # the DevKit's blue LED
_BUTTON_PIN = const(0)   # the DevKit's BOOT button, to ground
_HOLD_MS = const(600000)  # the watchdog taken over after a soft reset (below)


def _reason(status):
    # network_wlan.c's status() (~365-405): NO_AP_FOUND (201, 210-212) raw, AUTH_FAIL and
    # CONNECTION_FAIL (205: ESP-IDF gave up on a wrong password) as 202, after a
    # disconnect() IDLE; other reasons (a beacon or handshake timeout, 15 for a wrong
    # password's first joins) read CONNECTING while a connect is requested (the
    # driver retries them itself); raw ones (200, 203, 204) only with none requested.
    if status == network.STAT_WRONG_PASSWORD or status == network.STAT_HANDSHAKE_TIMEOUT:
        return "wrong_password"
    if status in (network.STAT_NO_AP_FOUND, network.STAT_NO_AP_FOUND_IN_RSSI_THRESHOLD,
                  network.STAT_NO_AP_FOUND_IN_AUTHMODE_THRESHOLD,
                  network.STAT_NO_AP_FOUND_W_COMPATIBLE_SECURITY):
        return "no_ap_found"
    if status in (network.STAT_IDLE, network.STAT_CONNECTING, network.STAT_GOT_IP):
        return None
    return "connect_failed"  # STAT_CONNECT_FAIL, STAT_BEACON_TIMEOUT, other reasons


async def network_up(ssid, password, timeout_ms):
    """Join ``ssid`` as a station (board_api), then set the clock; the driver also
    rejoins by itself."""
    return await station_up(ssid, password, timeout_ms, _reason, None, WIFI_POWER_SAVE,
                            NTP_HOST)


def read_sensor(name):
    if name != "temperature":
        raise ValueError("no sensor %r" % name)
    raw = esp32.raw_temperature()
    if raw == 128:  # the sensor's "no reading" (ESPHome and arduino-esp32 #2422 saw it too)
        raise OSError("temperature: the sensor gave no reading (raw 128)")
    return (raw - 32) * 500 // 9  # F -> C/100


def button_pressed():
    return button_pressed_on(_BUTTON_PIN)


def led(on):
    led_on(_LED_PIN, on)


def wdt_cover(on):
    """A no-op: esp32's DNS lookup runs no timer callbacks while it blocks, so a timer
    could not feed meanwhile (keep watchdog_ms above 15 s there, docs/config.md)."""


def reset_cause():
    cause = machine.reset_cause()
    for code, name in ((machine.PWRON_RESET, "power_on"), (machine.HARD_RESET, "hard_reset"),
                       (machine.WDT_RESET, "watchdog"), (machine.DEEPSLEEP_RESET, "deepsleep"),
                       (machine.SOFT_RESET, "soft_reset")):
        if code == cause:
            return name
    return "unknown"


if machine.reset_cause() == machine.SOFT_RESET:
    # A soft reset (a deploy, `fieldnode config --reset`, Ctrl-D) cannot stop a watchdog
    # armed before it: the port keeps its ESP-IDF task-WDT user and has no call that
    # removes it (ports/esp32/machine_wdt.c, v1.28; machine.WDT: "cannot be stopped").
    # Whether one runs cannot be read: taken over at config's longest timeout (WDT() again
    # only sets the timeout) and fed by a timer until the node arms its own
    wdt_start(_HOLD_MS)
    wdt_hold()
    print("board: soft reset: a watchdog armed before it runs on (esp32 cannot stop one): "
          "fed by a timer until the node arms its own; none (watchdog_ms 0) only after a "
          "hard reset (reboot, power)")
