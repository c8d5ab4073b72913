"""firmware/strictjson.py against CPython's json module as the oracle, on both
runtimes and the 32-bit build: what MicroPython's lenient json.loads takes but is
not JSON is refused, and JSON is accepted."""

import json

import pytest

from runtimes import M32, run

# what MicroPython 1.28's json.loads accepts and RFC 8259 does not (found by a probe
# of a running node: a set_config with "fieldnode\v1" saved "fieldnodev1")
LENIENT = [b'{"sensor":"humidity" "interval_ms":4000}', b'{"a":1,}', b'{,}', b'[1,,2]',
           b'{"interval_ms":04000}', b'[1.]', b'[.5]', b'truefalse', b'{"a":"x\ty"}',
           b'{"topic_prefix":"fieldnode\\v1"}', b'{"a":1}\x00', b'["\\x41"]', b'[-]',
           b'{"a" 1}', b'{"a":1 "b":2}', b'[1 2]', b'{"a":tru}', b'nul', b'["\\u12g4"]',
           b'[1e]', b'[1e+]', b'[01]', b'[-01]', b'{"a":1}}', b'{"a":[1}', b'"abc',
           b'[+1]', b'{1:2}', b"{'a':1}", b'', b' ', b'[NaN]', b'[Infinity]',
           # control bytes taken for hex digits (0x12 | 0x20 is '2'): found by a review
           b'["fn\\u00\x12\x13v1"]', b'["\\u\x10\x11\x12\x13"]', b'[t]', b'[nulL]']
VALID = [b'{}', b'[]', b' {"a" : [1, -2, 3.5e-7, 0, -0.0, 1E+2, true, false, null]} ',
         b'{"sensor":"humidity","interval_ms":4000}', b'"\\u00e9\\n\\t\\"\\\\\\/\\b\\f\\r"',
         '{"name":"caf\u00e9 \U0001F600"}'.encode(), b'\r\n\t[ ]\n', b'0', b'-1',
         b'{"a":{"b":{"c":[[[]]]}}}', b'[' * 8 + b']' * 8, b'["\\uABCD\\uabcd"]']
DEEP = b'[' * 9 + b']' * 9  # JSON, but over strictjson's depth (8): refused
# JSON, refused on purpose (the runtimes read them differently): a name given twice
# (the last wins: a setting lost without a word), a surrogate as a \u escape
# (MicroPython reads the pair as CESU-8; CPython's json.dump writes it so)
REFUSED = [b'{"sensors":{"temperature":{"high":3000}},"keepalive":30,"sensors":{}}',
           b'{"a":{"b":1,"b":2}}', br'{"wifi_ssid":"\ud83d\ude00 Home"}', br'["\uDC00"]',
           br'["\uD800x"]',
           br'{"keepalive":20,"keep\u0061live":40}']  # (the same name, one escaped)


def _json(b):
    try:
        json.loads(b.decode(), parse_constant=lambda c: 1 / 0)
        return True
    except (ValueError, ZeroDivisionError):
        return False


@pytest.mark.runtimes(("cpython", "micropython", M32))
def test_strict_json_agrees_with_cpython(runtime, tmp_path):
    cases = LENIENT + VALID + [DEEP]
    # the oracle: every LENIENT case is refused by CPython, every VALID one taken
    assert [_json(c) for c in cases] == [False] * len(LENIENT) + [True] * (len(VALID) + 1)
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([c.hex() for c in cases]))
    recs = {r["i"]: r for r in run(runtime, "strictjson_cases.py", path).records}
    got = [recs[i]["ok"] for i in range(len(cases))]
    assert got == [False] * len(LENIENT) + [True] * len(VALID) + [False], [
        (cases[i], recs[i]) for i in range(len(cases))
        if got[i] != (len(LENIENT) <= i < len(LENIENT) + len(VALID))]
    assert recs[len(cases) - 1]["why"] == "nested over 8 deep at 8"
    assert recs[LENIENT.index(b'{"topic_prefix":"fieldnode\\v1"}')]["why"] == \
        "unknown escape at 26"


@pytest.mark.runtimes(("cpython", "micropython", M32))
def test_json_the_runtimes_read_differently_is_refused(runtime, tmp_path):
    assert all(_json(c) for c in REFUSED)  # JSON all the same
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([c.hex() for c in REFUSED]))
    recs = {r["i"]: r for r in run(runtime, "strictjson_cases.py", path).records}
    why = [recs[i]["why"] for i in range(len(REFUSED))]
    assert why == ["name given twice at 56", "name given twice at 12",
                   "escaped surrogate (use UTF-8) at 14",
                   "escaped surrogate (use UTF-8) at 2",
                   "escaped surrogate (use UTF-8) at 2", "name given twice at 16"], why
