"""Device-class MicroPython builds from the pinned source (tools/mpsource.py).

Each build is a port, its make flags and an optional frozen manifest:

- ``m32``: unix port, 32-bit (``-m32``), standard variant; the library loads as
  ``.mpy`` from disk;
- ``m32-frozen``: the same with ``boards/unix/manifest.py`` frozen in (library,
  firmware, unix board): the node binary of ``make firmware BOARD=unix``;
- ``qemu``: ports/qemu ``BOARD=MPS2_AN385`` (Cortex-M3) with
  ``tools/manifests/qemu.py`` frozen in (library, firmware modules but main.py).

A finished binary is copied to ``cache_dir()/builds/<name>-<key>/``, where the key
hashes the pinned source, the make flags, and every file under the folders the
manifest freezes from; it is rebuilt only when one of those changes. Builds run
``make -j2`` (``$FIELDNODE_JOBS``) under a lock per build name.

    python tools/mpbuild.py build m32|m32-frozen|qemu   # print the binary's path
    python tools/mpbuild.py firmware unix              # the node binary -> build/
"""

import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mpsource  # noqa: E402

ROOT = mpsource.ROOT
# Submodules the vendor tarball does not carry (see ../shared/vendor/README.md).
_UNIX_NO_SUBMODULES = ("MICROPY_PY_FFI=0", "MICROPY_PY_BTREE=0", "MICROPY_PY_SSL=0",
                       "MICROPY_SSL_MBEDTLS=0")
_M32 = ("VARIANT=standard", "CFLAGS_EXTRA=-m32", "LDFLAGS_EXTRA=-m32") + _UNIX_NO_SUBMODULES
QEMU_HEAP = 2 * 1024 * 1024   # MPS2_AN385 has 4 MiB of RAM; the heap is fixed at build time
# The environment the -m32 unix builds run in.  They stand for a board's 32-bit object
# layout, and a board's heap addresses are below 2**31 (ESP32 RAM at 0x3FFxxxxx, RP2040's
# at 0x2000xxxx), where id() of a heap object is a small int.  glibc would mmap() the
# -X heapsize heap near the top of the 32-bit address space instead, where every id()
# of a heap object allocates a long int: asyncio's IOQueue calls id(socket) three to
# four times per read wait, which would show as ~190 B per QoS 1 publish that no board
# allocates.  With mmap's threshold raised the heap comes from brk(), in the low half.
M32_ENV = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30)}


class Build:
    """One build recipe: port dir, make arguments, manifest, and what goes in its key."""

    def __init__(self, name, port, args, product, manifest=None, frozen_from=()):
        self.name = name
        self.port = port
        self.args = tuple(args)
        self.product = product              # relative to the BUILD dir
        self.manifest = manifest            # absolute path or None
        self.frozen_from = tuple(frozen_from)   # folders whose files the manifest freezes

    def key(self, src):
        h = hashlib.sha256()
        h.update(("%s\0%s\0%s\0%s\0" % (mpsource.VERSION, os.path.basename(src),
                                          self.port, " ".join(self.args))).encode())
        for path in ((self.manifest,) if self.manifest else ()) + self.frozen_from:
            for f in _files(path):
                with open(f, "rb") as fh:
                    h.update(os.path.relpath(f, path).encode() + b"\0" + fh.read() + b"\0")
        return h.hexdigest()[:16]


def _files(path):
    if os.path.isfile(path):
        yield path
        return
    for base, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(base, name)


def _repo(*parts):
    return os.path.join(ROOT, *parts)


BUILDS = {
    "m32": Build("m32", "ports/unix", _M32, "micropython"),
    "m32-frozen": Build("m32-frozen", "ports/unix", _M32, "micropython",
                        manifest=_repo("boards", "unix", "manifest.py"),
                        frozen_from=(_repo("lib"), _repo("firmware"), _repo("boards", "unix"))),
    "qemu": Build("qemu", "ports/qemu", ("BOARD=MPS2_AN385", "MICROPY_HEAP_SIZE=%d" % QEMU_HEAP),
                  "firmware.elf", manifest=_repo("tools", "manifests", "qemu.py"),
                  frozen_from=(_repo("lib"), _repo("firmware"))),
}


def unix_m32(name, manifest, frozen_from):
    """A 32-bit unix recipe freezing ``manifest`` (bench uses it for its peers)."""
    return Build(name, "ports/unix", _M32, "micropython", manifest=manifest,
                 frozen_from=frozen_from)


