"""Test-only stand-in for MicroPython's `network` module on the esp32 and rp2 ports.

Signatures mirror micropython-esp32-stubs / micropython-rp2-rpi-pico-w-stubs
(host_tests/test_board_fakes.py checks that every fake name exists in the stubs
and accepts every call form they allow). The radio world is `AIR`: access points,
joins that fail, a missing radio. Driver behaviour follows the ports' C code:

- rp2 (extmod/network_cyw43.c): status is the cyw43 link status; a failed join
  (-1 fail, -2 no network, -3 bad auth) is final until the next connect(); a lost
  link reads STAT_IDLE (link down) and the driver does not rejoin on its own.
- esp32 (ports/esp32/network_wlan.c, v1.28.0): the driver keeps the last ESP-IDF
  disconnect reason (`_reason`, wifi_sta_disconn_reason): only a STA_DISCONNECTED
  event sets it and GOT_IP clears it to 0 (lines ~112, ~188); connect() and
  disconnect() leave it (~300-363), so an old failure still reads right after a new
  connect(). disconnect() while a connect was requested or the link was up causes
  the event with ASSOC_LEAVE (8). While a connect is requested the event handler
  joins again by itself (~146-163, reconnects=0: for ever), so a returning AP is
  rejoined without a connect(); a connect() meanwhile is refused ("Wifi Internal
  Error") until a disconnect(). Reasons: AP not found 201; a lost link 200 (beacon
  timeout); a wrong password 15 (4-way handshake timeout) on the first failed join
  since connect(), then 205 (CONNECTION_FAIL: the AP blacklisted, as ESP-IDF does
  after a few); ``AIR.fail_joins`` ASSOC_FAIL (203). status() maps them as
  network_wlan.c ~365-405 does (`_esp32_status`): 201/210-212 raw, 202/205 as
  STAT_WRONG_PASSWORD, 8 STAT_IDLE, otherwise STAT_CONNECTING while a connect is
  requested (so 15, 200, 203 read "connecting"), 0 STAT_IDLE, else the raw reason.

Call ``use_port("esp32"|"rp2")`` before the board module is imported. The driver's
clock is this module's ``ticks_ms`` (the port's; board_fakes_setup.py puts its virtual one
there, so that a join takes ``AIR.join_ms`` of the board's time and no real time).
"""

try:
    from time import ticks_add, ticks_ms, ticks_diff
except ImportError:  # CPython
    import time as _t

    def ticks_ms():
        return int(_t.monotonic() * 1000)

    def ticks_diff(a, b):
        return a - b

    def ticks_add(a, b):
        return a + b

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
        self.fail_joins = 0    # this many next joins fail (rp2: STAT_CONNECT_FAIL;
        # esp32: reason ASSOC_FAIL 203, which status() reads as STAT_CONNECTING)
        self.join_ms = 30      # how long a join takes
        self.radio = True      # False: no Wi-Fi chip answers
        self.connects = 0      # connect() calls seen
        self.rssi_fails = False  # status("rssi") as if the link had just gone
        self.country = "XX"
        self.wlans = {}        # interface -> its WLAN (the driver's state)


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
    if len(code) != 2:  # extmod/modnetwork.c (v1.28): a country code is 2 characters
        raise ValueError
    AIR.country = code


# ESP-IDF disconnect reasons (esp_wifi_types.h) the esp32 fake sets beyond the STAT_ ones
_ASSOC_LEAVE = 8            # esp_wifi_disconnect() was called
_HANDSHAKE_TIMEOUT = 15     # 4WAY_HANDSHAKE_TIMEOUT: a wrong password, first attempts
_BEACON_TIMEOUT = 200
_NO_AP_FOUND = 201
_ASSOC_FAIL = 203           # AIR.fail_joins
_CONNECTION_FAIL = 205      # a wrong password once the AP is blacklisted


