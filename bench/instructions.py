"""Instructions per message of Fieldnode's client, counted by valgrind's callgrind:
a figure this machine's noise does not move, for comparing two library trees.

    .venv/bin/python bench/instructions.py                       # lib/ on the venv's
    .venv/bin/python bench/instructions.py --lib /tmp/old/lib --lib lib   # A/B
    .venv/bin/python bench/instructions.py --loops awaited --by-function  # where they go

Each loop runs twice under callgrind, with N/5 and N messages; the difference of the
two instruction counts over the difference of messages leaves out start-up (imports,
compiling, connecting).  Loops (bench/workloads): the awaited QoS 1 publish
(loop.py awaited), QoS 0 (loop.py qos0), and the sans-IO session alone
(session_cost.py).  The runtime is the venv's MicroPython unix port (64-bit, the
bench's rate column), which loads the sources of --lib.  Needs valgrind
(apt-get install valgrind); the counts include the runtime's own work (asyncio, the
socket calls), the same for every tree.  Rates stay `make bench`'s.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))
from broker import Broker  # noqa: E402

WORKLOADS = os.path.join(ROOT, "bench", "workloads")
LOOPS = {"awaited": ("loop.py", ["awaited"], True), "qos0": ("loop.py", ["qos0"], True),
         "session": ("session_cost.py", ["full"], False)}


def count(micropython, lib, script, argv, n, out="/dev/null"):
    """Instructions callgrind counts for one run of `script argv n` (its profile to `out`)."""
    env = dict(os.environ, MICROPYPATH=".frozen:%s:%s" % (os.path.abspath(lib), WORKLOADS))
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
           micropython, os.path.join(WORKLOADS, script)] + argv + [str(n)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    m = re.search(r"Collected : (\d+)", p.stderr)
    if p.returncode or not m:
        sys.exit("instructions: %s failed (exit %d):\n%s" % (" ".join(cmd[4:]), p.returncode,
                                                            (p.stdout + p.stderr)[-2000:]))
    return int(m.group(1))


_CALLER = re.compile(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?<\s+(?:\S*:)?(\S+) (?:\([\d,]+x\) )?\[")
_OWN = re.compile(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(?:\S*:)?(\S+) \[")


def parse_annotate(text, tree=False):
    """{function: instructions} from callgrind_annotate's output: each function's own
    (exclusive) count, or from its --tree=caller output what each caller spent in
    mp_map_lookup ("N (x%)  < file:caller (Kx) [lib]" lines above mp_map_lookup's
    "N (x%)  *  file:mp_map_lookup [lib]")."""
    out, lines = {}, text.splitlines()
    for i, line in enumerate(lines):
        if tree and "*  " in line and ":mp_map_lookup [" in line:
            j = i - 1
            while j >= 0 and "<" in lines[j]:
                m = _CALLER.match(lines[j])
                if m:
                    out[m.group(2)] = out.get(m.group(2), 0) + int(m.group(1).replace(",", ""))
                j -= 1
            break
        m = None if tree else _OWN.match(line)
        if m:
            out[m.group(2)] = out.get(m.group(2), 0) + int(m.group(1).replace(",", ""))
    return out


def by_function(profile, tree=False):
    """parse_annotate() of a callgrind profile."""
    cmd = ["callgrind_annotate", "--threshold=100"] + (["--tree=caller"] if tree else [])
    return parse_annotate(subprocess.run(cmd + [profile], capture_output=True, text=True,
                                         check=True).stdout, tree)


def print_by_function(p1, p2, messages, top=12):
    """Per message, from two profiles `messages` apart: the functions that take the most
    instructions themselves, then who calls the dict lookups (mp_map_lookup)."""
    for tree, title in ((False, "own instructions per message"),
                        (True, "mp_map_lookup's instructions per message, by caller")):
        a, b = by_function(p1, tree), by_function(p2, tree)
        rows = sorted(((b[k] - a.get(k, 0)) / messages, k) for k in b)[::-1][:top]
        print("  %s:" % title)
        for v, k in rows:
            if v >= 1:
                print("  %10.0f  %s" % (v, k))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lib", action="append", help="a lib/ tree (default: this one's); repeat to compare")
    ap.add_argument("--loops", default="awaited,qos0,session",
                    help="comma-separated, of: " + ", ".join(LOOPS))
    ap.add_argument("-n", type=int, default=1000, help="messages of the longer run (default 1000)")
    ap.add_argument("--by-function", action="store_true",
                    help="also where the instructions go: the top functions, and who calls "
                         "the dict lookups (needs callgrind_annotate, part of valgrind)")
    a = ap.parse_args()
    loops = a.loops.split(",")
    bad = [x for x in loops if x not in LOOPS]
    if bad or a.n < 10:
        ap.error("unknown loop %s" % bad[0] if bad else "-n must be at least 10")
    libs = a.lib or [os.path.join(ROOT, "lib")]
    for lib in libs:
        if not os.path.isfile(os.path.join(lib, "mqtt5", "client.py")):
            ap.error("%s holds no mqtt5 package" % lib)
    if not shutil.which("valgrind"):
        sys.exit("instructions: valgrind not found (apt-get install valgrind)")
    micropython = shutil.which("micropython", path=os.path.join(ROOT, ".venv", "bin")) \
        or shutil.which("micropython")
    if not micropython:
        sys.exit("instructions: the MicroPython unix port is not installed (make venv)")
    n1 = a.n // 5
    with tempfile.TemporaryDirectory() as tmp:
        broker = Broker(tmp)
        broker.start()
        try:
            print("%-9s %14s  %s" % ("loop", "instr/message", "lib"))
            for name in loops:
                script, argv, port = LOOPS[name]
                argv = argv + [str(broker.port)] if port else argv
                for lib in libs:
                    print("running %s on %s ..." % (name, lib), file=sys.stderr, flush=True)
                    p1, p2 = (os.path.join(tmp, "cg.%d" % i) if a.by_function else "/dev/null"
                              for i in (1, 2))
                    c1 = count(micropython, lib, script, argv, n1, p1)
                    c2 = count(micropython, lib, script, argv, a.n, p2)
                    print("%-9s %14.0f  %s" % (name, (c2 - c1) / (a.n - n1), lib), flush=True)
                    if a.by_function:
                        print_by_function(p1, p2, a.n - n1)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
