"""Weeks of uptime (host_tests/scripts/long_uptime.py): past half the ticks period
(6.2 days on 32-bit ports, where ticks_ms wraps every 12.4 days) ticks_diff is wrong,
so spans that long are measured with a seconds clock. Checked on the 32-bit build,
where the wrap happens, and on the host runtimes."""

import pytest

from runtimes import HOSTED, run

DAY_S = 86400
# the cases long_uptime.py checks, each a record of its own: a check whose records went
# missing would pass with none. Message Expiry (s) of a queued message and how long
# (ms) it waited; days a reading waited before it went
EXPIRY_CASES = [(5, 1999), (5, 4999), (5, 5000), (8 * DAY_S, 7 * DAY_S * 1000),
                (10 * DAY_S, 9 * DAY_S * 1000), (30 * DAY_S, 13 * DAY_S * 1000),
                (7 * DAY_S, 14 * DAY_S * 1000)]
STALE_DAYS = [1, 6, 7, 10, 13]


@pytest.mark.runtimes(HOSTED)
def test_weeks_of_uptime(runtime, broker):
    res = run(runtime, "long_uptime.py", broker.url, timeout=120)
    recs = res.records
    # the offline queue: Message Expiry reduced by the time queued, to the ms for
    # short waits, and right after 7-14 days (it was wrong from 6.2 days on)
    expiry = [x for x in recs if x["check"] == "expiry"]
    assert [(r["expiry_s"], r["waited_ms"]) for r in expiry] == EXPIRY_CASES, expiry
    for r in expiry:
        assert (r["expired"], r["sent"]) == (r["want_expired"], r["want_sent"]), r
    # how long each link stayed up; a stable one resets the backoff
    links = res.record(check="links")  # to the ms for a day, then to the second
    assert len(links["got"]) == len(links["want"]), links
    for (ms, attempt), (want_ms, want_attempt) in zip(links["got"], links["want"]):
        assert attempt == want_attempt and abs(ms - want_ms) < (1000 if want_ms >= DAY_S * 1000 else 1), links
    # a week's fatal backoff is waited out (it overflowed asyncio's sleep on 32-bit)
    fatal = res.record(check="fatal_backoff")
    assert fatal["running"] and fatal["state"] == 0, fatal
    # a reading sent days after it was taken carries the time it was taken
    stale = [x for x in recs if x["check"] == "stale"]
    assert [r["days"] for r in stale] == STALE_DAYS, stale
    for r in stale:
        assert r["time"] == r["want"], r
        assert "taken %d s ago" % (r["days"] * DAY_S) in r["log"], r
    clock = res.record(check="app_clock")
    assert clock["uptime_s"] == clock["want_uptime_s"], clock
    assert clock["alloc"] in (None, 0), clock  # no allocation after 13 days
    assert clock["log"] == "network back after %d ms" % (7 * DAY_S * 1000), clock
    # no network at boot for 20 days: the uptime counts the retries
    join = res.record(check="boot_join")
    assert join["uptime_s"] == join["want_uptime_s"] >= 20 * DAY_S, join
    assert join["tries"] > 5000 and "next try in 300 s" in join["log"], join
    # every press counts, after any quiet spell
    assert res.record(check="button")["presses"] == [True] * 8
    # the client's counters modulo 2**30; a plain client's publishes counted
    b = res.record(check="bytes")
    assert 0 < b["bytes_in"] < 1000 and 0 < b["bytes_out"] < 1000, b
    assert b["got"] == 3 and b["msgs_in"] == 1 and b["msgs_out"] == 1, b


@pytest.mark.parametrize("mode", ["forward", "backward"])
def test_unix_watchdog_ignores_wall_clock_steps(runtime, mode):
    r = run(runtime, "unix_wdt_clock.py", mode, timeout=60, check=False)
    if mode == "forward":  # fed all along: stays up
        assert r.returncode == 0 and "still running" in r.stdout, r.stdout
    else:  # not fed for 3 s: ended (MicroPython's board kills its process: -9)
        assert r.returncode in (4, -9) and "still running" not in r.stdout, r.stdout
        assert "board: WATCHDOG: not fed for" in r.stdout, r.stdout
