"""Sans-IO session tests (issue #4): each script runs its test functions under the
runtime and prints one JSON record per test; every record must be ok."""

import pytest

from runtimes import ALL, HOSTED, M32, M32_FROZEN, run

SCRIPTS = ["session_flows.py", "session_errors.py", "session_inflight.py",
           "session_keepalive.py", "session_resume.py", "session_limits.py",
           "session_alias.py", "session_auth.py", "session_buffers.py",
           "session_expiry.py"]


def check(res, runtime):
    tests = [r for r in res.records if "test" in r]
    summary = [r for r in res.records if r.get("summary")]
    assert summary, "script did not finish:\n%s\n%s" % (res.stdout, res.stderr)
    assert tests and len(tests) == summary[0]["tests"]
    failed = ["%s: %s" % (r["test"], r.get("error")) for r in tests if not r["ok"]]
    assert not failed, "failed under %s:\n%s\n\nstderr:\n%s" % (
        runtime, "\n".join(failed), res.stderr[-3000:])


@pytest.mark.runtimes(ALL)
@pytest.mark.parametrize("script", SCRIPTS)
def test_session_script(runtime, script):
    check(run(runtime, script, heapsize="256K"), runtime)


@pytest.mark.parametrize("runtime", ["micropython"])
@pytest.mark.parametrize("script", SCRIPTS)
def test_session_script_compiled(runtime, script):
    """Same tests with the library compiled by mpy-cross, as on a board."""
    check(run(runtime, script, heapsize="256K", mpy=True), runtime + " .mpy")


@pytest.mark.parametrize("runtime", ["micropython"])
def test_session_memory(runtime):
    """Heap held by a Session and allocated per message through it, measured on the
    unix port (numbers printed with -s; figures, not assertions)."""
    res = run(runtime, "session_mem.py", heapsize="256K")
    recs = {r["test"]: r for r in res.records if "test" in r}
    assert recs and all(r["ok"] for r in recs.values()), res.stdout
    for r in recs.values():
        if "bytes" in r:
            print("%s: %s bytes held" % (r["test"], r["bytes"]))
        else:
            print("%s: %s bytes/message" % (r["test"], r["bytes_per_msg"]))


@pytest.mark.runtimes(HOSTED)
def test_clock_wraps_without_allocating_and_keepalive_stays_right(runtime):
    """Issue 11: 2**31 ms of simulated uptime through _compat's wrapping clock; the
    keep-alive decisions stay right across the wrap and nothing allocates (small ints)."""
    rec = run(runtime, "clock_wrap.py", timeout=300).records[0]
    assert rec["simulated_ms"] >= 1 << 31
    assert rec["checks"] > 70000 and rec["wrong"] == 0, rec
    assert rec["ticks_clock"], rec
    if runtime.startswith("micropython"):
        assert rec["alloc"] == 0, rec
    if runtime in (M32, M32_FROZEN):
        assert rec["wraps"] == 2, rec    # ticks wrap at 2**30 on a 32-bit port
