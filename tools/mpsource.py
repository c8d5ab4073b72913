"""The pinned MicroPython source tree that device-class builds compile from.

MicroPython v1.28.0 with micropython-lib at 8380c7bb (the commit v1.28.0 pins as
its ``lib/micropython-lib`` submodule). Where it comes from, first match wins:

1. ``$MICROPY_SRC``: a MicroPython tree (used in place; its ``lib/micropython-lib``
   must be populated), a folder holding the vendor tarballs, or the path of
   ``micropython-1.28.0.tar.gz`` (``micropython-lib-8380c7bb.tar.gz`` beside it);
2. ``../shared/vendor`` next to the repository (tarballs checked against its
   ``SHA256SUMS``);
3. ``git clone --depth 1 -b v1.28.0`` of upstream, plus its micropython-lib submodule.

Tarballs and clones are unpacked once into ``cache_dir()/src/`` (outside the
clone, so a fresh clone on the same machine reuses them), under a lock file so
concurrent builds never see a half-unpacked tree.

A source that is not usable (a tarball missing, damaged or of something else, a tree
that is not v1.28.0) is a ``SourceError`` naming the file or folder at fault.

Stable API (other tools import it): ``cache_dir()``, ``vendor_dir()``,
``source_dir()``, ``mpy_cross()``, ``lock()``, ``unpack()``, ``sha256()``,
``need_tarballs()``, ``clear_frozen()``.

    python tools/mpsource.py            # print the source dir and mpy-cross path
"""

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSION = "1.28.0"
TAG = "v" + VERSION
MPLIB_COMMIT = "8380c7bb"
MPY_TARBALL = "micropython-%s.tar.gz" % VERSION
MPLIB_TARBALL = "micropython-lib-%s.tar.gz" % MPLIB_COMMIT
UPSTREAM = "https://github.com/micropython/micropython.git"
JOBS = os.environ.get("FIELDNODE_JOBS", "2")


class SourceError(RuntimeError):
    """The pinned source cannot be found, verified or unpacked."""


