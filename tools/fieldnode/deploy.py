"""`fieldnode deploy --board B --port P`: copy the built bundle to the board with mpremote.

Copies build/<board>/ (run `fieldnode build --board B` first) onto the device's
filesystem: its main.py launcher and the files its package.json lists; a
--build-dir that is not a fieldnode build for --board (package.json "board") is
refused. Only files whose SHA-256 differs from the device's copy are sent;
the device hashes its own files (hashlib in the raw REPL), so nothing is read
back. Each changed file is written to a temp name, then one script on the
board renames them all, so a deploy interrupted on the host leaves the old bundle or
the new one, never a mix (power lost during that script leaves main.py a finisher that
completes it at the next boot: Device.rename_bundle); the temp files such a cut left
are removed by the next deploy (those of the files its bundle holds), and a board
without room for the temp copies is refused before anything is written (an estimate
from os.statvfs).
The board keeps the list of what Fieldnode's deploys put there (fieldnode_files.json):
a file of an earlier bundle that this one lacks (a module renamed, a package made a
module) is removed after the new bundle is in place, with the directories it leaves
empty, so that no stale module shadows a new one; files of your own are left alone.
Then the board is soft-reset (it runs main.py) unless --no-reset. A board whose MicroPython
cannot load the bundle (another .mpy version, or another architecture than
board.json's: the wrong --board) is refused before anything is written, and
so is a board whose main.py is not Fieldnode's launcher (`import fieldnode_main`):
--replace-main replaces it, keeping the old one as main.py.bak on the board. A board
whose heap is smaller than the node needs as .mpy (NODE_HEAP_KIB) gets a warning.
A board flashed with a Fieldnode image (the node frozen in: `fieldnode flash`, `make
firmware`) is refused: its frozen modules run ahead of any deployed file, so it is
configured with `fieldnode config` instead.
On a board with a hardware watchdog (board.json "watchdog": the Pico W, the ESP32) the
board's boot.py is made to import `board` first, guarded (a failed import is printed,
and the rest of boot.py and main.py run): a board with none gets one, one of yours
without an `import board` line keeps all its lines after it. MicroPython runs boot.py at
every boot and soft reset, the raw REPL's too (mpremote's cp, fs, exec, mount), where
main.py does not run; importing board feeds a watchdog left running (README, Boards).
"""

import hashlib
import json
import os
import sys

from . import ROOT, CliError, boards, subparser
from .build import LAUNCHER, MAIN_MODULE, PACKAGE
from .device import FINISH, FINISH_MARK, Device, finish_renames, finisher
from .progress import Progress


LAUNCHER_CODE = "import " + MAIN_MODULE
BACKUP = LAUNCHER + ".bak"
FILES = "fieldnode_files.json"  # on the board: every file Fieldnode's deploys put there
BOOT = "boot.py"
# put first in the boot.py of a board with a watchdog. Guarded: an exception in boot.py
# skips the rest of it and main.py too (ports/rp2/main.c, ports/esp32/main.c, v1.28),
# so a board module that cannot import (a damaged lib/board.mpy) would stop the user's
# lines (a webrepl.start()) from running; so it is printed and boot goes on
BOOT_IMPORT = (b"try:  # fieldnode deploy: feeds a watchdog left running by a soft reset\n"
               b"    import board\n"
               b"except Exception as e:\n"
               b"    print('boot.py: import board failed:', repr(e))\n")


def is_launcher(data):
    """Whether the bytes `data` are Fieldnode's launcher: `import fieldnode_main` as the
    only code (comments and blank lines aside)."""
    try:
        text = data.decode()
    except UnicodeError:
        return False
    code = [ln.split("#", 1)[0].strip() for ln in text.splitlines()]
    return [ln for ln in code if ln] == [LAUNCHER_CODE]