class WLAN:
    PM_NONE = PM_PERFORMANCE = PM_POWERSAVE = None

    def __new__(cls, interface_id=STA_IF):
        # one object per interface, as on both ports (static driver state): a board
        # module imported again, as after a soft reset, finds the station as it was
        w = AIR.wlans.get(interface_id)
        if w is None:
            w = AIR.wlans[interface_id] = object.__new__(cls)
        return w

    def __init__(self, interface_id=STA_IF):
        if hasattr(self, "_active"):  # (made before: __new__ returned it)
            return
        self._active = False
        self._ssid = None
        self._status = STAT_IDLE  # noqa: F821 (set by use_port; rp2's link status)
        self._joined_at = None  # when the join under way started; None: none
        self._up = False
        self._cfg = {}
        # esp32 (network_wlan.c): wifi_sta_disconn_reason, wifi_sta_connect_requested,
        # and the failed joins since connect() (a wrong password: 15, then 205)
        self._reason = 0
        self._requested = False
        self._fails = 0

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
        if AIR.port == "esp32":
            self._update()
            if self._joined_at is not None and not self._up:
                # ESP-IDF refuses a connect while the station is joining, its own rejoin
                # after a lost link or a failed join included (ESP_ERR_WIFI_CONN;
                # network_common.c); wifi_sta_connect_requested stays as it was
                raise OSError(-1, "Wifi Internal Error")
            self._requested = True  # _reason is left: the old one reads until an event
            self._fails = 0
        else:
            self._status = STAT_CONNECTING  # noqa: F821
        self._ssid, self._key = ssid, key
        self._up = False
        self._joined_at = ticks_ms()

    def disconnect(self):
        if AIR.port == "esp32":
            if self._requested or self._up:
                self._reason = _ASSOC_LEAVE  # the STA_DISCONNECTED event it causes
            self._requested = False  # so the event handler does not join again
        else:
            self._status = STAT_IDLE  # noqa: F821
        self._joined_at = None
        self._up = False

    def _update(self):
        if AIR.port == "esp32":
            self._update_esp32()
            return
        ap = AIR.aps.get(self._ssid)
        if self._up:
            if ap is None:  # the AP vanished
                self._up = False
                self._joined_at = None
                self._status = STAT_IDLE  # noqa: F821
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
        self._joined_at = None  # the failure is final until the next connect()

    def _update_esp32(self):
        # the events that came since the last call, in order: each join that took
        # AIR.join_ms ends in GOT_IP or STA_DISCONNECTED, and the event handler
        # (reconnects=0) starts the next one at once while a connect is requested
        if self._up:
            if AIR.aps.get(self._ssid) is None:  # the AP vanished: beacon timeout
                self._up = False
                self._reason = _BEACON_TIMEOUT
                self._joined_at = ticks_ms() if self._requested else None
            return
        while self._joined_at is not None:
            if ticks_diff(ticks_ms(), self._joined_at) < AIR.join_ms:
                return
            ap = AIR.aps.get(self._ssid)
            if AIR.fail_joins:
                AIR.fail_joins -= 1
                self._reason = _ASSOC_FAIL
            elif ap is None:
                self._reason = _NO_AP_FOUND
            elif ap[0] != self._key:
                self._reason = _CONNECTION_FAIL if self._fails else _HANDSHAKE_TIMEOUT
                self._fails += 1
            else:
                self._up = True
                self._reason = 0  # GOT_IP: "Success so clear error"
                self._joined_at = None
                return
            # STA_DISCONNECTED: joined again at once (requested: the only way here)
            self._joined_at = ticks_add(self._joined_at, AIR.join_ms)

    def _esp32_status(self):
        # network_wlan_status() with no argument, in its order (network_wlan.c ~370)
        r = self._reason
        if self._up:
            return STAT_GOT_IP  # noqa: F821
        if r == _NO_AP_FOUND or 210 <= r <= 212:
            return r
        if r == STAT_WRONG_PASSWORD or r == _CONNECTION_FAIL:  # noqa: F821 (AUTH_FAIL)
            return STAT_WRONG_PASSWORD  # noqa: F821
        if r == _ASSOC_LEAVE:
            return STAT_IDLE  # noqa: F821
        if self._requested:  # (reconnects=0: never out of retries)
            return STAT_CONNECTING  # noqa: F821
        if r == 0:
            return STAT_IDLE  # noqa: F821
        return r

    def status(self, param=None):
        self._update()
        if param is None:
            return self._esp32_status() if AIR.port == "esp32" else self._status
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
