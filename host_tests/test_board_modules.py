"""The ESP32 and Pico W board modules' logic against the fake machine/network pair
(host_tests/fakes/), on both runtimes: Wi-Fi that fails twice then connects, an AP
that vanishes and comes back, wrong password, no AP, a join that never ends, no
radio; a bouncing button; sensors in fixed point; watchdog, LED, reset cause; the
clock set from NTP (a fake `ntptime`) once the network is up."""

import pytest

from runtimes import run

BOARDS = ("esp32", "rp2_pico_w")


@pytest.mark.parametrize("board", BOARDS)
def test_board_module_with_fakes(runtime, board):
    r = run(runtime, "board_fakes.py", board, timeout=120)
    rec = {x["case"]: x for x in r.records}
    assert "done" in rec, r.stdout

    assert rec["before"] == {"case": "before", "ok": False, "rssi": None}
    fail = rec["fail_twice"]
    assert (fail["reason"], fail["ok"], fail["rssi"]) == ("ok", True, -61)
    if board == "rp2_pico_w":
        # cyw43 gives up after a failed join: the board connects again, twice
        assert fail["connects"] == 3 and fail["ms"] >= 2000
    else:
        # the esp32 driver retries the join itself; one connect() is enough
        assert fail["connects"] == 1
    assert rec["already_up"]["reason"] == "ok" and rec["already_up"]["connects"] == 0

    assert rec["vanished"] == {"case": "vanished", "ok": False, "rssi": None}
    gone = rec["vanished_up"]
    assert gone["reason"] == "no_ap_found" and not gone["ok"]
    assert 1500 <= gone["ms"] < 3000 and gone["connects"] >= 2  # retried until the deadline
    back = rec["back"]
    assert (back["reason"], back["ok"], back["rssi"]) == ("ok", True, -70)

    for case, reason in (("wrong_password", "wrong_password"), ("no_ap", "no_ap_found")):
        assert rec[case]["reason"] == reason, rec[case]
        assert 1500 <= rec[case]["ms"] < 3000
    assert rec["wrong_password"]["ok"] is False
    assert rec["timeout"]["reason"] == "timeout" and 800 <= rec["timeout"]["ms"] < 2000
    assert rec["no_ssid"] == {"case": "no_ssid", "reason": "no_network", "connects": 0}
    # esp32: active(True) raises; rp2: active() says True, the first connect() is refused
    assert rec["no_radio"] == {"case": "no_radio", "reason": "no_network",
                               "connects": 0 if board == "esp32" else 1}
    # the esp32 port's driver does not apply network.country(): the board leaves it
    assert rec["options"] == {"case": "options", "reason": "ok", "pm_none": True,
                              "country": "XX" if board == "esp32" else "DE"}

    button = rec["button"]
    assert button["pin"] == (0 if board == "esp32" else 15) and button["pull_up"]
    assert button["before"] is False
    assert button["counts"] == [1, 1]            # bounce on press and release: one each
    assert button["queued"] == [True, True, False]

    sensors = rec["sensors"]
    assert sensors["unknown"] == "no sensor 'nope'"
    if board == "esp32":
        assert sensors["names"] == ["temperature"]
        assert sensors["t_122F"] == 5000         # 122 F = 50.00 C
    else:
        assert sensors["names"] == ["temperature", "vsys"]
        # RP2040 datasheet: 27 C at 0.706 V, -1.721 mV/C (one 12-bit step is ~0.47 C)
        assert abs(sensors["t_0706"] - 2700) <= 47
        assert abs(sensors["t_0"] - (2700 + 706 * 100000 // 1721)) <= 47
        assert abs(sensors["t_3300"] - (2700 - (3300 - 706) * 100000 // 1721)) <= 47
        assert abs(sensors["vsys"] - 5000) <= 10
        # GPIO29 (shared with the cyw43 clock) made analogue with interrupts off, then restored
        assert sensors["analog_during_read"] == [31, 0x80]
        assert sensors["writes_with_irq_off"] and sensors["irq_on_after"]
        assert sensors["restored"] == [6, 0x56]

    system = rec["system"]
    assert system["id"] == "e6614104032f5a2b" and system["name"] == board
    assert system["config_dir"] == "/"
    assert system["led"] == [1, 0]
    assert system["lightsleep"] == [250]
    assert system["reboots"] == ["reset", "deepsleep"] and system["deepsleep"] == [1000]
    if board == "esp32":
        assert system["causes"] == ["power_on", "hard_reset", "watchdog", "deepsleep",
                                    "soft_reset", "unknown"]
        assert system["wdt"] == [20000, 2]
        assert system["hold"] == [1, 0, True, 1000, 5]      # hardware timer 0, 3 more feeds
    else:
        # rp2 reports only power-on and watchdog resets; its WDT stops at 8388 ms
        assert system["causes"] == ["power_on", "unknown", "watchdog", "unknown", "unknown",
                                    "unknown"]
        assert system["wdt"] == [8388, 2]
        assert system["hold"] == [1, -1, True, 1000, 5]     # a virtual timer, 3 more feeds


def _sections(stdout):
    """case name -> the board's log lines printed during that case (board_clock.py)."""
    out, name = {}, None
    for line in stdout.splitlines():
        if line.startswith("-- "):
            name = line[3:]
            out[name] = []
        elif name is not None and line.startswith("board: "):
            out[name].append(line)
    return out


@pytest.mark.parametrize("board", BOARDS)
def test_board_sets_clock_from_ntp(runtime, board):
    """network_up sets the clock with ntptime (the fake: counted, or raising) once the
    station is up, until that worked once since boot; a failure is one log line and
    network_up still succeeds; each attempt is at most two queries of 1 s."""
    r = run(runtime, "board_clock.py", board, timeout=120)
    rec = {x["case"]: x for x in r.records}
    assert "done" in rec, r.stdout
    assert not r.stderr, r.stderr
    logs = _sections(r.stdout)
    assert rec["default"]["host"] == "pool.ntp.org"
    pool = ["pool.ntp.org", 1]  # host and timeout (s) in force at each query

    def check(case, calls, clock_set, log):
        got = rec[case]
        assert (got["reason"], got["ok"]) == ("ok", True), got  # the node goes on
        assert got["calls"] == calls and got["set"] is clock_set, got
        assert len(logs[case]) == (1 if log else 0), (case, logs[case])
        if log:
            assert log in logs[case][0], (case, logs[case])

    check("first_join", [pool], True, "board: clock set from NTP pool.ntp.org: 20")
    check("already_up", [], True, None)
    check("rejoin", [], True, None)                       # once per boot
    check("fail", [pool, pool], False, "board: clock NOT set from NTP pool.ntp.org "
          "(OSError ")                                     # two tries, then one line
    assert "110" in logs["fail"][0] and "not yet valid" in logs["fail"][0]
    assert (rec["retry_due"]["before"], rec["retry_due"]["due"]) == (True, False)
    check("already_up_unset", [pool], True, "clock set")  # not set yet: tried again
    check("retry_ok", [pool, pool], True, "clock set")    # the second try answered
    check("bad_reply", [pool, pool], False, "(ValueError buffer too small)")
    check("rejoin_after_fail", [pool, pool], True, "clock set")
    check("own_host", [["192.168.1.1", 1]], True, "clock set from NTP 192.168.1.1")
    check("no_ntp", [], False, None)                       # NTP_HOST = None: never
