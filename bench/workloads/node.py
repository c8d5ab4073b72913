"""The whole node's memory: minimum -X heapsize and heap in use after boot.

Runs the firmware (the unix board) against a local Mosquitto on three runtimes:
the 64-bit MicroPython unix port with lib/ firmware/ boards/unix compiled to
.mpy, the 32-bit build loading the same as .mpy (compiled by its own mpy-cross: a
stock ESP32 or Pico W firmware after `fieldnode deploy`), and the 32-bit build with
all of it frozen in, started as a flashed board starts it (`-m main`); with short
intervals (readings every 500/700 ms, stats every second, a button press), for a few
seconds per try:

- heap after boot: heapsize minus the free heap after a collection that the
  node reports in its first stats message (board.mem_free()), less what the
  collector's own tables take of the heapsize (measured on an empty interpreter
  with the same heapsize: free + allocated falls short of it by that much);
- minimum heapsize: the smallest -X heapsize (4 KiB steps) at which the node
  comes online, publishes readings, an event and stats, and stops cleanly with
  no MemoryError.  The node runs on timers, so a try that fails without a
  MemoryError (a line missing when the time was up) is tried once more before
  the size counts as too small; a MemoryError counts at once.

    .venv/bin/python bench/workloads/node.py [--quick]   # prints one JSON object
bench/run.py calls report() after its table (the "whole node" section).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))

from broker import Broker  # noqa: E402
from runtimes import M32, M32_FROZEN, command, device_binary  # noqa: E402

CONFIG = {"sensors": {"temperature": {"interval_ms": 500, "high": 1}, "humidity": {"interval_ms": 700}},
          "stats_interval_ms": 1000, "watchdog_ms": 0}


RUNTIMES = (("micropython", "micropython unix port (64-bit), .mpy"),
            (M32, "32-bit unix build, .mpy (as `fieldnode deploy` installs it)"),
            (M32_FROZEN, "32-bit unix build, frozen"))


def node_env(env, home, device, broker):
    """`env` (from runtimes.command()) for a node of the bench's config living in `home`,
    a directory that gets its config.json and the simulated sensors' folder."""
    os.makedirs(os.path.join(home, "sim"))
    with open(os.path.join(home, "config.json"), "w") as f:
        json.dump(CONFIG, f)
    env.update(FIELDNODE_HOME=home, FIELDNODE_DEVICE_ID=device, FIELDNODE_BROKER=broker.url)
    return env


def short_paths(argv, env, main):
    """Run from the compiled tree's root with MICROPYPATH and the main script relative to
    it, as a board has `lib/...`: the heap then does not depend on where the checkout
    lives (each module's file name is interned, into name pools that grow in steps, so a
    few characters more per path can move the figures by kilobytes). Returns the cwd."""
    path = env["MICROPYPATH"].split(":")
    cwd = os.path.dirname(next(p for p in path if p.endswith(os.sep + "lib")))
    env["MICROPYPATH"] = ":".join(os.path.relpath(p, cwd) if os.path.isabs(p) else p
                                  for p in path)
    argv[argv.index(main)] = os.path.relpath(main, cwd)
    return cwd


def run_node(broker, heap_kib, seconds, runtime="micropython"):
    """(ok, first stats dict or None, output) of one node run."""
    home = tempfile.mkdtemp(prefix="fieldnode-bench-")
    try:
        main = os.path.join(ROOT, "firmware", "main.py")
        argv, env = command(runtime, main, heapsize="%dk" % heap_kib,
                            mpy=runtime == "micropython")
        cwd = ROOT
        if runtime == M32_FROZEN:  # the frozen main
            argv[argv.index(main):argv.index(main) + 1] = ["-m", "main"]
        else:
            cwd = short_paths(argv, env, main)
        node_env(env, home, "bench-node-%d" % heap_kib, broker)
        p = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        time.sleep(seconds / 2)
        open(os.path.join(home, "sim", "button"), "w").close()
        time.sleep(seconds / 2)
        alive = p.poll() is None
        if alive:
            p.send_signal(signal.SIGINT)
        try:
            out = p.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            p.kill()
            out = p.communicate()[0]
        stats = None
        for line in out.splitlines():
            if "-> stats " in line:
                stats = json.loads(line.split("-> stats ", 1)[1])
                break
        ok = (alive and p.returncode == 0 and "MemoryError" not in out and stats is not None
              and "-> event/button" in out and "-> state/humidity" in out
              and "offline, disconnected" in out)
        return ok, stats, out
    finally:
        shutil.rmtree(home, ignore_errors=True)


