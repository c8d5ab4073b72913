"""board_fakes.py's Wi-Fi cases: network_up's retries, timeouts and reasons, an AP
that vanishes and comes back, no radio, a country the port refuses, slow joins, and
a soft reset that left the station joined elsewhere; on the virtual clock."""
import asyncio
import sys

from board_fakes_setup import _sleep_ms, CLOCK, emit, ticks_ms  # (first: the fakes)
import board
import board_common
import network
from mqtt5._compat import ticks_diff

AIR = network.AIR


async def up(ssid, password, timeout_ms):
    """network_up's outcome: (reason or "ok", connect() calls, elapsed ms)."""
    AIR.connects = 0
    t0 = ticks_ms()
    try:
        await board.network_up(ssid, password, timeout_ms)
        reason = "ok"
    except board.NetworkError as e:
        reason = e.args[0]
    return reason, AIR.connects, ticks_diff(ticks_ms(), t0)


async def wifi():
    AIR.aps = {"home": ("secret", -61)}
    emit(case="before", ok=board.network_ok(), rssi=board.rssi())
    AIR.fail_joins = 2
    reason, n, ms = await up("home", "secret", 10000)
    emit(case="fail_twice", reason=reason, connects=n, ms=ms, ok=board.network_ok(),
         rssi=board.rssi())
    reason, n, ms = await up("home", "secret", 10000)
    emit(case="already_up", reason=reason, connects=n, ms=ms)
    del AIR.aps["home"]  # the AP vanishes
    emit(case="vanished", ok=board.network_ok(), rssi=board.rssi())
    reason, n, ms = await up("home", "secret", 1500)
    emit(case="vanished_up", reason=reason, connects=n, ms=ms, ok=board.network_ok())
    AIR.aps["home"] = ("secret", -70)  # it comes back
    reason, n, ms = await up("home", "secret", 10000)
    emit(case="back", reason=reason, connects=n, ok=board.network_ok(), rssi=board.rssi())
    AIR.rssi_fails = True  # esp32: the link goes between isconnected() and status("rssi")
    emit(case="rssi_race", rssi=board.rssi())
    AIR.rssi_fails = False
    board_common._wlan.disconnect()
    reason, n, ms = await up("home", "wrong", 1500)
    emit(case="wrong_password", reason=reason, connects=n, ms=ms, ok=board.network_ok())
    reason, n, ms = await up("elsewhere", "secret", 1500)
    emit(case="no_ap", reason=reason, connects=n, ms=ms)
    AIR.join_ms = 60000  # the driver says "joining" forever
    reason, n, ms = await up("home", "secret", 800)
    emit(case="timeout", reason=reason, connects=n, ms=ms)
    AIR.join_ms = 30
    reason, n, ms = await up("", "", 1000)
    emit(case="no_ssid", reason=reason, connects=n)
    board_common._wlan = None
    AIR.radio = False
    reason, n, ms = await up("home", "secret", 1000)
    emit(case="no_radio", reason=reason, connects=n)
    AIR.radio = True
    board.WIFI_COUNTRY = "Deutschland"  # refused by the port (ValueError): a NetworkError
    reason, n, ms = await up("home", "secret", 5000)
    emit(case="bad_country", reason=reason, connects=n)
    board.WIFI_COUNTRY, board.WIFI_POWER_SAVE = "DE", False
    reason, n, ms = await up("home", "secret", 5000)
    emit(case="options", reason=reason, country=network.country(),
         pm_none=board_common._wlan.config("pm") == network.WLAN.PM_NONE)
    # joins slower than board_common's _RETRY_MS: an AP absent (its failure the last
    # the driver reported), then back; then one back in the middle of a join
    AIR.join_ms = 1500
    board_common._wlan.disconnect()
    del AIR.aps["home"]
    reason, n, ms = await up("home", "secret", 2000)
    emit(case="slow_absent", reason=reason, connects=n, ms=ms)
    AIR.aps["home"] = ("secret", -61)
    reason, n, ms = await up("home", "secret", 10000)
    emit(case="slow_back", reason=reason, connects=n, ms=ms, ok=board.network_ok())
    board_common._wlan.disconnect()
    del AIR.aps["home"]
    asyncio.create_task(ap_back_after(1700))
    reason, n, ms = await up("home", "secret", 10000)
    emit(case="slow_midway", reason=reason, connects=n, ms=ms, ok=board.network_ok())
    # a wrong password and a join of 1 s, 1.5 s to join: esp32's first failed join is a
    # handshake timeout (15), which its status() reads as "connecting"
    AIR.join_ms = 1000
    board_common._wlan.disconnect()
    reason, n, ms = await up("home", "wrong", 1500)
    emit(case="wrong_password_slow", reason=reason, connects=n, ms=ms)
    AIR.join_ms = 30
    # a soft reset after `fieldnode config set wifi_ssid=work --reset`: the port keeps
    # the station joined to "home", and the board module, imported afresh, took that
    # for up (the new settings never applied)
    reason, n, ms = await up("home", "secret", 5000)
    AIR.aps["work"] = ("pw2", -55)
    for name in ("board", "board_common"):
        del sys.modules[name]
    import board as again
    CLOCK.use(again.board_common)
    again.NTP_HOST = None
    joined = await again.network_up("work", "pw2", 5000)
    emit(case="soft_reset", joined=joined, ssid=again.board_common._wlan._ssid,
         ok=again.network_ok(), was=reason)


async def ap_back_after(ms):
    await _sleep_ms(ms)
    AIR.aps["home"] = ("secret", -61)
