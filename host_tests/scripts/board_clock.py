# The ESP32 and Pico W board modules set the clock from NTP once Wi-Fi is up, against
# the fake machine/network/ntptime modules (host_tests/fakes/). Run by
# host_tests/test_board_modules.py on both runtimes; one JSON record per case.
#   board_clock.py <esp32|rp2_pico_w>
import asyncio
import json
import sys

import board_env

BOARD = sys.argv[1]

board_env.use(BOARD)
import network  # noqa: E402
import board  # noqa: E402
import board_common  # noqa: E402
import ntptime  # noqa: E402  (the fake)

AIR = network.AIR
AIR.aps = {"home": ("secret", -61)}


async def case(name, errors=(), drop=True, unset=False):
    """network_up with the NTP answers ``errors`` (exceptions, then success):
    ``drop`` loses the link first (a fresh join), ``unset`` forgets a set clock."""
    if drop and board_common._wlan is not None:
        board_common._wlan.disconnect()
    if unset:
        board_common._clock_set = False
    ntptime.fake_errors[:] = list(errors)
    del ntptime.fake_calls[:]
    print("-- " + name)  # the board's log lines of this case follow
    try:
        await board.network_up("home", "secret", 5000)
        reason = "ok"
    except board.NetworkError as e:
        reason = e.args[0]
    print(json.dumps({"case": name, "reason": reason, "ok": board.network_ok(),
                      "calls": ntptime.fake_calls, "set": board_common._clock_set}))


async def main():
    print(json.dumps({"case": "default", "host": board.NTP_HOST}))
    await case("first_join")                                  # boot: sets the clock
    await case("already_up", drop=False)                      # nothing to do
    await case("rejoin")                                      # set once per boot
    timeout = OSError(110)                                    # ETIMEDOUT: no answer
    await case("fail", [timeout, timeout], unset=True)        # the node goes on
    # the Wi-Fi stays up: network_ok() turns False once a retry is due (5 min), so
    # the keeper's network_up tries the clock again
    from mqtt5._compat import ticks_add, ticks_ms
    soon = board.network_ok()
    board_common._clock_tried = ticks_add(ticks_ms(), -300000)
    print(json.dumps({"case": "retry_due", "before": soon, "due": board.network_ok()}))
    await case("already_up_unset", drop=False)                # not up again: tries
    await case("retry_ok", [timeout], unset=True)             # second try answers
    await case("bad_reply", [ValueError("buffer too small")] * 2, unset=True)
    await case("rejoin_after_fail", [OSError(-202)])          # DNS failed, then works
    board.NTP_HOST = "192.168.1.1"
    await case("own_host", unset=True)
    board.NTP_HOST = None
    await case("no_ntp", unset=True)
    print(json.dumps({"case": "done"}))


asyncio.run(main())
