"""fieldnode build: mpy-cross with -march from board.json, the bundle's layout and
package.json, --opt, and the --out folders it refuses, replaces or leaves whole."""

import json
import os
import subprocess
import tomllib

import pytest

from fieldnode_cli import fieldnode
from runtimes import tool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# MicroPython's MP_NATIVE_ARCH_* numbers, stored in the top 6 bits of .mpy header byte 2
ARCH_NUMBERS = {"armv6m": 4, "xtensawin": 10}
NATIVE_MODULE = "import micropython\n\n@micropython.native\ndef add(a, b):\n    return a + b\n"


def board_json(name):
    with open(os.path.join(ROOT, "boards", name, "board.json")) as f:
        return json.load(f)


@pytest.mark.parametrize("board", ["esp32", "rp2_pico_w"])
def test_build_records_the_board_arch_in_native_mpy(tmp_path, board):
    src = tmp_path / "drivers"
    src.mkdir()
    (src / "fastmath.py").write_text(NATIVE_MODULE)
    out = tmp_path / "out"
    r = fieldnode("build", "--board", board, "--out", out, "--add", src)
    assert r.returncode == 0, r.stderr
    arch = board_json(board)["mpy_cross_arch"]
    head = (out / "lib" / "fastmath.mpy").read_bytes()[:4]
    assert head[:2] == b"M\x06", head               # .mpy format version 6
    assert head[2] >> 2 == ARCH_NUMBERS[arch], (head, arch)
    # plain bytecode records no architecture
    assert (out / "lib" / "config.mpy").read_bytes()[2] >> 2 == 0
    assert "-march=%s" % arch in r.stdout and "lib/fastmath.mpy" in r.stdout
    assert "total (" in r.stdout


def test_build_bundle_layout_and_package_json(tmp_path):
    out = tmp_path / "unix"
    r = fieldnode("build", "--board", "unix", "--out", out)
    assert r.returncode == 0, r.stderr
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert "main.py" in files and "package.json" in files
    mpys = [f for f in files if f not in ("main.py", "package.json")]
    assert mpys and all(f.startswith("lib/") and f.endswith(".mpy") for f in mpys)
    for module in ("lib/mqtt5/client.mpy", "lib/config.mpy", "lib/payload.mpy",
                   "lib/board.mpy", "lib/fieldnode_main.mpy"):
        assert module in mpys
    pkg = json.loads((out / "package.json").read_text())
    assert sorted(src for _, src in pkg["urls"]) == mpys
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:   # the firmware's VERSION
        assert pkg["version"] == tomllib.load(f)["project"]["version"]
    assert all(dest == src[len("lib/"):] for dest, src in pkg["urls"])
    # the size table lists every module with its .mpy size
    for f in mpys:
        assert "%s " % f in r.stdout
        assert str(os.path.getsize(out / f)) in r.stdout.split(f, 1)[1].splitlines()[0]


@pytest.mark.parametrize("board", ["esp32", "rp2_pico_w"])
def test_build_bundles_the_modules_board_json_names(board, tmp_path):
    """A board module's shared helper (board_common) goes with it; manifests do not."""
    r = fieldnode("build", "--board", board, "--out", tmp_path)
    assert r.returncode == 0, r.stderr
    files = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.mpy")}
    assert {"lib/board.mpy", "lib/board_common.mpy"} <= files
    assert not any(f.endswith("manifest.mpy") for f in files), sorted(files)


def test_build_refuses_native_code_for_the_unix_board(tmp_path):
    src = tmp_path / "drivers"
    src.mkdir()
    (src / "fastmath.py").write_text(NATIVE_MODULE)
    r = fieldnode("build", "--board", "unix", "--out", tmp_path / "o", "--add", src)
    assert r.returncode == 1
    assert r.stderr.startswith("fieldnode build: mpy-cross failed on") and "fastmath.py" in r.stderr


RAISES_ON_LINE_5 = "x = 1\n\n\ndef boom():\n    raise ValueError(x)\n\nboom()\n"


