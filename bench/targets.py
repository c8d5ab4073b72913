"""`make bench`'s issue 11 section ("A frugal core"): each figure of the issue's target
table, the issue's baseline ("today"), the target, what this run measured and a verdict.

Nothing is measured here: the values are the cells bench/run.py (64-bit columns) and
bench/device.py (32-bit columns) already hold. ``evaluate()`` is pure (cells in, rows
out); ``section()`` gathers the cells of a run and renders them. bench/report.py calls it.
"""

KIB = 1024
TITLE = "## Issue 11 targets (frugal core)"

# Where a value comes from: (source, column, figure); source "host" is run.py's results
# (64-bit unix port / CPython), "m32" is device.py's 32-bit table.
_FN_MP = "host", "fieldnode_mp"
_FN_M32F = "m32", "fieldnode_m32f"

# (figure, today, target, unit, measured from, op, limit, shown beside)
#   limit: a number in the figure's raw unit, or the (source, column, figure) of a peer
#   measured in the same run; "shown beside": (source, column, figure, label) or None.
ROWS = [
    ("heap after connect, frozen (incl. asyncio)", "26.7 KiB", "<= 10 KiB", "KiB",
     _FN_M32F + ("heap_connected",), "<=", 10 * KIB, None),
    ("heap after connect, .mpy from disk", "75.9 KiB", "<= 32 KiB", "KiB",
     ("m32", "fieldnode_m32", "heap_connected"), "<=", 32 * KIB, None),
    ("min -X heapsize, fixed workload, frozen", "38 KiB", "<= 24 KiB", "KiB",
     _FN_M32F + ("min_heap",), "<=", 24, None),
    (".mpy bytes of the modules the workload loads", "51 KB", "<= 16 KB (16,384 B)", "B",
     _FN_MP + ("mpy_core",), "<=", 16 * KIB, None),
    ("bytes allocated per QoS 0 publish (64-bit)", "458 B", "<= 128 B", "B",
     _FN_MP + ("alloc_qos0",), "<=", 128, _FN_M32F + ("alloc_qos0", "32-bit frozen")),
    ("bytes allocated per QoS 1 publish (64-bit)", "1,250 B", "<= 400 B", "B",
     _FN_MP + ("alloc_qos1",), "<=", 400, _FN_M32F + ("alloc_qos1", "32-bit frozen")),
    ("QoS 1 awaited, MicroPython 64-bit", "8.2k msg/s", ">= 10k msg/s", "msg/s",
     _FN_MP + ("qos1_rate",), ">=", 10000,
     _FN_MP + ("qos1_rate_floor", "a bare asyncio loop, the ceiling")),
    ("QoS 1 windowed, MicroPython 64-bit", "13.6k msg/s", ">= 20k msg/s", "msg/s",
     _FN_MP + ("qos1_window_rate",), ">=", 20000, None),
    ("QoS 0 rate, MicroPython 64-bit", "below umqtt.simple",
     ">= umqtt.simple in the same run", "msg/s",
     _FN_MP + ("qos0_rate",), ">=", ("host", "umqtt_mp", "qos0_rate"), None),
]
PEER_TITLES = {"umqtt_mp": "umqtt.simple"}
_OPS = {"<=": lambda v, lim: v <= lim, ">=": lambda v, lim: v >= lim}


def _lookup(cells, ref):
    """The cell of ``ref`` = (source, column, figure): {"stats"...}, {"error"...} or None."""
    source, column, fig = ref[:3]
    return ((cells.get(source) or {}).get(column) or {}).get(fig)


def _missing(cell, ref):
    """Why a cell holds no value (for "n/a (...)")."""
    if cell and cell.get("error"):
        why = cell["error"]
        return "%s: %s" % (ref[1], why if len(why) <= 70 else why[:69] + "…")
    return "%s %s not measured in this run" % (ref[1], ref[2])


def _text(fmt, ref, cell, unit):
    return "%s %s" % (fmt(ref[2], cell), unit)


def evaluate(cells, fmt):
    """One dict per ROWS entry: figure, today, target, measured (median or None),
    measured_text, verdict ("PASS", "FAIL" or "n/a (reason)").

    ``cells`` = {"host": {column: {figure: cell}}, "m32": {column: {figure: cell}}}, a
    cell being {"stats": {"median", "min", "max", ...}}, {"error": why} or None;
    ``fmt(figure, cell)`` formats a cell's value (bench/report.py's fmt_cell)."""
    out = []
    for figure, today, target, unit, ref, op, limit, beside in ROWS:
        cell = _lookup(cells, ref)
        value = cell["stats"]["median"] if cell and "stats" in cell else None
        row = {"figure": figure, "today": today, "target": target, "measured": value}
        if value is None:
            row["measured_text"] = "—"
            row["verdict"] = "n/a (%s)" % _missing(cell, ref)
            out.append(row)
            continue
        text = _text(fmt, ref, cell, unit)
        verdict = None
        if isinstance(limit, tuple):
            peer = _lookup(cells, limit)
            title = PEER_TITLES.get(limit[1], limit[1])
            if peer and "stats" in peer:
                text += " vs %s %s" % (title, _text(fmt, limit, peer, unit))
                limit = peer["stats"]["median"]
            else:
                verdict = "n/a (%s)" % _missing(peer, limit)
        if beside:
            other = _lookup(cells, beside)
            text += " (%s: %s)" % (beside[3], _text(fmt, beside, other, unit)
                                   if other and "stats" in other else "n/a")
        row["measured_text"] = text
        row["verdict"] = verdict or ("PASS" if _OPS[op](value, limit) else "FAIL")
        out.append(row)
    return out


def markdown(rows):
    lines = [TITLE, "",
             "The targets of issue 11 against this run (verdict on the median; \"today\" is "
             "the issue's baseline; KB = KiB = 1024 bytes).", "",
             "| figure | today | target | measured | verdict |", "|---|---|---|---|---|"]
    lines += ["| %s | %s | %s | %s | %s |" % (r["figure"], r["today"], r["target"],
                                              r["measured_text"], r["verdict"]) for r in rows]
    return "\n".join(lines)


def gather(results, device, opts):
    """The cells of one run: run.py's ``results`` and the Device (None with --no-device);
    figures a command-line option skipped say which option."""
    skipped = "--no-device" if device is None else None
    m32 = {}
    for column in ("fieldnode_m32", "fieldnode_m32f"):
        m32[column] = {fig: ({"error": "not run (--no-device)"} if skipped
                             else device.cell(column, fig))
                       for fig in ("heap_connected", "min_heap", "alloc_qos0", "alloc_qos1")}
    cells = {"host": {col: dict(figs) for col, figs in results.items()}, "m32": m32}
    if opts.no_min_heap:
        for source in cells.values():
            for figs in source.values():
                if figs.get("min_heap") is None:
                    figs["min_heap"] = {"error": "not searched (--no-min-heap)"}
    return cells


def section(R, results, device, opts):
    """(markdown, json rows) of this run's issue 11 section; ``R`` is bench/run.py."""
    rows = evaluate(gather(results, device, opts), R.fmt_cell)
    return markdown(rows), rows
