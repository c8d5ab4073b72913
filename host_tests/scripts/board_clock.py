# The ESP32 and Pico W board modules set the clock from NTP once Wi-Fi is up, against
# the fake machine/network modules (host_tests/fakes/) and a real NTP exchange over
# UDP with the test's local server (host_tests/test_board_ntp.py, which runs this
# on both runtimes); one JSON record per case.
#   board_clock.py <esp32|rp2_pico_w> <server's UDP port on 127.0.0.1> [loop]
# Before each case a control datagram "case NAME SECONDS PLAN" tells the server how to
# answer each query of that case: PLAN is one word per query (no word left: silent),
# each "+"-joined steps: ok (a correct answer, transmit time SECONDS), short (20
# bytes), garbage (the query echoed: mode 3), kod (stratum 0), d<ms> (wait), silent.
import asyncio
import json
import socket
import sys

import board_env

BOARD = sys.argv[1]
PORT = int(sys.argv[2])

board_env.use(BOARD)
import machine  # noqa: E402
import network  # noqa: E402
import board  # noqa: E402
import board_common  # noqa: E402
from mqtt5._compat import ticks_add, ticks_diff, ticks_ms  # noqa: E402

AIR = network.AIR
AIR.aps = {"home": ("secret", -61)}
NOW = 3959000000   # 2025-06-15 18:13:20 UTC as an NTP timestamp
WRAPPED = 128151104  # 2040-02-29 12:00:00 UTC: past the 2036 wrap of the 32-bit seconds

board_common.NTP_PORT = PORT
_ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
_ctl.settimeout(5)
_server = socket.getaddrinfo("127.0.0.1", PORT)[0][-1]


def plan(name, words, seconds=NOW):
    """Tell the server how to answer the queries of case ``name`` (acknowledged)."""
    _ctl.sendto(("case %s %d %s" % (name, seconds, words)).encode(), _server)
    assert _ctl.recv(16) == b"ok"


async def up():
    try:
        return "ok", await board.network_up("home", "secret", 5000)  # True: it joined
    except board.NetworkError as e:
        return e.args[0], None


async def case(name, words="ok", drop=True, unset=False, seconds=NOW):
    """network_up while the server answers as ``words`` says: ``drop`` loses the link
    first (a fresh join), ``unset`` forgets a set clock."""
    if drop and board_common._wlan is not None:
        board_common._wlan.disconnect()
    if unset:
        board_common._clock_set = False
    plan(name, words, seconds)
    del machine.fake_state["rtc_set"][:]
    print("-- " + name)  # the board's log lines of this case follow
    start = ticks_ms()
    reason, joined = await up()
    print(json.dumps({"case": name, "reason": reason, "joined": joined,
                      "ok": board.network_ok(),
                      "set": board_common._clock_set, "ms": ticks_diff(ticks_ms(), start),
                      "rtc": [list(t) for t in machine.fake_state["rtc_set"]]}))


async def main():
    print(json.dumps({"case": "default", "host": board.NTP_HOST}))
    board.NTP_HOST = "127.0.0.1"
    await case("first_join")                                  # boot: sets the clock
    await case("already_up", drop=False)                      # nothing to do
    await case("rejoin")                                      # set once per boot
    await case("fail", "silent silent", unset=True)           # the node goes on
    # the Wi-Fi stays up: clock_due() turns True once a retry is due (5 min), so the
    # keeper's network_up tries the clock again; network_ok() says only the link
    soon = board.clock_due()
    board_common._clock_tried = ticks_add(ticks_ms(), -300000)
    print(json.dumps({"case": "retry_due", "before": soon, "due": board.clock_due(),
                      "ok": board.network_ok()}))
    # a last try so old that ticks_diff() wraps (6.2 days on 32-bit ports: an outage
    # the driver ended by itself, with no network_up meanwhile) is due as well
    board_common._clock_tried = ticks_add(ticks_add(ticks_ms(), 1 - 2 ** 29), -2000)
    wrapped = board.clock_due()
    # a try that raises before the join (a driver's error while connected) waits as
    # long for the next: the keeper tried again at each of its turns
    real = network.country
    network.country = lambda code=None: (_ for _ in ()).throw(OSError(5, "driver"))
    try:
        await board_common.station_up("home", "secret", 1000, None, "DE", None, "127.0.0.1")
        raised = None
    except board.NetworkError as e:
        raised = e.args[0]
    network.country = real
    print(json.dumps({"case": "retry_old_or_raised", "wrapped": wrapped, "raised": raised,
                      "due": board.clock_due()}))
    await case("already_up_unset", drop=False)                # not up again: tries
    await case("retry_ok", "silent ok", unset=True)           # second query answered
    await case("bad_reply", "short+garbage kod", unset=True)  # none counts: not set
    await case("bad_then_ok", "short+kod+garbage+ok", unset=True)  # skipped, then set
    await case("late", "d300+ok", unset=True)                 # within the timeout
    await case("too_late", "d1300+ok", unset=True)            # lands in the 2nd wait
    await case("y2036", "ok", unset=True, seconds=WRAPPED)    # era 1 of NTP time
    board.NTP_HOST = "ntp.invalid"
    await case("dns_fail", unset=True)                        # no query goes out
    board.NTP_HOST = "127.0.0.1"
    await case("own_host")                                    # the rejoin then works
    board.NTP_HOST = None
    await case("no_ntp", unset=True)
    # with the watchdog armed, a timer feeds it while the lookup blocks (rp2's lwIP
    # waits ~7 s per DNS server that does not answer, past the 8.4 s watchdog cap).
    # CPython: the lookup itself sees the timer live (the ports' socket module takes
    # no patch); both: it was made for the lookup and stopped after it
    board.wdt_start(8000)
    seen = []
    real = socket.getaddrinfo

    def lookup(*args):
        live = [t for t in machine.fake_state["timers"] if t.callback is board_common.wdt_feed]
        for t in live:
            t.fake_fire()
        seen.append([t.period for t in live])
        return real(*args)

    if sys.implementation.name == "cpython":
        socket.getaddrinfo = lookup
    n = len(machine.fake_state["timers"])
    feeds = machine.fake_state["wdt"].feeds
    board.NTP_HOST = "127.0.0.1"
    board_common._ntp_addr = None  # looked up again (a retry reuses the address)
    await case("dns_held", unset=True)
    print(json.dumps({"case": "dns_timer", "seen": seen,
                      "fed": machine.fake_state["wdt"].feeds - feeds,
                      "made": [[t.id, t.period, t.callback is None]
                               for t in machine.fake_state["timers"][n:]]}))
    print(json.dumps({"case": "done"}))


async def loop():
    """set_clock waits on a silent server while another task ticks every 10 ms."""
    board.NTP_HOST = "127.0.0.1"
    plan("loop", "silent silent")
    ticks = max_gap = 0
    task = asyncio.create_task(up())
    start = last = ticks_ms()
    while not task.done():
        await asyncio.sleep(0.01)
        ticks += 1
        max_gap = max(max_gap, ticks_diff(ticks_ms(), last))
        last = ticks_ms()
    print(json.dumps({"case": "loop", "reason": (await task)[0], "set": board_common._clock_set,
                      "ms": ticks_diff(ticks_ms(), start), "ticks": ticks,
                      "max_gap": max_gap}))


asyncio.run(loop() if sys.argv[3:] == ["loop"] else main())