def cache_dir():
    """``$FIELDNODE_CACHE``, else ``~/.cache/fieldnode`` (created)."""
    path = os.environ.get("FIELDNODE_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "fieldnode")
    os.makedirs(path, exist_ok=True)
    return path


def vendor_dir():
    """``../shared/vendor`` beside the repository, or None when absent."""
    path = os.path.normpath(os.path.join(ROOT, "..", "shared", "vendor"))
    return path if os.path.isdir(path) else None


@contextlib.contextmanager
def lock(name):
    """Hold an exclusive lock file ``cache_dir()/locks/<name>.lock`` (blocks)."""
    locks = os.path.join(cache_dir(), "locks")
    os.makedirs(locks, exist_ok=True)
    with open(os.path.join(locks, name + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _verify(tarball):
    """Check ``tarball`` against the SHA256SUMS beside it (which must list it), else
    against the one a folder up when that lists it by its subfolder
    (``rp2/lwip-....tar.gz`` in ../shared/vendor/SHA256SUMS); else nothing is checked."""
    folder, name = os.path.split(tarball)
    sums = os.path.join(folder, "SHA256SUMS")
    beside = os.path.exists(sums)
    if not beside:
        sums = os.path.join(os.path.dirname(folder), "SHA256SUMS")
        name = os.path.basename(folder) + "/" + name
        if not os.path.exists(sums):
            return
    with open(sums) as f:
        expected = {line.split()[1]: line.split()[0] for line in f if len(line.split()) == 2}
    if name not in expected:
        if not beside:  # (a folder up: some other list)
            return
        raise SourceError("%s is not listed in %s" % (name, sums))
    if sha256(tarball) != expected[name]:
        raise SourceError("%s does not match its SHA256SUMS entry" % tarball)


KEEP = 8  # cached builds of one kind kept (each new one is a frozen file's change)


def prune(folder, prefix, keep=KEEP):
    """Remove all but the `keep` newest entries of `folder` named `prefix`-KEY (a cache
    of builds grew by one at every change of a frozen file, without end)."""
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix + "-")  # the KEY
                 and "-" not in n[len(prefix) + 1:] and "." not in n]  # alone: not m32-frozen-*
    except OSError:
        return
    names.sort(key=lambda n: os.path.getmtime(os.path.join(folder, n)), reverse=True)
    for n in names[keep:]:
        shutil.rmtree(os.path.join(folder, n), ignore_errors=True)


def need_tarballs(folder, names, what):
    """A SourceError naming `folder` and every one of the tarballs `names` it lacks
    (checked up front, so a folder missing two says so once, before anything is unpacked);
    `what` says which folder it is, e.g. "the MICROPY_SRC folder"."""
    missing = [n for n in names if not os.path.isfile(os.path.join(folder, n))]
    if missing:
        raise SourceError("%s %s lacks %s" % (what, folder, ", ".join(missing)))


def unpack(tarball, dest):
    """Unpack ``tarball`` (one top folder) so its contents become ``dest``.

    Verified against SHA256SUMS (_verify); atomic (temp dir + rename).
    A tarball that is missing or does not unpack is a SourceError naming it.
    """
    _verify(tarball)
    parent = os.path.dirname(dest)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".unpack-", dir=parent)
    try:
        proc = subprocess.run(["tar", "-xzf", tarball, "-C", tmp, "--strip-components=1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode:
            raise SourceError("cannot unpack %s: %s" % (
                tarball, (proc.stderr.strip().splitlines() or ["tar failed"])[0]))
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def clear_frozen(build_dir):
    """Remove the frozen outputs of an earlier build from ``build_dir``.

    MicroPython's makemanifest recompiles a frozen .py only when it is newer than the
    .mpy an earlier build left in the build dir: a changed file with an older mtime
    (from ``cp -p``, ``rsync -a``, ``tar x``, a checkout of an older commit, another
    tree building there) would be frozen as it was. So every build starts its frozen
    outputs afresh; the C objects stay cached.
    """
    for stale in ("frozen_mpy", "frozen_content.c"):
        path = os.path.join(build_dir, stale)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)


def _is_tree(path):
    return os.path.isfile(os.path.join(path, "py", "mpconfig.h")) and os.path.isdir(
        os.path.join(path, "ports"))


def _check_tree(path):
    try:
        with open(os.path.join(path, "py", "mpconfig.h")) as f:
            text = f.read()
        found = ".".join(text.split("#define MICROPY_VERSION_%s " % part, 1)[1].split()[0]
                         for part in ("MAJOR", "MINOR", "MICRO"))
    except (OSError, UnicodeError, IndexError):
        raise SourceError("%s is not a MicroPython source tree (no py/mpconfig.h with its "
                          "version)" % path) from None
    if found != VERSION:
        raise SourceError("%s is MicroPython %s, the pinned version is %s" % (
            path, found, VERSION))
    if not os.path.isfile(os.path.join(path, "lib", "micropython-lib", "README.md")):
        raise SourceError("%s/lib/micropython-lib is empty: unpack %s there" % (
            path, MPLIB_TARBALL))
    return path


def _from_tarballs(mpy_tar, mplib_tar, what):
    """The tree unpacked from the two tarballs; `what` names where they came from."""
    need_tarballs(os.path.dirname(mpy_tar), [os.path.basename(mpy_tar),
                                             os.path.basename(mplib_tar)], what)
    key = "%s-%s" % (sha256(mpy_tar)[:10], sha256(mplib_tar)[:10])

    def fill(staging):
        unpack(mpy_tar, staging)
        if not _is_tree(staging):
            raise SourceError("%s is not a MicroPython source tarball (no py/mpconfig.h in "
                              "it)" % mpy_tar)
        shutil.rmtree(os.path.join(staging, "lib", "micropython-lib"), ignore_errors=True)
        unpack(mplib_tar, os.path.join(staging, "lib", "micropython-lib"))

    return _once("micropython-%s-%s" % (VERSION, key), fill)


def _from_git():
    def fill(staging):
        for argv in (["git", "clone", "--quiet", "--depth", "1", "-b", TAG, UPSTREAM, staging],
                     ["git", "-C", staging, "submodule", "update", "--init", "--depth", "1",
                      "lib/micropython-lib"]):
            try:
                proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True)
            except OSError as e:    # no git
                raise SourceError("no MicroPython source (no ../shared/vendor, no "
                                  "$MICROPY_SRC) and git cannot run: %s" % e) from None
            if proc.returncode:
                raise SourceError("no MicroPython source (no ../shared/vendor, no $MICROPY_SRC) "
                                  "and `%s` failed: %s" % (" ".join(argv[:3]), (
                                      proc.stderr.strip().splitlines() or ["?"])[-1]))

    return _once("micropython-%s-git" % VERSION, fill)


