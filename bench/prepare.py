"""What the bench's columns load, made ready: the tools it runs (mpy-cross, micropython),
the packages compiled to .mpy, and umqtt.simple from its PyPI sdist. Where the bench's
files are. bench/run.py (which re-exports these names) runs the workloads."""

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
WORKLOADS = os.path.join(BENCH, "workloads")
CACHE = os.path.join(BENCH, ".cache")
RESULTS = os.path.join(BENCH, "results")

UMQTT = ("micropython-umqtt.simple", "1.3.4")
PYPI_JSON = "https://pypi.org/pypi/%s/json"


class BenchError(Exception):
    """Something a column cannot be measured without (shown as n/a (error ...))."""


# ---- tools ---------------------------------------------------------------------------
def find_tool(name):
    for d in (os.path.dirname(os.path.abspath(sys.executable)), os.path.join(ROOT, ".venv", "bin")):
        path = os.path.join(d, name)
        if os.access(path, os.X_OK):
            return path
    path = shutil.which(name)
    if path:
        return path
    raise BenchError("%s not found (run `make venv`)" % name)


def find_tool_or_none(name):
    try:
        return find_tool(name)
    except BenchError:
        return None


def version_of(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.TimeoutExpired, BenchError):
        return "n/a"


def mpy_cross(src, out, name, compiler=None):
    os.makedirs(os.path.dirname(out), exist_ok=True)
    proc = subprocess.run([compiler or find_tool("mpy-cross"), "-s", name, "-o", out, src],
                          capture_output=True, text=True)
    if proc.returncode:
        raise BenchError("mpy-cross %s: %s" % (name, proc.stderr.strip()[-200:]))


def compile_tree(src_root, package, out_root, compiler=None):
    """Compile src_root/package/**.py to out_root/package/**.mpy (fresh), with the
    venv's mpy-cross unless ``compiler`` names another."""
    shutil.rmtree(os.path.join(out_root, package), ignore_errors=True)
    top = os.path.join(src_root, package)
    if not os.path.isdir(top):
        raise BenchError("%s is missing" % os.path.relpath(top, ROOT))
    for base, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for f in files:
            if f.endswith(".py"):
                src = os.path.join(base, f)
                rel = os.path.relpath(src, src_root)
                mpy_cross(src, os.path.join(out_root, rel[:-3] + ".mpy"), os.path.basename(rel),
                          compiler)
    return out_root


def mpy_files(root, package):
    """{dotted module name: .mpy bytes} for every .mpy of the package."""
    out = {}
    for base, _, files in os.walk(os.path.join(root, package)):
        for f in files:
            if f.endswith(".mpy"):
                path = os.path.join(base, f)
                mod = os.path.relpath(path, root)[:-4].replace(os.sep, ".")
                if mod.endswith(".__init__"):
                    mod = mod[:-9]
                out[mod] = os.path.getsize(path)
    return out


# ---- umqtt.simple from PyPI ----------------------------------------------------------
def fetch_umqtt():
    """umqtt/simple.py from the PyPI sdist (sha256-checked, cached in bench/.cache)."""
    name, version = UMQTT
    cache = os.path.join(CACHE, "sdist")
    os.makedirs(cache, exist_ok=True)
    meta_path = os.path.join(cache, "%s-%s.json" % (name, version))
    if not os.path.exists(meta_path):
        try:
            with urllib.request.urlopen(PYPI_JSON % name, timeout=30) as r:
                meta = json.load(r)
        except OSError as e:
            raise BenchError("PyPI unreachable (%s)" % e)
        sdists = [u for u in meta.get("releases", {}).get(version, ())
                  if u["packagetype"] == "sdist"]
        if not sdists:
            raise BenchError("no sdist of %s %s on PyPI" % (name, version))
        with open(meta_path, "w") as f:
            json.dump({"url": sdists[0]["url"], "sha256": sdists[0]["digests"]["sha256"],
                       "filename": sdists[0]["filename"]}, f)
    with open(meta_path) as f:
        meta = json.load(f)
    path = os.path.join(cache, meta["filename"])
    data = None
    if os.path.exists(path):
        with open(path, "rb") as f:
            data = f.read()
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            data = None
    if data is None:
        try:
            with urllib.request.urlopen(meta["url"], timeout=60) as r:
                data = r.read()
        except OSError as e:
            raise BenchError("PyPI unreachable (%s)" % e)
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise BenchError("sha256 mismatch for %s" % meta["filename"])
        with open(path, "wb") as f:
            f.write(data)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar.getmembers():
            if m.name.endswith("/umqtt/simple.py"):
                return tar.extractfile(m).read()
    raise BenchError("umqtt/simple.py not in %s" % meta["filename"])


def build_umqtt():
    src = fetch_umqtt()
    out_root = os.path.join(CACHE, "umqtt-mpy")
    shutil.rmtree(out_root, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "umqtt"))
        with open(os.path.join(tmp, "umqtt", "simple.py"), "wb") as f:
            f.write(src)
        compile_tree(tmp, "umqtt", out_root)
    return out_root
