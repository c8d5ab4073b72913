"""Test-only stand-in for MicroPython's `network` module on the esp32 and rp2 ports.

Signatures mirror micropython-esp32-stubs / micropython-rp2-rpi-pico-w-stubs
(host_tests/test_board_fakes.py checks that every fake name exists in the stubs
and accepts every call form they allow). The radio world is `AIR`: access points,
joins that fail, a missing radio. Driver behaviour follows the ports' C code:

- rp2 (extmod/network_cyw43.c): status is the cyw43 link status; a failed join
  (-1 fail, -2 no network, -3 bad auth) is final until the next connect(); a lost
  link reads STAT_IDLE (link down) and the driver does not rejoin on its own.
- esp32 (ports/esp32/network_wlan.c): while not connected status is the last
  ESP-IDF disconnect reason (kept until the next success), and the driver keeps
  retrying the join itself, so a returning AP is rejoined without a connect(); a
  connect() meanwhile is refused ("Wifi Internal Error") until a disconnect().

Call ``use_port("esp32"|"rp2")`` before the board module is imported.
"""

try:
    from time import ticks_ms, ticks_diff
except ImportError:  # CPython
    import time as _t

    def ticks_ms():
        return int(_t.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b

STA_IF = 0
AP_IF = 1
_CONSTANTS = {
    "rp2": {"STAT_IDLE": 0, "STAT_CONNECTING": 1, "STAT_GOT_IP": 3,
            "STAT_CONNECT_FAIL": -1, "STAT_NO_AP_FOUND": -2, "STAT_WRONG_PASSWORD": -3},
    "esp32": {"STAT_IDLE": 1000, "STAT_CONNECTING": 1001, "STAT_GOT_IP": 1010,
              "STAT_BEACON_TIMEOUT": 200, "STAT_NO_AP_FOUND": 201,
              "STAT_WRONG_PASSWORD": 202, "STAT_CONNECT_FAIL": 203, "STAT_ASSOC_FAIL": 203,
              "STAT_HANDSHAKE_TIMEOUT": 204, "STAT_NO_AP_FOUND_W_COMPATIBLE_SECURITY": 210,
              "STAT_NO_AP_FOUND_IN_AUTHMODE_THRESHOLD": 211,
              "STAT_NO_AP_FOUND_IN_RSSI_THRESHOLD": 212},
}
_PM = {"rp2": (16, 10555714, 17), "esp32": (0, 1, 2)}  # PM_NONE, PM_PERFORMANCE, PM_POWERSAVE


class _Air:
    """The radio world the fake driver sees (test-only)."""

    def __init__(self):
        self.port = None
        self.aps = {}          # ssid -> (password, rssi dBm)
        self.fail_joins = 0    # this many next joins end in STAT_CONNECT_FAIL
        self.join_ms = 30      # how long a join takes
        self.radio = True      # False: no Wi-Fi chip answers
        self.connects = 0      # connect() calls seen
        self.rssi_fails = False  # status("rssi") as if the link had just gone
        self.country = "XX"


AIR = _Air()


def use_port(port):
    """Take the status constants and driver behaviour of ``port`` ("esp32"/"rp2")."""
    g = globals()
    AIR.port = port
    for name, value in _CONSTANTS[port].items():
        g[name] = value
    WLAN.PM_NONE, WLAN.PM_PERFORMANCE, WLAN.PM_POWERSAVE = _PM[port]


def country(code=None):
    if code is None:
        return AIR.country
    AIR.country = code


class WLAN:
    PM_NONE = PM_PERFORMANCE = PM_POWERSAVE = None

    def __init__(self, interface_id=STA_IF):
        self._active = False
        self._ssid = None
        self._status = STAT_IDLE  # noqa: F821 (set by use_port)
        self._joined_at = None
        self._up = False
        self._cfg = {}

    def active(self, is_active=None):
        if is_active is None:
            return self._active
        if is_active and not AIR.radio and AIR.port == "esp32":
            raise OSError(-1, "Wifi Unknown Error 0x0101")  # esp_wifi_start() failed
        # rp2: active() is only a flag, True even when the cyw43 did not start
        self._active = bool(is_active)
        return None

    def connect(self, ssid=None, key=None, *, bssid=None):
        AIR.connects += 1
        if not self._active or not AIR.radio:
            raise OSError(1)  # EPERM: the interface is not up (cyw43_wifi_join)
        if AIR.port == "esp32" and self._joined_at is not None and not self._up:
            # ESP-IDF refuses a connect while the station is joining, its own rejoin
            # after a lost link included (ESP_ERR_WIFI_CONN; network_common.c)
            raise OSError(-1, "Wifi Internal Error")
        self._ssid, self._key = ssid, key
        self._up = False
        self._joined_at = ticks_ms()
        self._status = STAT_CONNECTING  # noqa: F821

    def disconnect(self):
        self._joined_at = None
        self._up = False
        self._status = STAT_IDLE  # noqa: F821

    def _update(self):
        ap = AIR.aps.get(self._ssid)
        if self._up:
            if ap is None:  # the AP vanished
                self._up = False
                if AIR.port == "rp2":
                    self._joined_at = None
                    self._status = STAT_IDLE  # noqa: F821
                else:
                    self._joined_at = ticks_ms()
                    self._status = STAT_BEACON_TIMEOUT  # noqa: F821
            return
        if self._joined_at is None or ticks_diff(ticks_ms(), self._joined_at) < AIR.join_ms:
            return
        if AIR.fail_joins:
            AIR.fail_joins -= 1
            self._status = STAT_CONNECT_FAIL  # noqa: F821
        elif ap is None:
            self._status = STAT_NO_AP_FOUND  # noqa: F821
        elif ap[0] != self._key:
            self._status = STAT_WRONG_PASSWORD  # noqa: F821
        else:
            self._up = True
            self._status = STAT_GOT_IP  # noqa: F821
            return
        # rp2: the failure is final; esp32: the driver tries again by itself
        self._joined_at = ticks_ms() if AIR.port == "esp32" else None

    def status(self, param=None):
        self._update()
        if param is None:
            return self._status
        if param != "rssi":
            raise ValueError("unknown status param")
        if not self._up or AIR.rssi_fails:
            if AIR.port == "esp32":
                raise OSError(-1, "Wifi Not Connected")
            return 0
        return AIR.aps[self._ssid][1]

    def isconnected(self):
        self._update()
        return self._up

    def config(self, *args, **kwargs):
        if args:
            return self._cfg[args[0]]
        self._cfg.update(kwargs)
        return None