def test_build_opt_3_leaves_line_numbers_out_and_shrinks_the_bundle(tmp_path):
    """--opt reaches mpy-cross: at 3 a traceback from the bundle names no line, and the
    library's .mpy files (what a board loads into its heap) are smaller than at 0."""
    src = tmp_path / "drivers"
    src.mkdir()
    (src / "boom.py").write_text(RAISES_ON_LINE_5)
    sizes, tracebacks = {}, {}
    for opt in (0, 3):
        out = tmp_path / ("o%d" % opt)
        args = ["build", "--board", "unix", "--out", out, "--add", src]
        r = fieldnode(*(args + (["--opt", opt] if opt else [])))
        assert r.returncode == 0, r.stderr
        assert "-O%d)" % opt in r.stdout
        sizes[opt] = sum(p.stat().st_size for p in (out / "lib" / "mqtt5").rglob("*.mpy"))
        run = subprocess.run([tool("micropython"), "-c", "import boom"], capture_output=True,
                             text=True, timeout=30, env=dict(os.environ, MICROPYPATH=str(out / "lib")))
        assert "ValueError: 1" in run.stdout, run.stdout  # the unix port prints it there
        tracebacks[opt] = run.stdout
    assert 'boom.py", line 5, in boom' in tracebacks[0], tracebacks[0]
    assert "line 5" not in tracebacks[3], tracebacks[3]
    assert sizes[3] < sizes[0] * 0.95, sizes


def test_build_refuses_an_unknown_opt_level(tmp_path):
    r = fieldnode("build", "--board", "unix", "--out", tmp_path / "o", "--opt", "4")
    assert r.returncode == 2 and "--opt: invalid choice: 4" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


NOT_A_BUILD = ("fieldnode build: --out %s: exists and is not a fieldnode build (it holds %s); "
               "give an empty or new directory\n")


def tree(top):
    """{relative path: bytes} of every file under `top`."""
    return {str(p.relative_to(top)): p.read_bytes() for p in top.rglob("*") if p.is_file()}


def test_build_refuses_an_out_dir_that_is_not_a_build(tmp_path):
    """`--out DIR` once wiped any existing DIR (`--out /` deleted /etc): a directory holding
    anything but a previous build is refused, with nothing deleted or written."""
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "keep.txt").write_text("precious\n")
    r = fieldnode("build", "--board", "unix", "--out", decoy)
    assert r.returncode == 1
    assert r.stderr == NOT_A_BUILD % (decoy, "keep.txt")
    r = fieldnode("build", "--board", "unix", "--out", ".", cwd=decoy)
    assert r.returncode == 1 and r.stderr == NOT_A_BUILD % (".", "keep.txt")
    assert tree(decoy) == {"keep.txt": b"precious\n"} and r.stdout == ""

    afile = tmp_path / "notes.txt"
    afile.write_text("keep me\n")
    r = fieldnode("build", "--board", "unix", "--out", afile)
    assert r.returncode == 1 and r.stderr == (
        "fieldnode build: --out %s: exists and is not a directory; give an empty or new "
        "directory\n" % afile)
    link = tmp_path / "link"
    link.symlink_to(decoy)
    for out in (link, str(link) + "/"):
        r = fieldnode("build", "--board", "unix", "--out", out)
        assert r.returncode == 1 and r.stderr == (
            "fieldnode build: --out %s: is a symlink; give an empty or new directory\n" % out)
    assert afile.read_text() == "keep me\n" and tree(decoy) == {"keep.txt": b"precious\n"}


def test_build_again_into_its_own_out_dir(tmp_path):
    """An empty directory is used; a previous build is replaced; a previous build with one
    stray file (or an edited main.py) is refused and nothing in it is deleted."""
    out = tmp_path / "empty"
    out.mkdir()
    assert fieldnode("build", "--board", "unix", "--out", out).returncode == 0
    first = tree(out)
    (out / "lib" / "payload.mpy").write_bytes(b"stale")
    r = fieldnode("build", "--board", "unix", "--out", out)
    assert r.returncode == 0, r.stderr
    assert tree(out) == first

    (out / "lib" / "notes.txt").write_text("mine\n")
    r = fieldnode("build", "--board", "unix", "--out", out)
    assert r.returncode == 1 and r.stderr == NOT_A_BUILD % (out, "lib/notes.txt")
    assert tree(out) == dict(first, **{"lib/notes.txt": b"mine\n"})
    (out / "lib" / "notes.txt").unlink()
    (out / "main.py").write_text("import fieldnode_main  # tuned by hand\n")
    r = fieldnode("build", "--board", "unix", "--out", out)
    assert r.returncode == 1 and r.stderr == NOT_A_BUILD % (out, "main.py")
    assert (out / "main.py").read_text() == "import fieldnode_main  # tuned by hand\n"


