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
less of them in its heap: about 2.2 KB less for a connected MQTT client on a
32-bit port.  Levels 1 and up also drop `assert` statements.
"""

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import fcntl
except ImportError:     # (Windows: no locks; builds into one --out at a time there)
    fcntl = None

from . import ROOT, CliError, boards, subparser

LAUNCHER = "main.py"
MAIN_MODULE = "fieldnode_main"
LAUNCHER_LINE = "import %s\n" % MAIN_MODULE
PACKAGE = "package.json"
REUSE_HINT = "give an empty or new directory"
# in --out: a build compiles into a temp folder of its own, TMP-<random> (tempfile.mkdtemp),
# then puts its files in place of the previous build's: two builds at once into one --out
# cannot mix their files (a fixed name had one delete, or write into, the other's)
TMP = ".fieldnode-tmp"


def firmware_version():
    """The firmware's VERSION (firmware/app.py), the bundle's package.json "version"."""
    with open(os.path.join(ROOT, "firmware", "app.py")) as f:
        m = re.search(r'^VERSION = "([^"]+)"', f.read(), re.M)
    if not m:
        raise CliError("firmware/app.py sets no VERSION")
    return m.group(1)


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
        text = (proc.stderr or proc.stdout).strip()
        lines = text.splitlines() or ["exit %d" % proc.returncode]
        line = re.findall(r'File "[^"]*", line (\d+)', text)
        raise CliError("mpy-cross failed on %s%s: %s" % (
            shown(src), ", line %s" % line[-1] if line else "", lines[-1]))


def shown(path):
    """`path` as a message gives it: relative to the repository when inside it."""
    rel = os.path.relpath(path, ROOT)
    return path if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


def check_sources(pairs):
    """`pairs` (from sources()) as a list; two sources compiled to the same output (an
    --add module named like one of the bundle's, or like another --add's) is a CliError."""
    seen = {}
    for src, rel in pairs:
        if rel in seen:
            module = rel[len("lib/"):-len(".mpy")].replace(os.sep, ".")
            if os.path.samefile(src, seen[rel]):
                raise CliError("module %s: %s would be compiled twice (an --add of a directory "
                               "the bundle has, or given twice); nothing built"
                               % (module, shown(src)))
            raise CliError("module %s comes from both %s and %s: rename one; nothing built"
                           % (module, shown(seen[rel]), shown(src)))
        seen[rel] = src
    return [(src, rel) for rel, src in seen.items()]


def _listed(path):
    """The files (relative paths) that the fieldnode build in `path` wrote, read from its
    launcher and package.json; None when `path` holds no such pair."""
    try:
        with open(os.path.join(path, LAUNCHER), "rb") as f:
            if f.read(len(LAUNCHER_LINE) + 1) != LAUNCHER_LINE.encode():
                return None
        with open(os.path.join(path, PACKAGE)) as f:
            urls = json.load(f)["urls"]
        return {LAUNCHER, PACKAGE} | {os.path.normpath(src) for _, src in urls}
    except (OSError, ValueError, KeyError, TypeError, RecursionError):  # (nested too deep)
        return None


def _previous_build(path, out_dir):
    """(files, dirs) of the fieldnode build in the directory `path` (given as --out
    `out_dir`), deepest dirs first: the files its package.json lists, lib/ and its
    subdirectories; what an interrupted build left in the TMP directory is passed over.
    A CliError names the first other entry (a symlink, a file that build did not write,
    a directory outside lib/)."""
    listed = _listed(path) or ()
    files, dirs = [], []

    def fail(err):
        raise err

    for base, subdirs, names in os.walk(path, onerror=fail):
        subdirs.sort()
        for name in subdirs + sorted(names):
            rel = os.path.relpath(os.path.join(base, name), path)
            full = os.path.join(path, rel)
            isdir = os.path.isdir(full)
            if _is_tmp(rel) and isdir and not os.path.islink(full):
                subdirs.remove(rel)  # a build's temp folder: build() removes stale ones
                continue
            ok = not os.path.islink(full) and (
                rel.split(os.sep)[0] == "lib" if isdir else rel in listed and os.path.isfile(full))
            if not ok:
                raise CliError("--out %s: exists and is not a fieldnode build (it holds %s); %s"
                               % (out_dir, rel, REUSE_HINT))
            (dirs if isdir else files).append(rel)
    return files, dirs[::-1]


def check_out(out_dir):
    """Make sure `out_dir` can take the build: create it (and its parents), or find an
    empty directory or a previous build there; returns that build's (files, dirs). Anything
    else (a file, a symlink, a directory holding other files, the filesystem or repository
    root) is a CliError, with nothing touched."""
    path = os.path.abspath(out_dir)        # no trailing slash: a symlink is seen as one
    real = os.path.realpath(path)
    for what, place in (("the filesystem root", os.path.dirname(real)),
                        ("the repository root", os.path.realpath(ROOT))):
        if real == place:  # an argument no file system state makes right: exit 2
            raise CliError("--out %s: is %s; %s" % (out_dir, what, REUSE_HINT), code=2)
    if os.path.islink(path):
        raise CliError("--out %s: is a symlink; %s" % (out_dir, REUSE_HINT))
    if os.path.lexists(path) and not os.path.isdir(path):
        raise CliError("--out %s: exists and is not a directory; %s" % (out_dir, REUSE_HINT))
    if not os.path.isdir(path):
        os.makedirs(path)
        return [], []
    return _previous_build(path, out_dir)


def _remove(path, files, dirs):
    for rel in files:
        os.remove(os.path.join(path, rel))
    for rel in dirs:
        os.rmdir(os.path.join(path, rel))


def _is_tmp(name):
    """Whether `name` (an entry of --out) is a build's temp folder, or what an older
    fieldnode's build left (TMP alone)."""
    return name == TMP or name.startswith(TMP + "-")