def build(recipe, log=sys.stderr):
    """Path of the binary for ``recipe`` (a Build or a name in BUILDS), built if needed."""
    if isinstance(recipe, str):
        recipe = BUILDS[recipe]
    src = mpsource.source_dir()
    out = os.path.join(mpsource.cache_dir(), "builds", "%s-%s" % (recipe.name, recipe.key(src)))
    binary = os.path.join(out, os.path.basename(recipe.product))
    if os.path.exists(binary):
        return binary
    mpsource.mpy_cross()
    with mpsource.lock("build-" + recipe.name):
        if os.path.exists(binary):
            return binary
        build_dir = "build-fieldnode-" + recipe.name
        args = list(recipe.args) + ["BUILD=" + build_dir]
        if recipe.manifest:
            args.append("FROZEN_MANIFEST=" + recipe.manifest)
        t0 = time.monotonic()
        print("mpbuild: building %s (%s %s) ..." % (recipe.name, recipe.port, " ".join(args)),
              file=log, flush=True)
        port_dir = os.path.join(src, recipe.port)
        # the build dir is shared by every checkout: another tree's (or an older
        # checkout's) frozen .mpy would win over an older-dated .py (mpsource.clear_frozen)
        mpsource.clear_frozen(os.path.join(port_dir, build_dir))
        os.makedirs(out + ".tmp", exist_ok=True)
        mpsource.make(args, port_dir, log=os.path.join(out + ".tmp", "build.log"))
        shutil.copy2(os.path.join(port_dir, build_dir, recipe.product), out + ".tmp")
        os.rename(out + ".tmp", out)
        mpsource.prune(os.path.dirname(out), recipe.name)
        print("mpbuild: %s built in %.0f s -> %s" % (recipe.name, time.monotonic() - t0, binary),
              file=log, flush=True)
    return binary


def firmware(board):
    """The frozen node image for ``board``, copied to build/; returns its path."""
    known = sorted(d for d in os.listdir(_repo("boards"))
                   if os.path.isfile(_repo("boards", d, "board.json")))
    if board not in known:
        raise mpsource.SourceError("unknown board %r (known: %s)" % (board, ", ".join(known)))
    if board == "esp32":
        raise mpsource.SourceError(
            "BOARD=esp32 is built with ESP-IDF (v5.3 to v5.5.1, the versions MicroPython "
            "v1.28.0 supports), which this tool does not run: build it with yours, "
            "`make -C ports/esp32 BOARD=ESP32_GENERIC FROZEN_MANIFEST=%s` in a v1.28.0 "
            "tree, as README \"ESP32: build with your own ESP-IDF, flash with esptool\" "
            "shows" % _repo("boards", "esp32", "manifest.py"))
    if board != "unix":
        raise mpsource.SourceError(
            "BOARD=%s needs that port's toolchain, which is not here (README: Boards); "
            "freeze boards/%s/manifest.py with the port's own FROZEN_MANIFEST= "
            "(BOARD=rp2_pico_w is built by tools/rp2_firmware.py)" % (board, board))
    binary = build("m32-frozen")
    dest = _repo("build", "fieldnode-unix")
    tmp = None
    try:
        os.makedirs(_repo("build"), exist_ok=True)
        # a new file (a name of its own) renamed over the old one: a running
        # build/fieldnode-unix keeps its own (copying over it is ETXTBSY), and a cut
        # copy never leaves half a binary
        fd, tmp = tempfile.mkstemp(prefix=".fieldnode-unix-", dir=_repo("build"))
        os.close(fd)
        shutil.copy2(binary, tmp)
        os.replace(tmp, dest)
    except OSError as e:
        if tmp:
            with contextlib.suppress(OSError):
                os.remove(tmp)
        raise mpsource.SourceError("cannot write %s: %s" % (dest, e.strerror or e)) from None
    return dest


def main(argv):
    usage = "usage: mpbuild.py build %s | firmware <board>" % "|".join(BUILDS)
    if len(argv) != 3 or argv[1] not in ("build", "firmware") or (
            argv[1] == "build" and argv[2] not in BUILDS):
        sys.exit(usage)
    try:
        print(build(argv[2]) if argv[1] == "build" else firmware(argv[2]))
    except mpsource.SourceError as e:
        sys.exit("mpbuild: %s" % e)


if __name__ == "__main__":
    main(sys.argv)
