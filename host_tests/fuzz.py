"""`make fuzz`: the hostile-server fuzzers at scale, on both runtimes.

    .venv/bin/python host_tests/fuzz.py [--seed N] [--cpython-cases N] [--micropython-cases N]

Runs host_tests/scripts/session_fuzz.py (the sans-IO session fed mutated server
packets seeded from Mosquitto captures) with 100,000 cases on each runtime (CPython
and the MicroPython unix port), and codec_fuzz.py (the decoder alone) with 100,000
mutations each.  Prints the case counts, the reason codes the session disconnected
with, the MicroPython heap growth, and the seed of every failing case (replay one
with `session_fuzz.py 1 <seed> one`).  Exit status 1 on any failure.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from runtimes import run  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100000)
    ap.add_argument("--cpython-cases", type=int, default=100000)
    ap.add_argument("--micropython-cases", type=int, default=100000)
    a = ap.parse_args()
    bad = 0
    for runtime, n in (("cpython", a.cpython_cases), ("micropython", a.micropython_cases)):
        for script in ("session_fuzz.py", "codec_fuzz.py"):
            t0 = time.time()
            res = run(runtime, script, n, a.seed, heapsize="8M", timeout=600, check=False)
            rec = res.records[-1] if res.records else {}
            failed = rec.get("failed", 1) if res.returncode == 0 else 1
            bad += failed
            line = {"runtime": runtime, "script": script, "seed": a.seed,
                    "cases": rec.get("cases"), "failed": failed,
                    "seconds": round(time.time() - t0, 1)}
            for k in ("errors", "oracle", "heap_growth", "failures"):
                if k in rec:
                    line[k] = rec[k]
            print(json.dumps(line))
            if res.returncode != 0:
                print(res.stderr[-2000:])
    print("fuzz: %s" % ("OK, no unexpected exception" if not bad else "%d FAILED" % bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