@contextlib.contextmanager
def _locked(path, wait=True):
    """An exclusive flock on the directory `path` for the block (yields False when `wait`
    is false and another process holds it). Where there is no fcntl, no lock."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
        yield True
    finally:
        os.close(fd)


def _clear_stale(out_dir, mine):
    """Remove the temp folders in `out_dir` but `mine` that no build holds (left by a
    killed one); called with `out_dir` locked, so a build cannot be between making its
    folder and locking it."""
    for name in os.listdir(out_dir):
        path = os.path.join(out_dir, name)
        if not _is_tmp(name) or path == mine or os.path.islink(path) or not os.path.isdir(path):
            continue
        with _locked(path, wait=False) as free:
            if free:
                shutil.rmtree(path, ignore_errors=True)


def replace_build(out_dir, old, tmp):
    """Put the build compiled in `tmp` (a folder in `out_dir`) in place of the previous
    one (`old`: its (files, dirs) from check_out)."""
    _remove(out_dir, *old)
    new_files, new_dirs = _previous_build(tmp, tmp)
    for rel in new_files:
        dest = os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.replace(os.path.join(tmp, rel), dest)
    _remove(tmp, [], new_dirs)
    os.rmdir(tmp)


def write_bundle(out_dir, mpy_cross, arch, pairs, opt, board_name=None):
    """Compile `pairs` into the empty `out_dir`, then write the launcher and package.json
    (its "board": `board_name`, which deploy checks; mip ignores the key); returns the size
    table rows (file, .py bytes, .mpy bytes)."""
    rows = []
    for src, rel in pairs:
        out = os.path.join(out_dir, rel)
        compile_one(mpy_cross, arch, src, out, opt)
        rows.append((rel, os.path.getsize(src), os.path.getsize(out)))
    with open(os.path.join(out_dir, LAUNCHER), "w") as f:
        f.write(LAUNCHER_LINE)
    urls = [[rel[len("lib/"):], rel] for rel, _, _ in rows]
    with open(os.path.join(out_dir, PACKAGE), "w") as f:
        json.dump({"version": firmware_version(), "board": board_name, "urls": urls, "deps": []}, f,
                  indent=1)
        f.write("\n")
    return rows


def build(board_name, out_dir=None, extra=(), quiet=False, opt=0):
    """Compile the bundle for `board_name` (plus the modules in the `extra` dirs) at
    mpy-cross optimisation level `opt`; returns the build directory. Everything is
    checked (board, --add dirs and their module names, mpy-cross, `out_dir`) before
    `out_dir` is touched."""
    board = boards.load(board_name)
    for d in extra:
        if not os.path.isdir(d):
            raise CliError("--add %s: not a directory" % d)
    pairs = check_sources(sources(board, extra))
    arch = board.get("mpy_cross_arch")
    mpy_cross = _tool("mpy-cross")
    out_dir = out_dir or os.path.join(ROOT, "build", board_name)
    try:
        check_out(out_dir)
        with contextlib.ExitStack() as stack:
            # compiled aside first, in a folder of this build's own (locked while it lives,
            # so no other build takes it for a killed one's): a compile error or Ctrl-C
            # leaves the previous build whole
            with _locked(out_dir):
                tmp = tempfile.mkdtemp(prefix=TMP + "-", dir=out_dir)
                stack.enter_context(_locked(tmp))
                _clear_stale(out_dir, tmp)
            try:
                rows = write_bundle(tmp, mpy_cross, arch, pairs, opt, board_name)
                # one build at a time puts its files in place, the previous build's (as
                # it is now: another build may have replaced it meanwhile) all removed
                with _locked(out_dir):
                    replace_build(out_dir, check_out(out_dir), tmp)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
    except OSError as e:      # e.g. a parent that cannot be made, a disk full
        where = e.filename not in (None, out_dir, os.path.abspath(out_dir))
        raise CliError("--out %s: %s%s" % (out_dir, "%s: " % e.filename if where else "",
                                           e.strerror or e)) from None
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
    try:
        shown = os.path.relpath(out_dir)
    except OSError:     # no working directory any more (deleted): as deploy does
        shown = out_dir
    print("built %d modules for %s (-march=%s, -O%d) in %s"
          % (len(rows), board_name, arch or "none", opt, shown))


def add_parser(sub):
    p = subparser(sub, "build", __doc__)
    boards.add_argument(p)
    p.add_argument("--out", metavar="DIR", help="output directory (default build/<board>)")
    p.add_argument("--add", action="append", default=[], metavar="DIR",
                   help="also compile the modules in DIR into lib/ (your own drivers); repeatable")
    p.add_argument("--opt", type=int, choices=range(4), default=0, metavar="N",
                   help="mpy-cross optimisation level 0-3 (default 0); 3 leaves line numbers "
                        "out of tracebacks and the heap (about 2.2 KB less for a connected "
                        "client on a 32-bit port)")
    p.set_defaults(run=lambda a: build(a.board, a.out, a.add, opt=a.opt) and 0)
