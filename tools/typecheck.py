"""Typecheck the board modules, the firmware and the library against MicroPython's
own port stubs with mypy.

    python tools/typecheck.py             # both ports
    python tools/typecheck.py esp32       # one port
    python tools/typecheck.py esp32 FILE  # FILE as that port's board module (tests)

Each port's stubs (pinned below, from PyPI) are installed once into their own
folder under ``.cache/stubs/`` and used as mypy's whole typeshed, so a name or a
call the port does not have (``machine.foo()``, a wrong argument) is an error, and
the two ports' stubs never mix. Checked per port: ``boards/<board>/board.py``,
``boards/common/board_common.py``, ``lib/mqtt5`` and ``firmware/``. Errors inside
the stubs themselves are not ours and are silenced; function bodies without
annotations are checked too (``check_untyped_defs``).

The board modules must be clean of every mypy error. The library and firmware are
plain untyped code, where mypy's inference on attributes set later (mixins,
None-initialised slots) is noise; there the check reports what says the code uses
something the port lacks: a missing module or module attribute, and a call with
arguments the callee does not take (`PORT_ERRORS`). CPython-only branches carry a
``# type: ignore[code]``.
"""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# port -> (board folder, pinned stub distributions)
PORTS = {
    "esp32": ("esp32", ("micropython-esp32-stubs==1.28.0.post4",
                        "micropython-stdlib-stubs==1.28.0.post6")),
    "rp2": ("rp2_pico_w", ("micropython-rp2-rpi-pico-w-stubs==1.28.0.post4",
                           "micropython-stdlib-stubs==1.28.0.post6")),
}
_CONFIG = """[mypy]
python_version = 3.11
check_untyped_defs = True
follow_imports = silent
ignore_errors = True
warn_unused_configs = False
cache_dir = {cache}

[mypy-board,board_common,mqtt5,mqtt5.*,{firmware}]
ignore_errors = False
"""


def stubs(port):
    """The folder holding ``port``'s pinned stubs (installed on first use)."""
    pins = PORTS[port][1]
    key = hashlib.sha256("\n".join(pins).encode()).hexdigest()[:10]
    dest = os.path.join(ROOT, ".cache", "stubs", "%s-%s" % (port, key))
    if not os.path.isdir(dest):
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".stubs-", dir=os.path.dirname(dest))
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--target", tmp] + list(pins),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode:
            raise RuntimeError("installing %s failed:\n%s" % (" ".join(pins), proc.stdout))
        try:
            os.rename(tmp, dest)
        except OSError:  # another run got there first
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


PORT_ERRORS = ("[import-not-found]", "[import-untyped]", "[call-arg]", "[arg-type]")


def _strict(line, board_file):
    """Is this an error in a board module (where every mypy error counts)?"""
    return line.startswith(("boards/", os.path.relpath(board_file, ROOT) + ":",
                            board_file + ":"))


def _relevant(line, board_file):
    """Is this mypy error line one the check reports (see the module docstring)?"""
    if _strict(line, board_file):
        return True
    if line.rstrip().endswith(PORT_ERRORS):
        return True
    return "[attr-defined]" in line and ": error: Module " in line


def _filter(output, board_file):
    kept, keep = [], False
    for line in output.splitlines():
        if ": error: " in line:
            keep = _relevant(line, board_file)
        if keep and (": error: " in line or ": note: " in line):
            kept.append(line)
    return "\n".join(kept)


def _firmware_modules():
    return sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "firmware"))
                  if f.endswith(".py"))


def check(port, board_file=None):
    """Run mypy for ``port``; returns (ok, output)."""
    board_dir, _ = PORTS[port]
    board_file = board_file or os.path.join(ROOT, "boards", board_dir, "board.py")
    return _mypy(port, board_file, stubs(port))


def _mypy(name, board_file, typeshed):
    """mypy over the board, board_common, firmware/ and lib/mqtt5 with ``typeshed``;
    returns (ok, the errors the check reports)."""
    firmware = [os.path.join(ROOT, "firmware", m + ".py") for m in _firmware_modules()]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "mypy.ini")
        with open(cfg, "w") as f:
            f.write(_CONFIG.format(cache=os.path.join(ROOT, ".cache", "mypy", name),
                                   firmware=",".join(_firmware_modules())))
        env = dict(os.environ, MYPYPATH=os.pathsep.join([
            os.path.dirname(os.path.abspath(board_file)),
            os.path.join(ROOT, "boards", "common"), os.path.join(ROOT, "lib"),
            os.path.join(ROOT, "firmware"), typeshed]))
        argv = [sys.executable, "-m", "mypy", "--config-file", cfg, "--no-error-summary",
                "--show-error-codes", "--scripts-are-modules",
                board_file, os.path.join(ROOT, "boards", "common", "board_common.py")
                ] + firmware + [os.path.join(ROOT, "lib", "mqtt5")]
        argv[3:3] = ["--custom-typeshed-dir", typeshed]
        proc = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    # mypy exits 1 when it found errors, 2 when it could not run
    if proc.returncode not in (0, 1) or (proc.returncode and ": error: " not in proc.stdout):
        return False, "mypy could not run:\n" + proc.stdout
    out = _filter(proc.stdout, board_file)
    return not out, out


def main(argv):
    ports = argv[1:2] or sorted(PORTS)
    if any(p not in PORTS for p in ports) or len(argv) > 3:
        sys.exit("usage: typecheck.py [esp32|rp2 [BOARD_FILE]]")
    failed = False
    for port in ports:
        ok, out = check(port, argv[2] if len(argv) > 2 else None)
        print("%s: %s" % (port, "ok" if ok else "FAILED"))
        if out.strip():
            print(out.rstrip())
        failed |= not ok
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main(sys.argv)
