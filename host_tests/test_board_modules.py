"""The ESP32 and Pico W board modules' logic against the fake machine/network pair
(host_tests/fakes/), on both runtimes: Wi-Fi that fails twice then connects, an AP
that vanishes and comes back, wrong password, no AP, a join that never ends, no
radio; a bouncing button; sensors in fixed point; watchdog, LED, reset cause; the
clock set from NTP once the network is up, over UDP from a local scriptable server."""

import ast
import datetime
import os
import socket
import subprocess
import threading
import time

import pytest

from runtimes import ROOT, run

BOARDS = ("esp32", "rp2_pico_w")
POLL_MS = 100  # board_common._POLL_MS: a join reads the driver's status this often


@pytest.mark.parametrize("board", BOARDS)
def test_board_module_with_fakes(runtime, board):
    """Its time is virtual (board_fakes.py's Clock: the board's ticks_ms and sleep_ms,
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
    # latched at the interrupt (it read the pin, found it released: the press was lost);
    # esp32's IRQ has no flags(): its soft handler reads the pin, here after the bounce
    assert button["fast_bounce"] == ([False, False] if board == "esp32" else [True, False])
    # a release whose contact bounced down and up again before the handler ran: rp2's
    # flags() hold its falling edge, counted as a second press while the button was held
    assert button["release_bounce"] == [True, False], button
    # a press whose hard IRQ came while pressed() took the one before (CPython traces the
    # opcodes: just before it wrote `presses` back): kept, not overwritten
    if runtime == "cpython" and board != "esp32":
        assert button["race"] == [True, True, False, 1], button

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


class NtpServer:
    """A scriptable NTP server on 127.0.0.1 at ``port``: a thread of the test process.

    A control datagram "case NAME SECONDS PLAN" (host_tests/scripts/board_clock.py
    sends one before each case, and gets "ok") starts case NAME: PLAN says how to
    answer each query that follows, one word per query (none left: silent), each
    "+"-joined steps: ok (a server's reply, transmit time SECONDS), short (its first
    20 bytes), garbage (the query echoed: mode 3), kod (stratum 0, "RATE"), d<ms>
    (wait), silent. ``cases[NAME]``: "queries" (per query: was it a 48-byte client
    request, first byte 0x1B?) and "sent" (the SECONDS of each ok reply).
    """

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.cases = {}
        self._case = {"queries": [], "sent": []}
        self._plan, self._seconds = [], 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self):
        self._stop = True
        self._thread.join()
        self.sock.close()

    def _serve(self):
        while not self._stop:
            try:
                data, addr = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            if data.startswith(b"case "):
                _, name, seconds, *self._plan = data.decode().split()
                self._seconds = int(seconds)
                self._case = self.cases[name] = {"queries": [], "sent": []}
                self.sock.sendto(b"ok", addr)
                continue
            self._case["queries"].append(len(data) == 48 and data[0] == 0x1B)
            for step in (self._plan.pop(0) if self._plan else "silent").split("+"):
                self._step(step, data, addr)

    def _step(self, step, query, addr):
        reply = bytearray(48)
        reply[0:4] = b"\x24\x02\x06\xec"  # LI 0, version 4, mode 4; stratum 2
        reply[12:16] = b"\xc0\x00\x02\x01"  # the reference: its upstream server
        reply[24:32] = query[40:48]  # origin: the client's transmit time
        reply[16:20] = reply[32:36] = reply[40:44] = self._seconds.to_bytes(4, "big")
        if step == "ok":
            self._case["sent"].append(self._seconds)
        elif step == "short":
            reply = reply[:20]
        elif step == "garbage":
            reply = query
        elif step == "kod":
            reply[1], reply[12:16] = 0, b"RATE"
        elif step.startswith("d"):
            time.sleep(int(step[1:]) / 1000)
            return
        else:
            assert step == "silent", step
            return
        self.sock.sendto(reply, addr)


@pytest.fixture
def ntp_server():
    server = NtpServer()
    yield server
    server.close()


def rtc_tuple(seconds):
    """What machine.RTC().datetime() is given for NTP time ``seconds`` (as ntptime
    sets it: weekday 1..7 from Monday; timestamps before 2024 are past the 2036 wrap)."""
    if seconds < 3913056000:
        seconds += 1 << 32
    t = datetime.datetime(1900, 1, 1) + datetime.timedelta(seconds=seconds)
    return [t.year, t.month, t.day, t.weekday() + 1, t.hour, t.minute, t.second, 0]


@pytest.mark.parametrize("board", BOARDS)
def test_board_sets_clock_from_ntp(runtime, board, ntp_server):
    """network_up sets the clock from the local NTP server once the station is up,
    until that worked once since boot; a failure is one log line and network_up
    still succeeds; each attempt is at most two queries of 1 s; replies that are
    short, not a server's or a kiss-o'-death are skipped; the RTC gets the time the
    server sent."""
    r = run(runtime, "board_clock.py", board, ntp_server.port, timeout=120)
    rec = {x["case"]: x for x in r.records}
    assert "done" in rec, r.stdout
    assert not r.stderr, r.stderr
    logs = _sections(r.stdout)
    assert rec["default"]["host"] == "pool.ntp.org"

    def check(case, queries, clock_set, log, ms=(0, 1000)):
        got, seen = rec[case], ntp_server.cases[case]
        assert (got["reason"], got["ok"]) == ("ok", True), got  # the node goes on
        assert got["joined"] is (not case.startswith("already_up")), got  # a fresh join?
        assert got["set"] is clock_set, got
        assert seen["queries"] == [True] * queries, (case, seen)  # real client requests
        assert len(logs[case]) == (1 if log else 0), (case, logs[case])
        if log:
            assert log in logs[case][0], (case, logs[case])
        if log and "clock set" in log:  # the RTC got the time the server sent, once
            assert len(seen["sent"]) == 1 and got["rtc"] == [rtc_tuple(seen["sent"][0])], (
                case, seen, got)
            y, mo, d, _, h, mi, sec, _ = got["rtc"][0]
            assert logs[case][0].endswith(": %04d-%02d-%02d %02d:%02d:%02d UTC" % (
                y, mo, d, h, mi, sec)), logs[case]
        else:
            assert got["rtc"] == [], got
        assert ms[0] <= got["ms"] < ms[1] + 1500, got  # + the join and a loaded machine

    local = "board: clock set from NTP 127.0.0.1: "
    check("first_join", 1, True, local + "2025-06-15 18:13:20 UTC")
    check("already_up", 0, True, None)
    check("rejoin", 0, True, None)                        # once per boot
    check("fail", 2, False, "board: clock NOT set from NTP 127.0.0.1 (OSError ",
          (2000, 2000))                                   # two queries, then one line
    assert "110" in logs["fail"][0] and "not yet valid" in logs["fail"][0]
    due = rec["retry_due"]  # due for another try after 5 minutes; the link stays up
    assert (due["before"], due["due"], due["ok"]) == (False, True, True), due
    assert rec["retry_old_or_raised"] == {"case": "retry_old_or_raised", "wrapped": True,
                                          "raised": "no_network", "due": False}
    check("already_up_unset", 1, True, local)             # not set yet: tried again
    check("retry_ok", 2, True, local, (1000, 1000))       # the second query answered
    check("bad_reply", 2, False, "(ValueError kiss-o'-death)", (2000, 2000))
    check("bad_then_ok", 1, True, local)                  # the bad ones skipped
    check("late", 1, True, local, (300, 300))
    check("too_late", 2, True, local, (1300, 1300))       # answered while on the 2nd
    check("y2036", 1, True, local + "2040-02-29 12:00:00 UTC")
    check("dns_fail", 0, False, "board: clock NOT set from NTP ntp.invalid (")
    check("own_host", 1, True, local)                     # an IP address: no DNS
    check("no_ntp", 0, False, None)                       # NTP_HOST = None: never
    check("dns_held", 1, True, local)
    timer = rec["dns_timer"]  # a timer fed the armed watchdog during the lookup only
    assert timer["made"] == [[0 if board == "esp32" else -1, 1000, True]], timer
    if runtime == "cpython":  # (where the lookup can be watched)
        assert timer["seen"] == [[1000]] and timer["fed"] >= 1, timer


@pytest.mark.parametrize("board", BOARDS[:1])  # board_common's code, the same on both
def test_board_ntp_leaves_the_loop_free(runtime, board, ntp_server):
    """While set_clock waits for a silent server (2 queries of 1 s), another task
    ticking every 10 ms keeps running: the keeper would feed the watchdog."""
    r = run(runtime, "board_clock.py", board, ntp_server.port, "loop", timeout=60)
    got = r.record(case="loop")
    assert (got["reason"], got["set"]) == ("ok", False), got
    assert ntp_server.cases["loop"]["queries"] == [True, True]
    assert got["ms"] >= 2000, got
    # a query that blocked the loop would leave a gap of its whole second
    assert got["ticks"] >= 50 and got["max_gap"] < 600, got


def _top_names(path):
    """The names a module's source defines or imports at its top level."""
    with open(path) as f:
        tree = ast.parse(f.read())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names)
    return names


