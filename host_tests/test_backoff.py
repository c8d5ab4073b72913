"""mqtt5.backoff (exponential backoff, full jitter) under CPython and MicroPython."""

import pytest

from runtimes import run

CAP = 120000
_RESULTS = {}   # one script run per runtime serves every test below


@pytest.fixture
def rec(runtime):
    if runtime not in _RESULTS:
        result = run(runtime, "backoff_props.py", timeout=120)
        result.record(check="done", runtime=runtime)
        _RESULTS[runtime] = result
    result = _RESULTS[runtime]
    return lambda check, **kw: result.record(check=check, **kw)


def xorshift32(seed, n):
    """Reference xorshift32 (Marsaglia 2003, 13/17/5)."""
    x, out = seed, []
    for _ in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out.append(x)
    return out


def test_ceiling_doubles_from_base_up_to_cap(rec):
    values = rec("ceilings")["values"]
    assert values[:8] == [1000, 2000, 4000, 8000, 16000, 32000, 64000, CAP]
    assert values[7:] == [CAP] * 18


def test_ceiling_with_custom_parameters(rec):
    assert rec("ceilings_custom")["values"] == [100, 300, 900, 2700, 5000, 5000, 5000, 5000]


def test_huge_attempt_stays_at_cap(rec):
    r = rec("huge_attempt")
    assert r["value"] == CAP and 0.99 * CAP <= r["delay"] <= CAP


def test_draw_ends_map_to_window_ends(rec):
    r = rec("ends")
    assert r["low"] == [0] * 10
    assert r["high"] == [min(CAP, 1000 * 2 ** n) for n in range(10)]


def test_prng_is_xorshift32_on_every_runtime(rec):
    assert rec("prng")["values"] == xorshift32(12345, 5)
    assert rec("prng_zero_seed")["values"] == xorshift32(2463534242, 2)


@pytest.mark.parametrize("attempt", [0, 3, 20])
def test_delays_are_uniform_over_the_whole_window(rec, attempt):
    r = rec("distribution", attempt=attempt)
    c, n = r["ceiling"], r["n"]
    assert c == min(CAP, 1000 * 2 ** attempt)
    # bounds: never above the window, and the draw reaches both ends
    assert 0 <= r["min"] <= 0.001 * c + 1 and 0.999 * c <= r["max"] <= c
    # mean of U[0, c] is c/2 (standard error c/sqrt(12 n) ~ 0.002 c)
    assert abs(r["mean"] - c / 2) < 0.01 * c
    # chi-square over 10 equal bins, 9 degrees of freedom: 27.9 is p = 0.001
    expected = n / 10
    chi2 = sum((b - expected) ** 2 / expected for b in r["bins"])
    assert chi2 < 27.9, r["bins"]


def test_random_module_is_a_valid_source(rec):
    values = rec("random_module")["values"]
    assert all(0 <= d <= 1000 * 2 ** n for n, d in enumerate(values))


def test_bad_input_is_refused(rec):
    assert rec("refused")["values"] == [[-1, 0.5], [0, 1.0], [0, -0.1],
                                        {"factor": 0.5}, {"base_ms": -1}, {"cap_ms": -1}]
