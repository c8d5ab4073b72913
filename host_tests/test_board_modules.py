"""The ESP32 and Pico W board modules' logic against the fake machine/network pair
(host_tests/fakes/), on both runtimes: Wi-Fi that fails twice then connects, an AP
that vanishes and comes back, wrong password, no AP, a join that never ends, no
radio; a bouncing button; sensors in fixed point; watchdog, LED, reset cause. The
clock set from NTP is in test_board_ntp.py; the board API and boot.py in
test_board_api.py."""

import pytest

from runtimes import run

BOARDS = ("esp32", "rp2_pico_w")
POLL_MS = 100  # board_common._POLL_MS: a join reads the driver's status this often


@pytest.mark.parametrize("board", BOARDS)
def test_board_module_with_fakes(runtime, board):
    """Its time is virtual (board_fakes_setup.py's Clock: the board's ticks_ms and sleep_ms,
    the fake driver's joins): the ms a case reports are the board's arithmetic, exact
    whatever the machine's load, and a join that gives up does so at its first poll past
    the deadline."""
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
    assert 1500 <= gone["ms"] < 1500 + POLL_MS and gone["connects"] >= 2  # retried till then
    back = rec["back"]
    assert (back["reason"], back["ok"], back["rssi"]) == ("ok", True, -70)
    # a link lost between isconnected() and the esp32's rssi query: None, not an OSError
    # that ended the stats task (and then the watchdog reset the board)
    assert rec["rssi_race"]["rssi"] in ((None,) if board == "esp32" else (0,))

    for case, reason in (("wrong_password", "wrong_password"), ("no_ap", "no_ap_found")):
        assert rec[case]["reason"] == reason, rec[case]
        assert 1500 <= rec[case]["ms"] < 1500 + POLL_MS
    assert rec["wrong_password"]["ok"] is False
    assert rec["timeout"]["reason"] == "timeout" and 800 <= rec["timeout"]["ms"] < 800 + POLL_MS
    assert rec["no_ssid"] == {"case": "no_ssid", "reason": "no_network", "connects": 0}
    # esp32: active(True) raises; rp2: active() says True, connect() is refused, and
    # again after a disconnect() (which stops an esp32 driver's own rejoin)
    assert rec["no_radio"] == {"case": "no_radio", "reason": "no_network",
                               "connects": 0 if board == "esp32" else 2}
    # the esp32 port's driver does not apply network.country(): the board leaves it
    assert rec["options"] == {"case": "options", "reason": "ok", "pm_none": True,
                              "country": "XX" if board == "esp32" else "DE"}
    # joins of 1.5 s, longer than board_common's _RETRY_MS, after an absent AP's failure:
    # each new connect() waits for its own join (esp32: disconnect()'s ASSOC_LEAVE
    # replaced the old reason, read as idle), none is cut short by the old failure
    assert rec["slow_absent"]["reason"] == "no_ap_found", rec["slow_absent"]
    back = rec["slow_back"]
    assert (back["reason"], back["ok"], back["connects"]) == ("ok", True, 1), back
    assert 1500 <= back["ms"] < 1500 + POLL_MS, back  # one join of 1.5 s
    mid = rec["slow_midway"]  # back 1.7 s into the join: joined by the next attempt
    assert (mid["reason"], mid["ok"]) == ("ok", True) and mid["ms"] < 7000, mid
    # a wrong password: rp2 reports it at the first failed join; esp32's first one is a
    # handshake timeout (reason 15) that status() reads as STAT_CONNECTING, and only
    # from the next (205, the AP blacklisted) STAT_WRONG_PASSWORD: one join is "timeout"
    assert rec["wrong_password_slow"]["reason"] == (
        "timeout" if board == "esp32" else "wrong_password"), rec["wrong_password_slow"]
    # a country code the port refuses is the network's failure, named, like the others
    # (esp32: the board sets no country)
    if board == "rp2_pico_w":
        assert rec["bad_country"] == {"case": "bad_country", "reason": "bad_country",
                                      "connects": 0}, rec["bad_country"]
    else:
        assert rec["bad_country"]["reason"] == "ok", rec["bad_country"]
    # after a soft reset the port still holds the old join: the station is joined
    # afresh, to the network the config now names
    assert rec["soft_reset"] == {"case": "soft_reset", "joined": True, "ssid": "work",
                                 "ok": True, "was": "ok"}, rec["soft_reset"]

    button = rec["button"]
    assert button["pin"] == (0 if board == "esp32" else 15) and button["pull_up"]
    # a hard IRQ where the port has one (rp2; test_rp2_emulator.py presses it in a
    # blocking call); the esp32 port's pin IRQs are soft only
    assert button["hard"] is (board != "esp32"), button
    assert button["before"] is False
    assert button["counts"] == [1, 1]            # bounce on press and release: one each
    assert button["queued"] == [True, True, False]
    # a press whose contact bounced back up before the handler ran, and down again within
    # the debounce time: rp2's handler reads the falling edge from the IRQ's flags(),
    # latched at the interrupt; esp32's IRQ has no flags(), but its soft handler runs for
    # each edge, and the first after a quiet period while released is a fall (both read
    # the pin, found it released: the press was lost)
    assert button["fast_bounce"] == [True, False], button
    # a press begun and over before its handler ran (a blocking call): the same
    assert button["press_within"] == [True, False], button
    # a release whose contact bounced down and up again before the handler ran: rp2's
    # flags() hold its falling edge, counted as a second press while the button was held
    assert button["release_bounce"] == [True, False], button
    # a press whose hard IRQ came while pressed() took the one before (CPython traces the
    # opcodes: just before it wrote `presses` back): kept, not overwritten
    if runtime == "cpython" and board != "esp32":
        assert button["race"] == [True, True, False, 1], button
    # a press as rp2's pin.irq() switched the hard IRQ on, before Button() had set what
    # the handler reads: it raised (AttributeError), and a port switches it off for good
    assert button["edge_at_start"] == [[], True, True, False], button

    sensors = rec["sensors"]
    assert sensors["unknown"] == "no sensor 'nope'"
    if board == "esp32":
        assert sensors["names"] == ["temperature"]
        assert sensors["t_122F"] == 5000         # 122 F = 50.00 C
        # 128 is the sensor's "no reading": a sensor error, not 53.33 C
        assert sensors["t_128F"] == "temperature: the sensor gave no reading (raw 128)"
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
        # a failed read left the Wi-Fi chip's clock pin analogue (Wi-Fi dead until a reset)
        assert sensors["restored_after_error"] == [6, 0x56, True]

    system = rec["system"]
    assert system["id"] == "e6614104032f5a2b" and system["name"] == board
    assert system["config_dir"] == "/"
    assert system["led"] == [1, 0]
    assert system["lightsleep"] == [250]
    # woken at once, then after 300 ms: slept again for the rest (ended at the first)
    assert system["early_lightsleep"] == [[1000, 1000, 700], 1000]
    if board == "esp32":  # no watchdog: pieces of an hour; esp32's deep sleep is its own
        assert system["hours"] == [[3600000, 3600000, 5], [7200000]]
    else:
        assert system["hours"] == [[3600000, 3600000, 5, 3600000, 3600000], []]
    # the watchdog armed at 20 s (rp2: 8388 ms, its most) counts in light sleep: the sleep
    # goes in pieces of half of it, each fed after; rp2's deep sleep is a light sleep and
    # a reset
    if board == "esp32":
        assert system["long_lightsleep"] == [[10000, 10000], 2]
        assert system["long_deepsleep"] == [[], [20000]]  # the chip is off: no watchdog
    else:  # rp2's deep sleep is a light sleep any interrupt ends, then a reset: all of it
        # slept as a light sleep (fed pieces, by the clock), then machine.reset()
        assert system["long_lightsleep"] == [[4194] * 4 + [3224], 5]
        assert system["long_deepsleep"] == [[4194] * 4 + [3224], []]
    if board == "esp32":
        assert system["reboots"] == ["reset", "deepsleep"] and system["deepsleep"] == [[], [1000]]
    else:
        assert system["reboots"] == ["reset", "reset"] and system["deepsleep"] == [[1000], []]
    if board == "esp32":
        assert system["causes"] == ["power_on", "hard_reset", "watchdog", "deepsleep",
                                    "soft_reset", "unknown"]
        assert system["wdt"] == [20000, 2]
        assert not system["armed_at_import"]  # a power-on: none armed
        # a soft reset: one armed before it runs on, taken over (600 s, timer 0 feeds it)
        assert system["adopted"] == [600000, 1, [0], 20000, True]
        assert system["hold"] == [1, 0, True, 1000, 3]      # hardware timer 0, 3 feeds
        assert system["cover"] == [[], 0, [], 0]  # no timer: none runs during its lookup
    else:
        # the watchdog's REASON: machine.reset_cause() said "watchdog" for a
        # machine.reset() and a deep sleep's end too; deepsleep() marks SCRATCH0, and
        # the mark is cleared once read. A soft reset after each: "soft_reset" (before,
        # the chip reset's cause again: REASON stays). Its WDT stops at 8388 ms
        assert system["causes"] == [[c, 0, "soft_reset"] for c in (
            "power_on", "watchdog", "hard_reset", "deepsleep", "watchdog", "power_on")]
        assert system["cause_at_import"] == "power_on"
        assert system["cause_after_soft_reset"] == "soft_reset"
        assert system["deepsleep_mark"] == 0x6465
        # armed before a soft reset: taken over at import (8388 ms, fed by a timer);
        # the node's wdt_start() ends the hold (its timer fed no more)
        assert system["adopted"] == [8388, 1, 1, 5000, 0, True]
        assert system["wdt"] == [8388, 2]
        assert system["hold"] == [1, -1, True, 1000, 3]     # a virtual timer, 3 feeds
        # a timer fed it during a connect's lookup, stopped after; none past COVER_MS
        assert system["cover"] == [[1000], 1, [True], 0]