def gc_tables(runtime, heap_kib):
    """Bytes of -X heapsize=<heap_kib>k that are neither free nor allocated heap: the
    collector's block tables, on an empty interpreter of `runtime`."""
    probe = tempfile.NamedTemporaryFile("w", suffix=".py", delete=False)
    probe.write("import gc\ngc.collect()\nprint(gc.mem_free() + gc.mem_alloc())\n")
    probe.close()
    try:
        argv, env = command(runtime, probe.name, heapsize="%dk" % heap_kib)
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30).stdout
        return heap_kib * 1024 - int(out.split()[-1])
    finally:
        os.unlink(probe.name)


def heap_full(out):
    """True when a node run failed for want of heap.  Not "heap is locked": the unix
    port raises Ctrl-C (our SIGINT) from its signal handler, wherever the interpreter
    is (MICROPY_ASYNC_KBD_INTR), and one that lands inside a garbage collection leaves
    the heap locked for the goodbye that follows.  A board schedules Ctrl-C instead."""
    return "MemoryError" in out.replace("MemoryError: memory allocation failed, heap is "
                                        "locked", "")


def runs_in(b, heap_kib, seconds, runtime, name=None):
    """(ok, output) of the node in a heap of `heap_kib`: a try that fails for another
    reason than a full heap (the node runs on timers; see heap_full()) is tried once
    more.  With `name`, each failed try prints its last lines on stderr."""
    for _ in range(2):
        ok, _, out = run_node(b, heap_kib, seconds, runtime)
        if not ok and name:
            tail = [line for line in out.splitlines() if line.strip()][-3:]
            print("node at %d KiB on %s failed: %s" % (heap_kib, name, " | ".join(tail)),
                  file=sys.stderr)
        if ok or heap_full(out):
            break
    return ok, out


def heap_after_boot(b, runtime, seconds, name=None):
    """Bytes the node holds after boot, from its first stats in a 512 KiB heap (less
    the collector's tables), tried twice; RuntimeError with its output if it fails."""
    for _ in range(2):
        ok, stats, out = run_node(b, 512, seconds, runtime)
        if ok:
            return 512 * 1024 - stats["mem_free"] - gc_tables(runtime, 512)
    raise RuntimeError("the node failed at 512 KiB on %s:\n%s" % (name or runtime,
                                                                  out[-2000:]))


def measure_one(b, runtime, name, seconds):
    after_boot = heap_after_boot(b, runtime, seconds, name)
    lo, hi = 16, 512  # lo fails (assumed), hi works
    while hi - lo > 4:
        mid = (lo + hi) // 2 // 4 * 4
        if runs_in(b, mid, seconds, runtime, name)[0]:
            hi = mid
        else:
            lo = mid
    return {"runtime": name, "heap_after_boot_B": after_boot, "min_heap_KiB": hi,
            "run_s": seconds}


def measure(quick=False):
    """One result per runtime (see RUNTIMES)."""
    seconds = 3 if quick else 6
    device_binary(M32)  # both built (or taken from the cache) before any timing
    device_binary(M32_FROZEN)
    b = Broker(tempfile.mkdtemp(prefix="fieldnode-bench-broker-"), log_types=("error",))
    b.start()
    try:
        return [measure_one(b, rt, name, seconds) for rt, name in RUNTIMES]
    finally:
        b.stop()


def report(out_dir, quick=False):
    """Measure, print, write node.json and append a section to latest.md."""
    rs = measure(quick)
    lines = ["", "## The whole node (firmware/main.py, bench/workloads/node.py)", "",
             "| figure | %s |" % " | ".join(r["runtime"] for r in rs),
             "|---|" + "---|" * len(rs),
             "| heap in use after boot (first stats, after gc; not the GC's tables) | %s |"
             % " | ".join("%.1f KB" % (r["heap_after_boot_B"] / 1024) for r in rs),
             "| min -X heapsize (readings, event, stats, clean stop) | %s |"
             % " | ".join("%d KiB" % r["min_heap_KiB"] for r in rs), ""]
    print("\n".join(lines))
    with open(os.path.join(out_dir, "node.json"), "w") as f:
        json.dump(rs, f, indent=1)
    md = os.path.join(out_dir, "latest.md")
    if os.path.exists(md):
        with open(md, "a") as f:
            f.write("\n".join(lines))
    return rs


if __name__ == "__main__":
    print(json.dumps(measure("--quick" in sys.argv)))
