"""The ESP32 and Pico W board modules set the clock from NTP once the network is up,
over UDP from a local scriptable server (NtpServer), on both runtimes
(scripts/board_clock.py against the fake machine/network pair)."""

import datetime
import socket
import threading
import time

import pytest

from runtimes import run
from test_board_modules import BOARDS


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