def _once(name, fill):
    """``cache_dir()/src/<name>``, filled by ``fill(staging)`` once, under the lock."""
    dest = os.path.join(cache_dir(), "src", name)
    if os.path.isdir(dest):
        return dest
    with lock("src"):
        if not os.path.isdir(dest):
            staging = dest + ".staging"
            shutil.rmtree(staging, ignore_errors=True)
            try:
                fill(staging)
                _check_tree(staging)
                os.rename(staging, dest)
            except OSError as e:
                raise SourceError("cannot unpack the source into %s: %s" % (staging, e)) from None
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return dest


def source_dir():
    """An unpacked MicroPython v1.28.0 tree with micropython-lib in lib/micropython-lib."""
    src = os.environ.get("MICROPY_SRC")
    if src:
        src = os.path.abspath(os.path.expanduser(src))
        if os.path.isdir(src) and _is_tree(src):
            return _check_tree(src)
        if os.path.isdir(src):
            return _from_tarballs(os.path.join(src, MPY_TARBALL),
                                  os.path.join(src, MPLIB_TARBALL), "the MICROPY_SRC folder")
        if os.path.isfile(src):
            return _from_tarballs(src, os.path.join(os.path.dirname(src), MPLIB_TARBALL),
                                  "the MICROPY_SRC folder")
        raise SourceError("MICROPY_SRC=%s does not exist" % src)
    vendor = vendor_dir()
    if vendor and os.path.isfile(os.path.join(vendor, MPY_TARBALL)):
        return _from_tarballs(os.path.join(vendor, MPY_TARBALL),
                              os.path.join(vendor, MPLIB_TARBALL), "the vendor folder")
    return _from_git()


def make(args, cwd, log=None):
    """Run ``make -jN args`` in ``cwd``; on failure raise with the log's tail."""
    argv = ["make", "-j" + JOBS] + list(args)
    proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    if log:
        with open(log, "w") as f:
            f.write(proc.stdout)
    if proc.returncode != 0:
        raise SourceError("`%s` in %s failed:\n%s" % (" ".join(argv), cwd, proc.stdout[-3000:]))


def mpy_cross():
    """Path of ``mpy-cross`` built from ``source_dir()`` (built once, cached)."""
    src = source_dir()
    prog = os.path.join(src, "mpy-cross", "build", "mpy-cross")
    if os.access(prog, os.X_OK):
        return prog
    with lock("mpy-cross"):
        if not os.access(prog, os.X_OK):
            make([], os.path.join(src, "mpy-cross"))
    return prog


def main(argv):
    if argv[1:] not in ([], ["source"], ["mpy-cross"]):
        sys.exit("usage: mpsource.py [source|mpy-cross]")
    try:
        if argv[1:] != ["mpy-cross"]:
            print(source_dir())
        if argv[1:] != ["source"]:
            print(mpy_cross())
    except SourceError as e:
        sys.exit("mpsource: %s" % e)


if __name__ == "__main__":
    main(sys.argv)
