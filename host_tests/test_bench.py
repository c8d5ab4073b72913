"""bench/run.py's pure parts: heapsize bisection, summaries, cells, verdicts (the last two
from bench/report.py, which run.py imports).
(The figures themselves come from `make bench`, never from timed assertions.)"""

import importlib.util
import os
import subprocess
import sys

import pytest

from paho_peer import PahoPeer
from runtimes import run

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "run.py")
_spec = importlib.util.spec_from_file_location("bench_run", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

CLIENT = ("fieldnode_mp", "Fieldnode (MicroPython)", "micropython", "fieldnode.py")


def _reference(runtime, fig, script, *args):
    # a reference workload of the bench (bench/workloads) run once: its figure's record
    res = run(runtime, os.path.join(bench.WORKLOADS, script), "full", *args)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.record(fig=fig)


@pytest.mark.runtimes(("micropython",))
def test_bare_asyncio_loop_checks_each_puback(runtime, broker):
    # the awaited QoS 1 ceiling beside Fieldnode's figure: it must really wait for each
    # PUBACK (its packet id checked), not run ahead on a stream it misreads
    rec = _reference(runtime, "qos1_rate_floor", "asyncio_floor.py", broker.port, 300, 60000)
    assert rec["n"] == 300 and rec["value"] > 0


@pytest.mark.runtimes(("cpython", "micropython"))
def test_session_cost_completes_every_publish(runtime):
    # the session-alone reference: each of its publishes must end in PUBLISH_DONE
    rec = _reference(runtime, "session_us_qos1", "session_cost.py", 500)
    assert rec["n"] == 500 and rec["value"] > 0


@pytest.mark.runtimes(("cpython", "micropython"))
@pytest.mark.parametrize("mode", ["awaited", "qos0"])
def test_instruction_loops_publish_every_message(runtime, broker, mode):
    # bench/instructions.py's loops (under callgrind there): each runs to the end, its
    # last QoS 1 publish acknowledged, and a subscriber (a paho peer, outside the loop
    # callgrind counts) receives every message it published: the loop's own count
    # says only that publish() returned (a QoS 0 one dropped unsent returned too)
    with PahoPeer(broker, "bench-loop-watch") as peer:
        peer.subscribe("bench/loop/data", qos=1)
        res = run(runtime, os.path.join(bench.WORKLOADS, "loop.py"), mode, broker.port, 200)
        rec = res.record(fig="loop_messages")
        assert rec["value"] == 200 and rec["mode"] == mode and rec["last_rc"] in (0, 0x10)
        # the last QoS 1 one's PUBACK came after the broker had the 200 before it (one
        # TCP stream, in order); it forwards them to the peer in order, the QoS 1 last
        got = peer.wait_messages("bench/loop/data", 201, timeout=20)
    assert [m.qos for m in got] == [1 if mode == "awaited" else 0] * 200 + [1], got
    assert len(peer.on("bench/loop/data")) == 201


@pytest.mark.parametrize("argv, says", [(["--loops", "awaited,bogus"], "unknown loop bogus"),
                                        (["-n", "5"], "-n must be at least 10"),
                                        (["--lib", "/nonexistent"], "holds no mqtt5 package")])
def test_instructions_refuses_bad_arguments(argv, says):
    # refused with exit 2 and a reason before anything runs (valgrind not needed)
    tool = os.path.join(os.path.dirname(_PATH), "instructions.py")
    p = subprocess.run([sys.executable, tool] + argv, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and says in p.stderr, p.stdout + p.stderr


# callgrind_annotate's output as valgrind 3.19 prints it (shortened paths)
_FLAT = """\
--------------------------------------------------------------------------------
1,470,969,417 (100.0%)  PROGRAM TOTALS
--------------------------------------------------------------------------------
329,364,117 (22.39%)  /p/py/map.c:mp_map_lookup [/v/micropython_run.so]
250,103,455 (17.00%)  /p/py/vm.c:mp_execute_bytecode'2 [/v/micropython_run.so]
     14,059 ( 0.00%)  ???:pthread_getspecific@@GLIBC_2.34 [/usr/lib/libc.so.6]
"""
_TREE = """\
  2,306 ( 0.00%)  < /p/py/objfun.c:fun_bc_call (28x) [/v/micropython_run.so]
   1,000 ( 0.00%)  *  /p/py/objfun.c:mp_obj_fun_x [/v/micropython_run.so]

119,563,913 ( 8.13%)  < /p/py/runtime.c:mp_load_global (485,710x) [/v/micropython_run.so]
 70,714,204 ( 4.81%)  < /p/py/objtype.c:mp_obj_class_lookup (405,734x) [/v/micropython_run.so]
        276 ( 0.00%)  < /p/py/bc.c:mp_setup_code_state_helper (2x) [/v/micropython_run.so]
329,364,117 (22.39%)  *  /p/py/map.c:mp_map_lookup [/v/micropython_run.so]
  5,000 ( 0.00%)  >   /p/py/map.c:mp_map_rehash (3x) [/v/micropython_run.so]
"""


def test_instructions_reads_callgrind_annotate_by_function_and_by_caller():
    # --by-function's reading of callgrind_annotate: each function's own count, and
    # what each caller spent in mp_map_lookup (not another function's callers)
    spec = importlib.util.spec_from_file_location(
        "instructions", os.path.join(os.path.dirname(_PATH), "instructions.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.parse_annotate(_FLAT) == {"mp_map_lookup": 329364117,
                                          "mp_execute_bytecode'2": 250103455,
                                          "pthread_getspecific@@GLIBC_2.34": 14059}
    assert tool.parse_annotate(_TREE, tree=True) == {"mp_load_global": 119563913,
                                                     "mp_obj_class_lookup": 70714204,
                                                     "mp_setup_code_state_helper": 276}


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


# ---- issue 11's target section (bench/targets.py) ------------------------------------
_tspec = importlib.util.spec_from_file_location(
    "bench_targets", os.path.join(os.path.dirname(_PATH), "targets.py"))
targets = importlib.util.module_from_spec(_tspec)
_tspec.loader.exec_module(targets)


def _cell(v):
    return {"stats": bench.summarize([v])}


def _run_cells(over=None):
    """A whole run's cells, every issue 11 target met; ``over`` replaces some cells."""
    cells = {"host": {"fieldnode_mp": {"mpy_core": _cell(15000), "alloc_qos0": _cell(85.2),
                                       "alloc_qos1": _cell(390), "qos1_rate": _cell(12000),
                                       "qos1_rate_floor": _cell(14000),
                                       "qos1_window_rate": _cell(25000),
                                       "qos0_rate": _cell(36000)},
                      "umqtt_mp": {"qos0_rate": _cell(27000)}},
             "m32": {"fieldnode_m32": {"heap_connected": _cell(30 * 1024)},
                     "fieldnode_m32f": {"heap_connected": _cell(9 * 1024), "min_heap": _cell(24),
                                        "alloc_qos0": _cell(42.6), "alloc_qos1": _cell(300)}}}
    for (source, column, fig), cell in (over or {}).items():
        cells[source].setdefault(column, {})[fig] = cell
    return cells


def _rows(cells):
    return {r["figure"]: r for r in targets.evaluate(cells, bench.fmt_cell)}


def test_issue11_rows_one_per_target_all_pass():
    rows = targets.evaluate(_run_cells(), bench.fmt_cell)
    assert len(rows) == len(targets.ROWS) == 9
    assert [r["verdict"] for r in rows] == ["PASS"] * 9
    by = {r["figure"]: r for r in rows}
    assert by["heap after connect, frozen (incl. asyncio)"]["measured_text"] == "9.0 KiB"
    assert by["min -X heapsize, fixed workload, frozen"]["measured"] == 24   # <= is inclusive
    assert by["bytes allocated per QoS 0 publish (64-bit)"]["measured_text"] == (
        "85.2 B (32-bit frozen: 42.6 B)")
    assert by["QoS 0 rate, MicroPython 64-bit"]["measured_text"] == (
        "36,000 msg/s vs umqtt.simple 27,000 msg/s")
    # the bare asyncio loop of the same run beside the awaited rate, for context
    assert by["QoS 1 awaited, MicroPython 64-bit"]["measured_text"] == (
        "12,000 msg/s (a bare asyncio loop, the ceiling: 14,000 msg/s)")


def test_issue11_fail_on_the_right_side_of_each_limit():
    rows = _rows(_run_cells({
        ("m32", "fieldnode_m32", "heap_connected"): _cell(32 * 1024 + 1),
        ("host", "fieldnode_mp", "mpy_core"): _cell(47855),
        ("host", "fieldnode_mp", "qos1_window_rate"): _cell(19999),
        # the verdict is on the 64-bit value, whatever the 32-bit one beside it
        ("host", "fieldnode_mp", "alloc_qos1"): _cell(962.6),
        ("m32", "fieldnode_m32f", "alloc_qos1"): _cell(100)}))
    fails = sorted(f for f, r in rows.items() if r["verdict"] == "FAIL")
    assert fails == [".mpy bytes of the modules the workload loads",
                     "QoS 1 windowed, MicroPython 64-bit",
                     "bytes allocated per QoS 1 publish (64-bit)",
                     "heap after connect, .mpy from disk"]
    assert rows[".mpy bytes of the modules the workload loads"]["measured_text"] == "47,855 B"


def test_issue11_qos0_rate_against_umqtt_in_the_same_run():
    slower = _rows(_run_cells({("host", "umqtt_mp", "qos0_rate"): _cell(36001)}))
    assert slower["QoS 0 rate, MicroPython 64-bit"]["verdict"] == "FAIL"
    equal = _rows(_run_cells({("host", "umqtt_mp", "qos0_rate"): _cell(36000)}))
    assert equal["QoS 0 rate, MicroPython 64-bit"]["verdict"] == "PASS"
    gone = _rows(_run_cells({("host", "umqtt_mp", "qos0_rate"): {"error": "error: PyPI down"}}))
    row = gone["QoS 0 rate, MicroPython 64-bit"]
    assert row["verdict"] == "n/a (umqtt_mp: error: PyPI down)"
    assert row["measured_text"] == "36,000 msg/s"


def test_issue11_missing_values_are_na_with_the_reason():
    rows = _rows(_run_cells({
        ("m32", "fieldnode_m32f", "min_heap"): None,
        ("host", "fieldnode_mp", "qos1_rate"): {"error": "not run"},
        ("m32", "fieldnode_m32f", "alloc_qos0"): None}))
    assert rows["min -X heapsize, fixed workload, frozen"]["verdict"] == (
        "n/a (fieldnode_m32f min_heap not measured in this run)")
    assert rows["QoS 1 awaited, MicroPython 64-bit"]["verdict"] == "n/a (fieldnode_mp: not run)"
    assert rows["QoS 1 awaited, MicroPython 64-bit"]["measured"] is None
    # a missing value beside the measured one does not change the verdict
    assert rows["bytes allocated per QoS 0 publish (64-bit)"]["measured_text"] == (
        "85.2 B (32-bit frozen: n/a)")
    assert rows["bytes allocated per QoS 0 publish (64-bit)"]["verdict"] == "PASS"


def test_issue11_section_of_a_run_skipping_options():
    class Opts:
        no_min_heap = True
    results = {"fieldnode_mp": {"min_heap": None, "qos1_rate": _cell(6234)},
               "umqtt_mp": {}}
    md, rows = targets.section(bench, results, None, Opts)
    lines = md.splitlines()
    assert lines[0] == targets.TITLE
    table = [ln for ln in lines if ln.startswith("| ")][1:]
    assert len(table) == len(rows) == len(targets.ROWS)
    assert table[0] == ("| heap after connect, frozen (incl. asyncio) | 26.7 KiB | <= 10 KiB | — "
                        "| n/a (fieldnode_m32f: not run (--no-device)) |")
    assert "| QoS 1 awaited, MicroPython 64-bit | 8.2k msg/s | >= 10k msg/s | 6,234 msg/s "\
           "(a bare asyncio loop, the ceiling: n/a) | FAIL |" in lines
    assert results["fieldnode_mp"]["min_heap"] is None     # run.py's cells are not touched


def _node_module():
    sys.path.insert(0, bench.WORKLOADS)
    import node  # bench/workloads/node.py: the whole node's runs

    return node


def test_node_runs_tell_a_full_heap_from_ctrl_c_landing_in_a_collection(monkeypatch):
    # The unix port raises Ctrl-C from its signal handler wherever the interpreter is
    # (MICROPY_ASYNC_KBD_INTR): inside a garbage collection it leaves the heap locked,
    # and the node's goodbye then fails with "heap is locked".  That is no full heap:
    # the run is tried again, where a real MemoryError ends the try at that size.
    node = _node_module()
    locked = ("node: -> stats {}\nTraceback (most recent call last):\n  File \"client.py\", "
              "line 326, in abort\nMemoryError: memory allocation failed, heap is locked\n")
    full = "node: boot\nMemoryError: memory allocation failed, allocating 1016 bytes\n"
    assert not node.heap_full(locked) and node.heap_full(full)
    assert node.heap_full(locked + full)  # both: the heap was full too
    runs = []

    def fake(b, kib, seconds, runtime):
        runs.append(kib)
        out = outs.pop(0)
        return out == "ok", ({"mem_free": 1000} if out == "ok" else None), out

    monkeypatch.setattr(node, "run_node", fake)
    monkeypatch.setattr(node, "gc_tables", lambda runtime, kib: 24)
    outs = [locked, "ok"]
    assert node.runs_in(None, 40, 1, "micropython") == (True, "ok") and runs == [40, 40]
    outs, runs[:] = [full, "ok"], []
    assert node.runs_in(None, 36, 1, "micropython") == (False, full) and runs == [36]
    outs, runs[:] = [locked, "ok"], []
    assert node.heap_after_boot(None, "micropython", 1) == 512 * 1024 - 1000 - 24
    outs = [locked, locked]
    with pytest.raises(RuntimeError, match="heap is locked"):
        node.heap_after_boot(None, "micropython", 1)
