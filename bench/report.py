"""The bench's report: the table's rows (FIGURES) and columns (CLIENTS), the targets and
their verdicts, how a cell is written, and the outputs (the printed tables,
bench/results/latest.md and latest.json). bench/run.py runs the workloads and hands its
results here."""

import datetime
import json
import os
import platform
import shutil
import time

from prepare import ROOT, UMQTT, find_tool_or_none, version_of

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


# ---- table ---------------------------------------------------------------------------
# units of the figures that are notes under the table, not rows of it
NOTE_UNITS = {"qos1_rate_floor": "msg/s",
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


def run_meta(bench, R):
    """What the run was and where it ran: latest.json's "meta" (``R`` is bench/run.py)."""
    mp = find_tool_or_none("micropython")
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "quick": bench.opts.quick, "config": bench.cfg, "heapsize": R.HEAPSIZE,
        "elapsed_s": round(time.monotonic() - bench.started, 1),
        "git": bench.git,
        "machine": "%s, %d cores" % (platform.platform(), os.cpu_count() or 0),
        "cpython": platform.python_version(),
        "micropython": version_of([mp, "-c", "import sys; print(sys.version.split('; ')[-1])"])
        if mp else "n/a",
        "mosquitto": version_of([shutil.which("mosquitto") or "/usr/sbin/mosquitto",
                                 "-h"]).split("\n")[0],
        "paho-mqtt": _pkg_version("paho-mqtt"),
        "umqtt.simple": "%s %s (PyPI sdist)" % UMQTT,
    }


def write(bench, notes, R):
    """Print the run's tables and write latest.md and latest.json into --out (``R`` is
    bench/run.py, the ``bench`` a run.Bench that has summarized)."""
    meta = run_meta(bench, R)
    header = ("Fieldnode bench, %s (%s, git %s, %s runs per figure, median (min–max);"
              " one value: every run agreed)"
              % (meta["date"], "quick" if bench.opts.quick else "full", meta["git"],
                 bench.cfg["runs"]))
    env_line = ("%s; CPython %s; %s; paho-mqtt %s; umqtt.simple %s; %s"
                % (meta["micropython"], meta["cpython"], meta["mosquitto"],
                   meta["paho-mqtt"], UMQTT[1], meta["machine"]))
    extra = _extra_lines(bench.results)
    for key, title, _, _ in CLIENTS:
        if key in bench.alias_opt:
            extra.append(
                "%s wire figure: published with Client(topic_alias_out=4)" % title
                if bench.alias_opt[key] == 4 else
                "%s wire figure: Client() does not take topic_alias_out yet, so no topic "
                "alias (the session has it, opt-in)" % title)
    loaded = bench.modules.get("fieldnode_mp")
    if loaded and bench.mpy.get("fieldnode_mp"):
        sizes = sorted(((bench.mpy["fieldnode_mp"].get(m, 0), m) for m in loaded), reverse=True)
        extra.append("Fieldnode core .mpy by module: " + ", ".join(
            "%s %d" % (m, n) for n, m in sizes))
    body = [table(bench.results), "", env_line] + extra
    if notes:
        body += ["", "Errors:", ""] + ["- " + n for n in notes]
    sections = [bench.device.markdown()] if bench.device else []
    import targets  # issue 11's target table, from the cells above
    targets_md, targets_rows = targets.section(R, bench.results, bench.device, bench.opts)
    sections.append(targets_md)
    body += ["", "\n\n".join(sections)]
    print(header + "\n\n" + "\n".join(body))
    out = bench.opts.out
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "latest.md"), "w") as f:
        f.write("# " + header + "\n\n" + "\n\n".join(
            [table(bench.results), "  \n".join([env_line] + extra)]
            + (["Errors:\n\n" + "\n".join("- " + n for n in notes)] if notes else [])
            + sections)
            + "\n")
    clients = {}
    for key, title, runtime, _ in CLIENTS:
        clients[key] = {"title": title, "runtime": runtime, "figures": bench.results[key],
                        "raw": bench.raw[key], "min_heap_runs": bench.heaps[key],
                        "errors": bench.errors[key] + ([bench.setup_errors[key]]
                                                       if key in bench.setup_errors else []),
                        "modules": bench.modules.get(key), "mpy_files": bench.mpy.get(key)}
    with open(os.path.join(out, "latest.json"), "w") as f:
        json.dump({"meta": meta, "targets": {k: v[0] for k, v in TARGETS.items()},
                   "figures": [{"key": k, "label": lbl, "unit": u} for k, lbl, u in FIGURES],
                   "clients": clients,
                   "device32": bench.device.json() if bench.device else None,
                   "issue11_targets": targets_rows},
                  f, indent=1, sort_keys=True)
    bench.log("done: %s" % os.path.relpath(os.path.join(out, "latest.md"), ROOT))


def _extra_lines(results):
    out = []
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


def _pkg_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001 - only informative
        return "n/a"