def bundle_files(build_dir, board_name):
    """Relative paths (with '/') of the files to send: the launcher, then what the build's
    package.json lists, sorted. A CliError (nothing sent) unless `build_dir` is a complete
    fieldnode build for `board_name`."""
    def refuse(why):
        raise CliError("%s: %s; nothing written" % (build_dir, why))

    again = "run `fieldnode build --board %s` (--out DIR) again" % board_name
    try:
        with open(os.path.join(build_dir, LAUNCHER), "rb") as f:
            launcher = f.read(4096)
        with open(os.path.join(build_dir, PACKAGE)) as f:
            pkg = json.load(f)
        urls = pkg["urls"]
        listed = sorted({src for _, src in urls})
    except (OSError, ValueError, KeyError, TypeError, RecursionError):  # (nested too deep)
        listed = launcher = None
    if not (launcher and is_launcher(launcher) and all(isinstance(s, str) for s in listed)):
        refuse("not a fieldnode build (no %s launcher with a %s): run `fieldnode build "
               "--board %s` first" % (LAUNCHER, PACKAGE, board_name))
    if pkg.get("board") != board_name:
        refuse("a build for %s, not %s (wrong --board or --build-dir?)" % (pkg["board"], board_name)
               if pkg.get("board") else "its %s names no board (an older build): %s"
               % (PACKAGE, again))
    for rel in listed:
        if not in_lib(rel):
            refuse("its %s lists %r, outside lib/" % (PACKAGE, rel))
        if not os.path.isfile(os.path.join(build_dir, *rel.split("/"))):
            refuse("%s is missing (an incomplete build): %s" % (rel, again))
    return [LAUNCHER] + listed


def in_lib(rel):
    """Whether `rel` is a plain relative path under lib/ (no empty, . or .. parts)."""
    parts = rel.split("/") if isinstance(rel, str) else []
    return len(parts) >= 2 and parts[0] == "lib" and not {"", ".", ".."} & set(parts)


def deployed(data):
    """The lib/ paths of the board's FILES (bytes, or None when it has none); a list
    that does not parse counts as none."""
    try:
        listed = json.loads(data.decode()) if data is not None else []
    except (UnicodeError, ValueError, RecursionError):     # (nested too deep)
        return []
    return [p for p in listed if in_lib(p)] if isinstance(listed, list) else []


def check_main(old, replace):
    """The board's main.py (bytes: `old`, read when it differs from the bundle's; None
    when it does not, or there is none) when it is not Fieldnode's launcher and
    `replace` (it goes to main.py.bak), else None. Not the launcher and not `replace`:
    a CliError."""
    if old is None or is_launcher(old) or old.startswith(FINISH_MARK):  # (the finisher of
        return None  # a deploy that power loss cut: Device.rename_bundle)
    if not replace:
        first = (old.decode(errors="replace").strip().splitlines() or [""])[0]
        raise CliError("the board's %s is not Fieldnode's launcher (it starts %r): "
                       "--replace-main replaces it, keeping it as %s; nothing written"
                       % (LAUNCHER, first[:40], BACKUP))
    return old


def imports_board(data):
    """Whether the bytes of a boot.py have an `import board` line (comments aside)."""
    return any(ln.split(b"#", 1)[0].strip() == b"import board" for ln in data.splitlines())


def boot_py(dev, board):
    """(the new boot.py, what deploy says) when `board` has a watchdog and the device's
    boot.py does not import board: BOOT_IMPORT, then the old boot.py's bytes whole.
    None when it has no watchdog, or its boot.py imports board already."""
    if "watchdog" not in board.get("features", ()):
        return None
    old = dev.read(BOOT)
    if old is None:
        return BOOT_IMPORT, ("deploy: %s written: it imports board at every boot and soft "
                             "reset, which feeds a watchdog left running" % BOOT)
    if imports_board(old):
        return None
    return BOOT_IMPORT + old, ("deploy: `import board` put first in the board's %s, its %d "
                               "lines kept after it" % (BOOT, len(old.splitlines())))


