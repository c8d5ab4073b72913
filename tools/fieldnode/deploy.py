"""`fieldnode deploy --board B --port P`: copy the built bundle to the board with mpremote.

Copies build/<board>/ (run `fieldnode build --board B` first) onto the device's
filesystem. Only files whose SHA-256 differs from the device's copy are sent;
the device hashes its own files (hashlib in the raw REPL), so nothing is read
back. Each file is written to a temp name and renamed. Then the board is
soft-reset (it runs main.py) unless --no-reset. A board whose MicroPython
cannot load the bundle (another .mpy version, or another architecture than
board.json's: the wrong --board) is refused before anything is written.
"""

import hashlib
import os

from . import ROOT, CliError, boards, subparser
from .device import Device
from .progress import Progress


def bundle_files(build_dir):
    """Relative paths (with '/') of every file in the build directory, sorted."""
    files = []
    for base, dirs, names in os.walk(build_dir):
        dirs.sort()
        for name in sorted(names):
            if name == "package.json":      # for mip users, not for the device
                continue
            files.append(os.path.relpath(os.path.join(base, name), build_dir).replace(os.sep, "/"))
    return files


# MicroPython's native architectures, by their number in sys.implementation._mpy
ARCHES = ("none", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
          "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")
MPY_VERSION = 6     # the .mpy format mpy-cross writes (header byte 1)


def check_target(dev, board):
    """Refuse a device whose MicroPython cannot load this bundle: another .mpy
    version, or another native architecture than the board's (wrong --board)."""
    mpy = dev.eval_repr("import sys\nprint(repr(getattr(sys.implementation, '_mpy', None)))")
    if mpy is None:
        return
    if mpy & 0xFF != MPY_VERSION:
        raise CliError("the device's MicroPython loads .mpy v%d, the bundle is v%d: flash a "
                       "current MicroPython" % (mpy & 0xFF, MPY_VERSION))
    arch = mpy >> 10
    want = board.get("mpy_cross_arch")
    name = ARCHES[arch] if arch < len(ARCHES) else "arch %d" % arch
    if want and name != want:
        raise CliError("the device is %s, the bundle is for %s (%s): wrong --board?"
                       % (name, board["name"], want))


def deploy(board_name, port, build_dir=None, reset=True, baud=115200):
    """Send changed files; returns (sent, skipped) counts."""
    board = boards.load(board_name)
    build_dir = build_dir or os.path.join(ROOT, "build", board_name)
    if not os.path.isdir(build_dir):
        raise CliError("no build in %s: run `fieldnode build --board %s` first"
                       % (os.path.relpath(build_dir), board_name))
    files = bundle_files(build_dir)
    local = {}
    for rel in files:
        with open(os.path.join(build_dir, rel), "rb") as f:
            local[rel] = f.read()
    with Device(port, baud) as dev:
        check_target(dev, board)
        remote = dev.hashes(files)
        changed = [r for r in files if remote[r] != hashlib.sha256(local[r]).hexdigest()]
        print("deploy: %d files, %d changed, %d unchanged (skipped)"
              % (len(files), len(changed), len(files) - len(changed)))
        dev.makedirs(os.path.dirname(r) for r in changed if "/" in r)
        bar = Progress(sum(len(local[r]) for r in changed), len(changed))
        for rel in changed:
            dev.write_atomic(rel, local[rel], bar.bytes_callback(bar.done_bytes))
            bar.item_done("%s (%d B)" % (rel, len(local[rel])))
        bar.close()
        if reset:
            dev.soft_reset()
            print("deploy: soft reset, the board runs main.py")
    return len(changed), len(files) - len(changed)


def add_parser(sub):
    p = subparser(sub, "deploy", __doc__)
    boards.add_argument(p)
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    p.add_argument("--build-dir", metavar="DIR", help="bundle to copy (default build/<board>)")
    p.add_argument("--no-reset", action="store_true", help="do not soft-reset afterwards")
    p.set_defaults(run=lambda a: deploy(a.board, a.port, a.build_dir, not a.no_reset) and 0)