@pytest.mark.parametrize("board", BOARDS + ("unix",))
def test_every_board_has_the_whole_board_api(board):
    # a name boards/board_api.py declares and a board lacks is an AttributeError on
    # that board only, when the firmware first calls it
    api = _top_names(os.path.join(ROOT, "boards", "board_api.py"))
    have = _top_names(os.path.join(ROOT, "boards", board, "board.py"))
    assert sorted(n for n in api if not n.startswith("_") and n not in have) == []


@pytest.mark.parametrize("user_boot", [False, True])
def test_frozen_boot_imports_board_then_runs_yours(tmp_path, user_boot):
    """boards/common/boot.py, frozen into both images, runs at every boot and soft reset
    (the raw REPL's too, where main.py does not run): it imports `board` (the takeover of
    a watchdog left running) and then a /boot.py on the filesystem, which the frozen one
    hides from the port. Run here by the MicroPython unix port as the port runs it (in
    __main__'s globals, the filesystem's root as the working directory), with a stand-in
    `board` that records its import."""
    from runtimes import tool

    (tmp_path / "board.py").write_text("print('board')\n")
    if user_boot:
        (tmp_path / "boot.py").write_text(
            "import sys\nprint('yours', 'board' in sys.modules,"
            " sorted(k for k in globals() if not k.startswith('__')))\n")
    frozen = os.path.join(ROOT, "boards", "common", "boot.py")
    r = subprocess.run([tool("micropython"), "-c", "execfile(%r)\nprint('left', sorted("
                        "k for k in globals() if not k.startswith('__')))" % frozen],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    expect = ["board"] + (["yours True ['sys']", "left ['sys']"] if user_boot else ["left []"])
    assert lines == expect, r.stdout