# MicroPython's native architectures, by their number in sys.implementation._mpy
ARCHES = ("none", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
          "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")
MPY_VERSION = 6     # the .mpy format mpy-cross writes (header byte 1)


# sys.platform of each board's port (boards/*/board.json "port")
PLATFORMS = {"unix": ("linux", "darwin"), "esp32": ("esp32",), "rp2": ("rp2",)}
# what the device says: .mpy version and arch, platform, whether the node's `payload` is
# frozen in. Only frozen modules are searched (sys.path is '.frozen' alone for the import,
# which then looks in nothing else): a payload.py of the user's is not run, nor a damaged
# lib/payload.mpy loaded (the deploy replaces it); sys.path and sys.modules are put back.
# (no global `f`: mpremote's file handle, which clear_tmp closes, has that name)
_PROBE = """import sys
_p = list(sys.path)
_m = sys.modules.pop('payload', None)
sys.path.clear()
sys.path.append('.frozen')
try:
    import payload
    _w = True
except Exception:
    _w = False
finally:
    sys.path.clear()
    sys.path.extend(_p)
    sys.modules.pop('payload', None)
    if _m is not None:
        sys.modules['payload'] = _m
print(repr((getattr(sys.implementation, '_mpy', None), sys.platform, _w)))
"""


def check_target(dev, board):
    """Refuse a device that cannot run this bundle: another .mpy version, another
    native architecture or port than the board's (wrong --board), or a firmware with
    the node frozen in (a `fieldnode flash` image), whose frozen modules run ahead
    of any deployed file."""
    mpy, platform, frozen = dev.eval_repr(_PROBE)
    if frozen:
        raise CliError("the board's firmware has the node frozen in (a `fieldnode flash` "
                       "image): its frozen modules run ahead of deployed files, so this "
                       "deploy would change nothing. Use `fieldnode config` to configure "
                       "it, or flash stock MicroPython to deploy")
    if mpy is not None:
        check_mpy(mpy, board)
    ports = PLATFORMS.get(board.get("port"), ())
    if ports and platform not in ports:  # (the unix board has no native arch to compare)
        raise CliError("the device is MicroPython for %s, the bundle is for %s (%s): "
                       "wrong --board?" % (platform, board["name"], ports[0]))


def check_mpy(mpy, board):
    """The device's sys.implementation._mpy against the bundle's .mpy version and arch."""
    if mpy & 0xFF != MPY_VERSION:
        raise CliError("the device's MicroPython loads .mpy v%d, the bundle is v%d: flash a "
                       "current MicroPython" % (mpy & 0xFF, MPY_VERSION))
    arch = mpy >> 10
    want = board.get("mpy_cross_arch")
    name = ARCHES[arch] if arch < len(ARCHES) else "arch %d" % arch
    if want and name != want:
        raise CliError("the device is %s, the bundle is for %s (%s): wrong --board?"
                       % (name, board["name"], want))


# The heap the node needs when it loads from .mpy files (its bytecode and the names it
# interns live in the heap), by the device's word size: the smallest -X heapsize at
# which it runs (bench/workloads/node.py: 148 KiB on 32-bit, 216 KiB on 64-bit on
# 2026-12-04, module paths as short as a board's) plus 12-16 KiB, for what a real board
# adds (its network objects, a larger board module) and because that minimum moves in
# steps of kilobytes with the names interned (docs/performance.md).
# host_tests/test_frugal.py runs the node in these heaps.
NODE_HEAP_KIB = {32: 160, 64: 232}
FROZEN_HEAP_KIB = 48   # the same node frozen into the firmware (40-44 KiB measured)
# the heap (None where the port does not know its free heap) and whether words are 64-bit
_HEAP = ("import gc, sys\ntry:\n _h = gc.mem_free()\n _h = _h + gc.mem_alloc() if _h >= 0 else None\n"
         "except Exception:\n _h = None\nprint(repr((_h, getattr(sys, 'maxsize', 0) > 0x7fffffff)))")