def test_build_refuses_mpy_files_and_a_package_json_it_did_not_write(tmp_path):
    """Only what the previous build's package.json lists (with its launcher) is replaced: a
    project's own lib/*.mpy beside it, or a mip package folder, is refused untouched."""
    proj = tmp_path / "myproj"
    (proj / "lib").mkdir(parents=True)
    (proj / "lib" / "ssd1306.mpy").write_bytes(b"M\x06driver")
    r = fieldnode("build", "--board", "unix", "--out", proj)
    assert r.returncode == 1 and r.stderr == NOT_A_BUILD % (proj, "lib/ssd1306.mpy")
    pkg = tmp_path / "mip"
    (pkg / "lib" / "drivers").mkdir(parents=True)
    (pkg / "package.json").write_text('{"urls": [["bme.mpy", "lib/bme.mpy"]]}\n')
    (pkg / "lib" / "bme.mpy").write_bytes(b"M\x06bme")
    r = fieldnode("build", "--board", "unix", "--out", pkg)
    assert r.returncode == 1 and r.stderr == NOT_A_BUILD % (pkg, "package.json")
    assert tree(proj) == {"lib/ssd1306.mpy": b"M\x06driver"}
    assert tree(pkg) == {"package.json": b'{"urls": [["bme.mpy", "lib/bme.mpy"]]}\n',
                         "lib/bme.mpy": b"M\x06bme"}
    out = tmp_path / "build"       # the same driver dropped into a real build: refused too
    assert fieldnode("build", "--board", "unix", "--out", out).returncode == 0
    (out / "lib" / "ssd1306.mpy").write_bytes(b"M\x06driver")
    r = fieldnode("build", "--board", "unix", "--out", out)
    assert r.returncode == 1 and r.stderr == NOT_A_BUILD % (out, "lib/ssd1306.mpy")


def test_a_failed_build_leaves_the_previous_one_whole(tmp_path):
    """Compiled aside first: a syntax error in an --add module (named with its line) or a
    leftover of an interrupted build changes nothing of the previous build."""
    out = tmp_path / "out"
    assert fieldnode("build", "--board", "unix", "--out", out).returncode == 0
    before = tree(out)
    bad = tmp_path / "drv"
    bad.mkdir()
    (bad / "zz_bad.py").write_text("x = 1\ny = (\n")
    r = fieldnode("build", "--board", "unix", "--out", out, "--add", bad)
    assert r.returncode == 1
    assert r.stderr == ("fieldnode build: mpy-cross failed on %s, line 3: SyntaxError: invalid "
                        "syntax\n" % (bad / "zz_bad.py"))
    assert tree(out) == before
    (out / ".fieldnode-tmp" / "lib").mkdir(parents=True)     # as a killed build leaves it
    (out / ".fieldnode-tmp" / "lib" / "half.mpy").write_bytes(b"M")
    assert fieldnode("build", "--board", "unix", "--out", out).returncode == 0
    assert tree(out) == before


def test_build_refuses_the_filesystem_and_repository_roots(tmp_path, monkeypatch):
    """Refused even when empty: checked in-process on an empty decoy that stands in for
    the root (never the real one)."""
    from fieldnode import CliError, build

    decoy = tmp_path / "root"
    decoy.mkdir()
    monkeypatch.setattr(build, "ROOT", str(decoy))
    with pytest.raises(CliError, match="is the repository root; give an empty or new directory"
                       ) as e:
        build.check_out(str(decoy))
    assert e.value.code == 2  # a wrong argument, as the argument checks say
    monkeypatch.undo()
    realpath = os.path.realpath
    monkeypatch.setattr(os.path, "realpath",
                        lambda p: "/" if p == str(decoy) else realpath(p))
    with pytest.raises(CliError, match="is the filesystem root; give an empty or new directory"):
        build.check_out(str(decoy))
    monkeypatch.undo()
    assert list(decoy.iterdir()) == []


