"""Where a connected client's heap goes, object by object, on the 32-bit frozen build.

    .venv/bin/python bench/heapmap.py            # Markdown tables on stdout
    .venv/bin/python bench/heapmap.py --node     # the same for the whole node after boot

Runs bench/workloads/heapmap_probe.py on ``micropython-m32-frozen`` (the library
frozen in, as on a board) against a Mosquitto it starts.  The probe prints
MicroPython's GC block map (``micropython.mem_info(1)``: one letter per 16-byte block,
the head block naming the object's type) before asyncio, after it, and with the client
connected.  Objects that are new in the connected map, against the asyncio one, are
the client's; they are counted by kind.  The probe also prints how many names each
mqtt5 module dict, class dict and the two big instances hold: MicroPython grows a dict
through fixed sizes (2, 4, 6, 8, 10, 12, 17, 23, 29, 37, 47, ...) only once it is full,
so its table costs 8 bytes a slot of the next size up (py/map.c).  Issue 11 reads its
after-connect figure from `make bench`; this says what that figure is made of.

With ``--node`` the probe runs the whole node instead: the firmware
boots as a flashed board does (the unix board, the bench's node config), runs for a
few seconds, and the objects new against the asyncio map are the node's (the smallest of
four maps 0.25 s apart, between its messages); every module
loaded after asyncio (library, firmware, board) has its dict listed.
"""

import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))
from broker import Broker  # noqa: E402
from runtimes import M32_FROZEN, command, run  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "bench", "workloads"))
from node import node_env  # noqa: E402  (the bench's whole-node config and environment)

PROBE = os.path.join(ROOT, "bench", "workloads", "heapmap_probe.py")
BLOCK = 16  # bytes per GC block on a 32-bit port
SLOT = 8  # a dict slot: key and value, 4 bytes each
SIZES = (0, 2, 4, 6, 8, 10, 12, 17, 23, 29, 37, 47, 59, 73, 97, 127, 167, 223)  # py/map.c
KINDS = {"B": "functions (bytecode function objects)", "M": "module objects",
         "D": "dict objects (their tables are among the rest)", "T": "tuples",
         "L": "lists (their item arrays are among the rest)", "S": "str and bytes",
         "A": "bytearrays (their data is among the rest)",
         "h": "the rest: dict tables, classes, instances, list items, tasks, ..."}


def table_slots(names):
    """Slots of the table MicroPython has grown a dict of `names` entries to."""
    return next(s for s in SIZES if s >= names)


def objects(layout):
    """{start block: (kind letter, blocks)} of a GC block map."""
    out = {}
    start = kind = None
    n = 0
    for i, c in enumerate(layout + "."):
        if c == "=":
            n += 1
            continue
        if kind is not None:
            out[start] = (kind, n)
        kind, start, n = (None if c == "." else c), i, 1
    return out


def parse(stdout):
    maps, dicts, lines, phase = {}, [], [], None
    for line in stdout.splitlines():
        if line.startswith("{"):
            rec = json.loads(line)
            if "map" in rec:
                if rec.get("end"):
                    maps[phase] = "".join(re.findall(r"^[0-9a-f]{8}: (.*)$", "\n".join(lines),
                                                     re.M))
                    phase = None
                else:
                    phase, lines = rec["map"], []
            elif "dict" in rec:
                dicts.append(rec)
        elif phase is not None:
            lines.append(line)
    return maps, dicts


def quietest(maps, prefix="node"):
    """The phase, of those named ``prefix``0, 1, ..., whose new objects take the fewest
    bytes: the node between its messages (one in flight holds a few hundred bytes)."""
    phases = sorted(p for p in maps if p.startswith(prefix))
    return min(phases, key=lambda p: sum(b for _, b in census(maps, p).values()))


def census(maps, phase="connected", since="asyncio"):
    """{kind letter: (objects, bytes)} of the objects new in `phase` against `since`."""
    before, after = objects(maps[since]), objects(maps[phase])
    out = {}
    for k, v in after.items():
        if before.get(k) != v:
            n, b = out.get(v[0], (0, 0))
            out[v[0]] = (n + 1, b + v[1] * BLOCK)
    return out


def report(maps, dicts, phase="connected", who="the client"):
    rows = ["| kind | objects | bytes |", "|---|---|---|"]
    got = census(maps, phase)
    for k in "BMDTLSAh":
        if k in got:
            rows.append("| %s | %d | %s |" % (KINDS[k], got[k][0], format(got[k][1], ",")))
    rows.append("| **%s, %s** | %d | **%s** |" % (
        who, "after connect" if phase == "connected" else "after boot",
        sum(n for n, _ in got.values()), format(sum(b for _, b in got.values()), ",")))
    asyncio_bytes = sum(b for _, b in census(maps, "asyncio", "start").values())
    rows.append("| (asyncio, imported before) | | %s |" % format(asyncio_bytes, ","))
    out = ["## Objects %s keeps (32-bit frozen)" % who, ""] + rows
    out += ["", "## Dict tables (names -> slots of the table)", "",
            "| dict | names | slots | bytes |", "|---|---|---|---|"]
    sums = {}
    for d in dicts:
        slots = table_slots(d["names"])
        s = sums.setdefault(d["kind"], [0, 0, 0])
        s[0] += 1
        s[1] += d["names"]
        s[2] += slots
        out.append("| %s %s | %d | %d | %d |" % (d["kind"], d["dict"], d["names"], slots,
                                                slots * SLOT))
    out += ["", "| dicts | how many | names | slots | bytes |", "|---|---|---|---|---|"]
    for kind, (n, names, slots) in sorted(sums.items()):
        out.append("| %s | %d | %d | %d | %s |" % (kind, n, names, slots,
                                                   format(slots * SLOT, ",")))
    return "\n".join(out)


def run_node(broker, home, seconds=3, heapsize="128k"):
    """The node probe's output (stdout): the firmware, with the bench's whole-node
    config (bench/workloads/node.py), booted against ``broker`` from ``home``."""
    argv, env = command(M32_FROZEN, PROBE, "node", seconds, heapsize=heapsize)
    node_env(env, home, "heapmap-node-%d" % broker.port, broker)
    p = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    if p.returncode:
        raise AssertionError("the node probe exited %d:\n%s" % (p.returncode,
                                                                (p.stdout + p.stderr)[-4000:]))
    return p.stdout


def main():
    node = sys.argv[1:] == ["--node"]
    if sys.argv[1:] and not node:
        sys.exit("usage: heapmap.py [--node]")
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(tmp)
        broker.start()
        try:
            if node:
                out = run_node(broker, os.path.join(tmp, "home"))
            else:
                out = run(M32_FROZEN, PROBE, "client", broker.port, heapsize="64k").stdout
        finally:
            broker.stop()
    maps, dicts = parse(out)
    print(report(maps, dicts, quietest(maps), "the node") if node else report(maps, dicts))


if __name__ == "__main__":
    main()