def check_heap(dev):
    """Warn (stderr) when the device's heap is smaller than the node needs as .mpy: it
    would stop with a MemoryError at boot or soon after. A warning, not a refusal: the
    need is an estimate. An ESP32 counts the largest block ESP-IDF could add to its heap,
    before Wi-Fi has taken its share: there no warning is no promise (README)."""
    heap, wide = dev.eval_repr(_HEAP)
    bits = 64 if wide else 32
    need = NODE_HEAP_KIB[bits]
    if heap is not None and heap < need * 1024:
        print("fieldnode deploy: warning: the board's MicroPython heap is %d KB, and the node "
              "loaded from .mpy files needs about %d KB on a %d-bit board: it would run out "
              "of memory (a MemoryError at boot or once the network is up). Use a board with "
              "more RAM (an ESP32 with PSRAM), or a firmware with Fieldnode frozen in "
              "(README, \"Frozen or .mpy\"), where it needs about %d KB on a 32-bit board"
              % (heap // 1024, need, bits, FROZEN_HEAP_KIB), file=sys.stderr)
    return heap, need


def check_room(dev, sizes, new_dirs, extra=()):
    """A CliError unless the device's filesystem has room for files of `sizes` bytes next
    to the ones they replace (every temp copy is written before the first rename), in
    `new_dirs` directories made for them, and for deploy's own files of `extra` bytes
    (a main.py kept, the list of files). The need is an estimate measured on littlefs
    and FAT (512 B and 4 KB blocks): whole blocks per file plus a tenth for littlefs's
    block pointers, two blocks per new directory and two for the metadata."""
    free = dev.free_space() if sizes else None
    if not free or not free[0]:   # nothing to write; no statvfs; nothing mounted
        return
    block, blocks = free
    need = -(-11 * sum(-(-n // block) for n in list(sizes) + list(extra)) // 10) \
        + 2 * new_dirs + 2
    if need > blocks:
        raise CliError("the board has %d KB free, and this deploy needs about %d KB: the "
                       "new copies of the %d changed files are written before the old ones "
                       "are replaced. Remove files from the board (mpremote rm) and deploy "
                       "again; nothing written" % (blocks * block // 1024, need * block // 1024,
                                                   len(sizes)))


def new_dirs(changed, remote):
    """The directories that `changed` files need and the board lacks: none of the
    bundle's files on the board (`remote`: path -> hash or None) is in them."""
    there = [r for r in remote if remote[r] is not None]
    need = set()
    for rel in changed:
        parts = rel.split("/")[:-1]
        need.update("/".join(parts[:i + 1]) + "/" for i in range(len(parts)))
    return [d for d in sorted(need) if not any(r.startswith(d) for r in there)]


def send(dev, local, changed):
    """Write each changed file to its temp name, then rename them all at once
    (Device.rename_bundle): a deploy interrupted on the host leaves the board's bundle
    whole, old or new, never a mix; power lost while the board renames leaves main.py
    the finisher, which renames the rest at the next boot and soft-resets into the new
    bundle. The launcher's temp copy goes too (renamed back last), changed or not. A
    failed write removes the temp copies already written (the next deploy removes any
    that a cut left)."""
    if not changed:
        return
    bar = Progress(sum(len(local[r]) for r in changed), len(changed))
    extra = [] if LAUNCHER in changed else [LAUNCHER]
    try:
        for rel in changed:
            dev.write_tmp(rel, local[rel], bar.bytes_callback(bar.done_bytes))
            bar.item_done("%s (%d B)" % (rel, len(local[rel])))
        for rel in extra:
            dev.write_tmp(rel, local[rel])
    except CliError as e:
        bar.close()
        try:
            dev.clear_tmp(changed + extra)
        except CliError:
            raise e from None
        raise CliError("%s; the temp copies are removed, the board keeps its old files"
                       % e) from None
    bar.close()
    dev.rename_bundle(changed + extra, LAUNCHER)


def deploy(board_name, port, build_dir=None, reset=True, baud=115200, replace_main=False):
    """Send changed files; returns (sent, skipped) counts."""
    board = boards.load(board_name)
    given = build_dir
    build_dir = build_dir or os.path.join(ROOT, "build", board_name)
    if not os.path.isdir(build_dir):  # named as given, the default one in full (relative
        # to the working directory it read ../../work/main/build/unix from elsewhere)
        raise CliError("no build in %s: run `fieldnode build --board %s` first"
                       % (given or build_dir, board_name))
    files = bundle_files(build_dir, board_name)
    local = {}
    for rel in files:
        with open(os.path.join(build_dir, rel), "rb") as f:
            local[rel] = f.read()
    with Device(port, baud) as dev:
        check_target(dev, board)
        check_heap(dev)
        remote = dev.hashes(files)
        launcher = hashlib.sha256(local[LAUNCHER]).hexdigest()
        head = None  # the board's main.py, read once, when it is not the bundle's
        if remote[LAUNCHER] not in (None, launcher):
            head = dev.read(LAUNCHER)
            if head is not None and head.startswith(FINISH_MARK):  # (a finisher: the
                dev.exec(finish_renames(head))  # bundle a power loss cut; its copies
                print("deploy: finished the renames of a deploy that a power loss cut "
                      "short")  # are whole)
                remote = dev.hashes(files)
                if remote[LAUNCHER] == launcher:  # (its launcher copy was there)
                    head = None
        changed = [r for r in files if remote[r] != hashlib.sha256(local[r]).hexdigest()]
        old_main = check_main(head, replace_main)
        print("deploy: %d files, %d changed, %d unchanged (skipped)"
              % (len(files), len(changed), len(files) - len(changed)))
        stale = dev.clear_tmp(files + [BACKUP, FILES, BOOT, FINISH])
        if stale:
            print("deploy: removed %d temp files an earlier deploy left" % stale)
        old = deployed(dev.read(FILES))
        ours = [r for r in files if r != LAUNCHER]
        gone = [r for r in old if r not in ours]
        # before the first write the list holds both bundles' files, so a deploy cut
        # anywhere leaves none of ours unlisted for the next one to remove
        both = sorted(set(old) | set(ours))
        listing = both != sorted(old)
        boot = boot_py(dev, board)
        check_room(dev, [len(local[r]) for r in changed], len(new_dirs(changed, remote)),
                   ([len(old_main)] if old_main is not None else [])
                   + ([len(finisher(changed + [LAUNCHER])), len(local[LAUNCHER])]
                      if changed else [])
                   + ([len(json.dumps(both))] if listing else [])
                   + ([len(boot[0])] if boot else []))
        if listing:
            dev.write_atomic(FILES, json.dumps(both).encode())
        dev.makedirs(os.path.dirname(r) for r in changed if "/" in r)
        if old_main is not None:
            dev.write_atomic(BACKUP, old_main)
            print("deploy: the board's %s kept as %s" % (LAUNCHER, BACKUP))
        send(dev, local, changed)
        if boot:    # (after the bundle: its board module is there to import)
            dev.write_atomic(BOOT, boot[0])
            print(boot[1])
        if gone:
            n = dev.remove(gone)
            print("deploy: removed %d files an earlier deploy put there that this bundle "
                  "does not have: %s" % (n, ", ".join(gone)))
        if both != ours:
            dev.write_atomic(FILES, json.dumps(ours).encode())
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
    p.add_argument("--replace-main", action="store_true",
                   help="replace a main.py on the board that is not Fieldnode's launcher "
                        "(kept as main.py.bak); without it, such a board is refused")
    p.set_defaults(run=lambda a: deploy(a.board, a.port, a.build_dir, not a.no_reset,
                                        replace_main=a.replace_main) and 0)