def test_build_out_os_errors_are_one_line(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x\n")
    r = fieldnode("build", "--board", "unix", "--out", afile / "sub")
    assert r.returncode == 1
    assert r.stderr == "fieldnode build: --out %s: Not a directory\n" % (afile / "sub")


def test_build_refuses_module_names_that_clash_before_compiling(tmp_path):
    """Two sources for one output path (an --add module named like the bundle's, or like
    another --add's) was compiled twice, the last one winning."""
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    for d in (mine, theirs):
        d.mkdir()
        (d / "sensor_x.py").write_text("X = 1\n")
    (mine / "config.py").write_text("X = 2\n")
    out = tmp_path / "out"
    r = fieldnode("build", "--board", "unix", "--out", out, "--add", mine)
    assert r.returncode == 1 and r.stderr == (
        "fieldnode build: module config comes from both firmware/config.py and %s: rename one; "
        "nothing built\n" % (mine / "config.py"))
    (mine / "config.py").unlink()
    r = fieldnode("build", "--board", "unix", "--out", out, "--add", mine, "--add", theirs)
    assert r.returncode == 1 and r.stderr == (
        "fieldnode build: module sensor_x comes from both %s and %s: rename one; nothing "
        "built\n" % (mine / "sensor_x.py", theirs / "sensor_x.py"))
    firmware = os.path.join(ROOT, "firmware")
    r = fieldnode("build", "--board", "esp32", "--out", out, "--add", firmware)
    assert r.returncode == 1 and r.stderr.startswith("fieldnode build: module ")
    assert "would be compiled twice (an --add of a directory the bundle has" in r.stderr
    assert not out.exists()


def test_build_to_a_full_disk_is_one_line(tmp_path):
    """stdout on /dev/full: an OSError traceback from the size table."""
    with open("/dev/full", "w") as full:
        r = subprocess.run([tool("fieldnode"), "build", "--board", "unix", "--out",
                            tmp_path / "unix"], stdout=full, stderr=subprocess.PIPE, text=True,
                           timeout=120)
    assert r.returncode == 1
    assert r.stderr == ("fieldnode build: cannot write the output: No space left on device "
                        "(stopped there: it may be half done)\n")


def test_build_from_a_deleted_working_directory(tmp_path):
    """It built, then failed with FileNotFoundError (os.path.relpath needs the working
    directory) while printing where: the path is absolute then, as deploy's."""
    gone, out = tmp_path / "gone", tmp_path / "unix"
    gone.mkdir()
    r = subprocess.run(["sh", "-c", 'cd "$1" && rmdir "$1" && exec "$2" build --board unix '
                        '--out "$3"', "sh", gone, tool("fieldnode"), out],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(" (-march=none, -O0) in %s\n" % out) and r.stderr == ""
    assert (out / "package.json").exists()


def test_builds_at_once_into_one_out_dir_do_not_mix(tmp_path):
    """Two builds into one --out shared the temp folder .fieldnode-tmp: one deleted it under
    the other (mpy-cross failed, "can't open .../.fieldnode-tmp/lib/payload.mpy"), or both
    wrote into it and one reported success over a bundle mixing -O0 and -O3 files. Each
    compiles into a folder of its own now, and they put their bundles in place in turn."""
    import subprocess

    from runtimes import tool

    refs = {}
    for opt in (0, 3):
        refs[opt] = tmp_path / ("ref%d" % opt)
        assert fieldnode("build", "--board", "unix", "--out", refs[opt], "--opt", opt).returncode == 0
    assert tree(refs[0]) != tree(refs[3])
    out = tmp_path / "out"
    for round in range(2):
        procs = [subprocess.Popen([tool("fieldnode"), "build", "--board", "unix", "--out", str(out),
                                   "--opt", str(3 * (i % 2))], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for i in range(4)]
        errs = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0] * 4, errs
        got = tree(out)
        assert got in (tree(refs[0]), tree(refs[3])), sorted(
            f for f in got if got[f] != tree(refs[0]).get(f))
        assert sorted(os.listdir(out)) == ["lib", "main.py", "package.json"]   # no temp left
