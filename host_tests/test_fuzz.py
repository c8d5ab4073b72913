"""The quick subset of `make fuzz` (host_tests/fuzz.py): the session fed 3,000
mutated server packets per runtime; nothing but protocol errors, the right
DISCONNECT, and (MicroPython) no heap growth across cases."""

from runtimes import run


def test_session_fuzz_quick(runtime):
    rec = run(runtime, "session_fuzz.py", 3000, 11, heapsize="4M").record(script="session_fuzz")
    assert rec["failed"] == 0, rec["failures"]
    assert rec["cases"] == 3000 and rec["oracle"] > 500, rec
    # every kind of refusal shows up: malformed, protocol error, too large
    assert {"0x81", "0x82", "0x95"} <= set(rec["errors"]), rec["errors"]
    if runtime == "micropython":
        # measured: -352..704 B over 2,800 to 19,800 cases, not growing with the
        # case count (GC noise); a leak of 1 B per case would show 2.8 KB here
        assert rec["heap_growth"] <= 2048, rec
