"""bench/run.py's pure parts: heapsize bisection, summaries, cells, verdicts.
(The figures themselves come from `make bench`, never from timed assertions.)"""

import importlib.util
import os

import pytest

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "run.py")
_spec = importlib.util.spec_from_file_location("bench_run", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

CLIENT = ("fieldnode_mp", "Fieldnode (MicroPython)", "micropython", "fieldnode.py")


@pytest.mark.parametrize("need", [5, 23, 31, 32, 33, 119, 1000])
def test_min_heap_bisection_finds_the_threshold(monkeypatch, need):
    tried = []

    def fake(client, path, port, kib):
        tried.append(kib)
        return None if kib >= need else "MemoryError"

    monkeypatch.setattr(bench, "fixed_run", fake)
    assert bench.min_heap(CLIENT, [], 1) == need
    assert len(tried) <= 16
    # a later run starts around the earlier answer and still finds it
    tried.clear()
    assert bench.min_heap(CLIENT, [], 1, hint=need) == need
    assert len(tried) <= 5
    # ... or a moved threshold
    assert bench.min_heap(CLIENT, [], 1, hint=need + 10) == need


def test_min_heap_reports_a_workload_that_never_passes(monkeypatch):
    monkeypatch.setattr(bench, "fixed_run", lambda *a: "exit 1: ImportError")
    with pytest.raises(bench.BenchError, match="ImportError"):
        bench.min_heap(CLIENT, [], 1)


def test_summary_median_and_spread():
    st = bench.summarize([3, None, 1, 2])
    assert (st["median"], st["min"], st["max"], st["runs"]) == (2, 1, 3, 3)
    assert bench.summarize([None]) is None


def test_cells_show_spread_errors_and_absence():
    st = bench.summarize([10000.4, 12000, 11000])
    assert bench.fmt_cell("qos1_rate", {"stats": st}) == "11,000 (10,000–12,000)"
    assert bench.fmt_cell("rtt_ms", {"stats": bench.summarize([0.2, 0.2])}) == "0.200"
    assert bench.fmt_cell("heap_connected", {"stats": bench.summarize([16384])}) == "16.0"
    assert bench.fmt_cell("qos0_rate", {"error": "error: exit 1: boom"}) == "n/a (error: exit 1: boom)"
    assert bench.fmt_cell("min_heap", None) == "—"


def test_verdicts_use_targets_and_other_columns():
    def cell(v):
        return {"stats": bench.summarize([v])}

    res = {"fieldnode_mp": {"qos0_rate": cell(50), "rtt_ms": cell(0.31)},
           "umqtt_mp": {"qos0_rate": cell(40)},
           "fieldnode_cpy": {"qos0_rate": cell(10)},
           "paho_cpy": {"qos0_rate": {"error": "error: x"}}}
    assert bench.verdicts("qos0_rate", res) == "MP PASS, CPy n/a"
    assert bench.verdicts("rtt_ms", res) == "MP FAIL"
    assert bench.verdicts("alloc_qos1", res) == ""
    text = bench.table({k: res.get(k, {}) for k, _, _, _ in bench.CLIENTS})
    assert "| QoS 0 publish rate (msg/s) | 50 | 40 | 10 | n/a (error: x) |" in text


def test_workload_output_parsing():
    out = '{"fig": "a", "value": 1}\nTraceback...\n{broken\n{"info": {"x": 1}}\n'
    assert bench.parse_records(out) == [{"fig": "a", "value": 1}, {"info": {"x": 1}}]


def test_device_table_names_each_build_and_shows_gaps():
    spec = importlib.util.spec_from_file_location(
        "bench_device", os.path.join(os.path.dirname(_PATH), "device.py"))
    device = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(device)

    class Opts:
        only = None
        lib = "lib"
    dev = device.Device(bench, Opts, {"runs": 1}, lambda m: None)
    dev.raw["fieldnode_m32f"] = [{"heap_connected": 27443, "alloc_qos0": 229.2}]
    dev.heaps["fieldnode_m32f"] = [40]
    dev.errors["mqttas_m32"] = ["build: no toolchain"]
    text = dev.table()
    assert text.splitlines()[0] == (
        "| figure | Fieldnode m32 .mpy | Fieldnode m32 frozen | umqtt.simple m32 .mpy | "
        "umqtt.simple m32 frozen | mqtt_as m32 .mpy | mqtt_as m32 frozen |")
    row = [r for r in text.splitlines() if r.startswith("| heap after connect")][0]
    assert row.split(" | ")[1:3] == ["—", "26.8"]
    assert "n/a (build: no toolchain)" in row
    assert "| 40 |" in [r for r in text.splitlines() if "min -X" in r][0]
