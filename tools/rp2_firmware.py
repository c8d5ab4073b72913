"""Build the Pico W firmware image with the whole node frozen in.

    python tools/rp2_firmware.py            # -> build/firmware/rp2_pico_w/firmware.uf2
    python tools/rp2_firmware.py --stock    # also build stock RPI_PICO_W, print the delta

MicroPython v1.28.0 ``ports/rp2`` (``BOARD=RPI_PICO_W``) from the pinned source of
``tools/mpsource.py``, with ``FROZEN_MANIFEST=boards/rp2_pico_w/manifest.py``. The
port's submodules (pico-sdk, tinyusb, cyw43-driver, lwip, mbedtls, btstack) come
from ``../shared/vendor/rp2/*.tar.gz`` (or ``$FIELDNODE_RP2_VENDOR``), unpacked into a
hard-linked copy of the source tree under ``cache_dir()/rp2/``, so the pristine tree
other builds use is never modified. picotool (which pico-sdk 2.x needs to write the
.uf2 and would otherwise clone at configure time) is built offline from its tarball
first. The image is cached under ``cache_dir()/firmware/`` keyed by the tree and
every frozen input; a warm run only copies it. Every build starts its frozen outputs
afresh (``mpsource.clear_frozen``), so a changed file with an old mtime is frozen as it
is now. A vendor folder that lacks tarballs is refused up front, naming them all. A
cold build says on stderr what it runs (picotool, then the port) as it goes.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import mpsource  # noqa: E402

ROOT = mpsource.ROOT
BOARD = "rp2_pico_w"
MP_BOARD = "RPI_PICO_W"
# tarball stem -> folder under lib/ (the commits MicroPython v1.28.0 pins)
SUBMODULES = {"pico-sdk-2.2.0-a1438dff": "pico-sdk", "tinyusb-aa0fc2e0": "tinyusb",
              "cyw43-driver-055d6427": "cyw43-driver", "lwip-77dcd25a": "lwip",
              "mbedtls-3.6.2-107ea89d": "mbedtls", "btstack-77e752ab": "btstack"}
PICOTOOL = "picotool-2.2.0-src"
OUT_DIR = os.path.join(ROOT, "build", "firmware", BOARD)
# What the manifest freezes: a change in any of these rebuilds the image.
FROZEN_INPUTS = ("lib", "firmware", os.path.join("boards", BOARD),
                 os.path.join("boards", "common"))


def vendor_rp2():
    """The folder holding the rp2 submodule tarballs (all of them, checked)."""
    given = os.environ.get("FIELDNODE_RP2_VENDOR")
    path = given or os.path.join(mpsource.vendor_dir() or os.path.normpath(
        os.path.join(ROOT, "..", "shared", "vendor")), "rp2")
    if not os.path.isdir(path):
        raise mpsource.SourceError(
            "rp2 submodule tarballs not found: no folder %s%s" % (
                path, "" if given else " (set FIELDNODE_RP2_VENDOR)"))
    mpsource.need_tarballs(path, [n + ".tar.gz" for n in list(SUBMODULES) + [PICOTOOL]],
                           "the rp2 vendor folder" + (" (FIELDNODE_RP2_VENDOR)" if given else ""))
    return path


def _say(text):
    print("rp2_firmware: " + text, file=sys.stderr, flush=True)


def rp2_tree():
    """A copy of the pinned source with the rp2 submodules in lib/ (made once)."""
    src = mpsource.source_dir()
    mpsource.mpy_cross()  # built in the pristine tree; the copy links to it
    key = hashlib.sha256((src + "\0" + "\0".join(sorted(SUBMODULES))).encode()).hexdigest()[:12]
    dest = os.path.join(mpsource.cache_dir(), "rp2", "tree-" + key)
    if os.path.isfile(os.path.join(dest, ".done")):
        return dest
    vendor = vendor_rp2()
    with mpsource.lock("rp2-tree"):
        if not os.path.isfile(os.path.join(dest, ".done")):
            _say("unpacking the rp2 submodules from %s into %s ..." % (vendor, dest))
            shutil.rmtree(dest, ignore_errors=True)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            # hard links: cheap, and the build only ever adds files to its own dirs
            cp = subprocess.run(["cp", "-al", src, dest], stderr=subprocess.PIPE, text=True)
            if cp.returncode:
                raise mpsource.SourceError("cannot copy the source into %s: %s" % (
                    dest, (cp.stderr.strip().splitlines() or ["cp failed"])[0]))
            for stem, name in SUBMODULES.items():
                lib = os.path.join(dest, "lib", name)
                shutil.rmtree(lib, ignore_errors=True)
                mpsource.unpack(os.path.join(vendor, stem + ".tar.gz"), lib)
            open(os.path.join(dest, ".done"), "w").close()
    return dest


def picotool(tree):
    """Install prefix of picotool built offline against the tree's pico-sdk."""
    prefix = os.path.join(mpsource.cache_dir(), "rp2", PICOTOOL + "-install")
    marker = os.path.join(prefix, ".done")
    if os.path.isfile(marker):
        return prefix
    with mpsource.lock("rp2-picotool"):
        if not os.path.isfile(marker):
            _say("building picotool (once, cached) ...")
            work = os.path.join(mpsource.cache_dir(), "rp2", "picotool-work")
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(prefix, ignore_errors=True)
            mpsource.unpack(os.path.join(vendor_rp2(), PICOTOOL + ".tar.gz"),
                            os.path.join(work, "src"))
            _run(["cmake", "-S", "src", "-B", "build", "-DPICOTOOL_NO_LIBUSB=1",
                  "-DPICOTOOL_FLAT_INSTALL=1",
                  "-DPICO_SDK_PATH=" + os.path.join(tree, "lib", "pico-sdk"),
                  "-DCMAKE_INSTALL_PREFIX=" + prefix], work)
            _run(["cmake", "--build", "build", "-j" + mpsource.JOBS, "--target", "install"],
                 work)
            shutil.rmtree(work, ignore_errors=True)
            open(marker, "w").close()
    return prefix


def _run(argv, cwd, env=None):
    proc = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    if proc.returncode:
        raise mpsource.SourceError("`%s` failed:\n%s" % (" ".join(argv), proc.stdout[-3000:]))
    return proc.stdout


def _inputs_key(tree, manifest):
    # (the salt: images cached before each build cleared its frozen outputs may lack an
    # edit made with an old mtime, and are not reused)
    h = hashlib.sha256(tree.encode() + b"\0frozen-afresh")
    paths = [manifest]
    for top in FROZEN_INPUTS:
        for base, dirs, files in os.walk(os.path.join(ROOT, top)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            paths += [os.path.join(base, f) for f in sorted(files) if f.endswith(".py")]
    for path in paths:
        with open(path, "rb") as f:
            h.update(os.path.relpath(path, ROOT).encode() + b"\0" + f.read() + b"\0")
    return h.hexdigest()[:16]


# make's output lines that start a step worth a progress line (a cold build runs for
# minutes), and cmake's "[ NN%]" in steps of 10 (rising only: the pioasm sub-build counts
# to 100% of its own early on); the rest goes to the log only
_STEPS = (("MPY ", "freezing the modules (makemanifest)"),
          ("Linking CXX executable firmware.elf", "linking firmware.elf"))


def _progress(line, seen):
    """The progress line `line` of make's output starts, if any (`seen`: a set of the
    steps said, and the highest percentage said)."""
    for start, step in _STEPS:
        if start in line and step not in seen:
            seen.add(step)
            return step
    head = line[1:line.find("%]")].strip() if line.startswith("[") and "%]" in line else ""
    if head.isdigit():
        pct = int(head) // 10 * 10
        if max((n for n in seen if isinstance(n, int)), default=0) < pct < 100:
            seen.add(pct)
            return "compiled %d%%" % pct
    return None


def _build(tree, manifest, build_dir, log):
    env = dict(os.environ, PICOTOOL_FETCH_FROM_GIT_PATH=picotool(tree))
    args = ["make", "-j" + mpsource.JOBS, "BOARD=" + MP_BOARD, "BUILD=" + build_dir]
    if manifest:
        args.append("FROZEN_MANIFEST=" + manifest)
    # make recompiles a frozen .py only when it is newer than the .mpy left in the build
    # dir: an edit with an old mtime would be cached under the new key without itself
    mpsource.clear_frozen(build_dir)
    _say("building ports/rp2 %s (log %s) ..." % (" ".join(args[1:]), log))
    seen = set()
    with open(log, "w") as f, subprocess.Popen(
            args, cwd=os.path.join(tree, "ports", "rp2"), env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, errors="replace") as proc:
        tail = []
        for line in proc.stdout:
            f.write(line)
            tail = (tail + [line])[-60:]
            step = _progress(line, seen)
            if step:
                _say(step + " ...")
    if proc.returncode:
        raise mpsource.SourceError("rp2 build failed (log %s):\n%s" % (log, "".join(tail)[-3000:]))


def _sizes(build_dir):
    """text/data/bss of firmware.elf (flash = text + data) and the .uf2 size."""
    out = _run(["arm-none-eabi-size", os.path.join(build_dir, "firmware.elf")], build_dir)
    text, data, bss = (int(x) for x in out.splitlines()[1].split()[:3])
    return {"text": text, "data": data, "bss": bss, "flash": text + data,
            "uf2": os.path.getsize(os.path.join(build_dir, "firmware.uf2"))}


def firmware(stock=False):
    """Build (or reuse) the image; returns a dict with its path, sizes and timings."""
    t0 = time.monotonic()
    tree = rp2_tree()
    manifest = None if stock else os.path.join(ROOT, "boards", BOARD, "manifest.py")
    if stock:
        key = "stock-" + hashlib.sha256(tree.encode()).hexdigest()[:12]
    else:
        key = _inputs_key(tree, manifest)
    cached = os.path.join(mpsource.cache_dir(), "firmware", "%s-%s" % (BOARD, key))
    info_path = os.path.join(cached, "info.json")
    if not os.path.isfile(info_path):
        # one build dir per manifest location: cmake records FROZEN_MANIFEST at configure
        where = hashlib.sha256((tree + str(manifest)).encode()).hexdigest()[:10]
        build_dir = os.path.join(mpsource.cache_dir(), "rp2", "build-%s-%s" % (MP_BOARD, where))
        with mpsource.lock("rp2-build-" + where):
            if not os.path.isfile(info_path):
                _say("building the %s image %s (minutes when cold), to be cached in %s" % (
                    "stock " + MP_BOARD if stock else BOARD, key, cached))
                tmp = cached + ".tmp"
                shutil.rmtree(tmp, ignore_errors=True)
                os.makedirs(tmp)
                _build(tree, manifest, build_dir, os.path.join(tmp, "build.log"))
                info = _sizes(build_dir)
                info["build_s"] = round(time.monotonic() - t0, 1)
                for name in ("firmware.uf2", "firmware.elf"):
                    shutil.copy(os.path.join(build_dir, name), tmp)
                with open(os.path.join(tmp, "info.json"), "w") as f:
                    json.dump(info, f)
                shutil.rmtree(cached, ignore_errors=True)
                os.rename(tmp, cached)
                mpsource.prune(os.path.dirname(cached), BOARD)
    with open(info_path) as f:
        info = json.load(f)
    info["uf2_path"] = os.path.join(cached, "firmware.uf2")
    info["elapsed_s"] = round(time.monotonic() - t0, 1)
    return info


def main(argv):
    stock = "--stock" in argv[1:]
    if [a for a in argv[1:] if a != "--stock"]:
        sys.exit("usage: rp2_firmware.py [--stock]")
    try:
        info = firmware()
        os.makedirs(OUT_DIR, exist_ok=True)
        out = os.path.join(OUT_DIR, "firmware.uf2")
        shutil.copy(info["uf2_path"], out)
        print("%s: %d bytes (.uf2), %d bytes flash (text+data), %d bytes bss; %.1f s" % (
            os.path.relpath(out, ROOT), info["uf2"], info["flash"], info["bss"],
            info["elapsed_s"]))
        if stock:
            base = firmware(stock=True)
            print("stock %s: %d bytes flash; the node adds %d bytes (%.1f KB)" % (
                MP_BOARD, base["flash"], info["flash"] - base["flash"],
                (info["flash"] - base["flash"]) / 1024))
    except mpsource.SourceError as e:
        sys.exit("rp2_firmware: %s" % e)


if __name__ == "__main__":
    main(sys.argv)
