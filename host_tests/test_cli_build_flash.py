"""fieldnode build (mpy-cross, -march from board.json) and flash (image checks before any
write); the firmware build tools' checks and messages (tools/mpsource.py, mpbuild.py,
rp2_firmware.py), without building MicroPython."""

import json
import os
import select
import shutil
import struct
import subprocess
import sys
import threading
import time
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


def esp_image(path, cls_name):
    from esptool.bin_image import ImageSegment
    import esptool.bin_image as bi

    img = getattr(bi, cls_name)()
    img.entrypoint = 0x40080000
    seg = ImageSegment(0x3FFB0000, b"\x00" * 64)
    seg.name = ".dram0.data"
    img.segments = [seg]
    img.save(str(path))
    return path


@pytest.fixture
def pty_port():
    """A pseudo-terminal standing in for the board's port: (master fd, port path)."""
    master, slave = os.openpty()
    path = os.ttyname(slave)
    yield master, path
    os.close(master)
    os.close(slave)


def nothing_written(master):
    return not select.select([master], [], [], 0.5)[0]


def test_flash_refuses_a_file_that_is_not_an_image_without_opening_the_port(tmp_path, pty_port):
    master, port = pty_port
    junk = tmp_path / "notes.bin"
    junk.write_bytes(b"this is not firmware\n" * 20)
    r = fieldnode("flash", "--board", "esp32", "--port", port, "--firmware", junk)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "fieldnode flash: %s is not an esp32 firmware image: Invalid firmware image magic=0x74"
        % junk]
    assert "esptool" not in r.stdout and nothing_written(master)


def test_flash_refuses_an_image_for_another_chip(tmp_path, pty_port):
    master, port = pty_port
    image = esp_image(tmp_path / "s3.bin", "ESP32S3FirmwareImage")
    r = fieldnode("flash", "--board", "esp32", "--port", port, "--firmware", image)
    assert r.returncode == 1
    assert "is an image for esp32s3, not esp32" in r.stderr
    assert nothing_written(master)


def test_flash_accepts_a_valid_image_then_needs_the_port(tmp_path):
    image = esp_image(tmp_path / "fw.bin", "ESP32FirmwareImage")
    r = fieldnode("flash", "--board", "esp32", "--port", tmp_path / "ttyUSB9", "--firmware", image)
    assert r.returncode == 1
    assert r.stdout == ""  # no "writing at" before the port is known to be there
    assert r.stderr.strip() == ("fieldnode flash: serial port %s not found (is the board plugged in?)"
                                % (tmp_path / "ttyUSB9"))


def test_flash_runs_esptool_at_the_board_offset_after_the_check(tmp_path, pty_port):
    master, port = pty_port        # nothing answers: esptool's connect fails
    image = esp_image(tmp_path / "fw.bin", "ESP32FirmwareImage")
    r = fieldnode("flash", "--board", "esp32", "--port", port, "--firmware", image, "--erase")
    assert r.returncode == 1
    out = r.stdout
    assert out.index("is a valid esp32 image") < out.index("esptool v") < out.index("Connecting")
    assert r.stderr.strip().splitlines()[-1] == (
        "fieldnode flash: esptool erase-flash failed on %s (see its output above)" % port)
    sent = os.read(master, 65536)
    assert sent.startswith(b"\xc0\x00\x08")          # esptool's SLIP SYNC command


def uf2(blocks, family=0xE48BFF56):
    out = b""
    for i in range(blocks):
        out += struct.pack("<8I", 0x0A324655, 0x9E5D5157, 0x2000, 0x10000000 + 256 * i, 256, i,
                           blocks, family) + b"\x00" * 476 + struct.pack("<I", 0x0AB16F30)
    return out


def test_flash_rp2_copies_the_uf2_to_the_bootsel_drive_and_waits_for_the_port(tmp_path, pty_port):
    _, pty = pty_port
    fw = tmp_path / "RPI_PICO_W.uf2"
    fw.write_bytes(uf2(3))
    drive = tmp_path / "RPI-RP2"
    drive.mkdir()
    r = fieldnode("flash", "--board", "rp2_pico_w", "--firmware", fw)
    assert r.returncode == 0 and "Hold BOOTSEL" in r.stdout and not list(drive.iterdir())
    (drive / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\nBoard-ID: RPI-RP2\n")
    # a port that is there before the copy is another device's: refused, nothing copied
    r = fieldnode("flash", "--board", "rp2_pico_w", "--firmware", fw, "--drive", drive,
                  "--port", pty, "--wait", 5)
    assert r.returncode == 2 and "serial port %s exists already" % pty in r.stderr, r.stderr
    assert not (drive / fw.name).exists()
    # the board's port appears once the UF2 is on the drive (the board rebooted)
    port = tmp_path / "ttyACM0"

    def reboot():
        deadline = time.monotonic() + 10
        while not (drive / fw.name).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        port.symlink_to(pty)

    board = threading.Thread(target=reboot)
    board.start()
    r = fieldnode("flash", "--board", "rp2_pico_w", "--firmware", fw, "--drive", drive,
                  "--port", port, "--wait", 5)
    board.join()
    assert r.returncode == 0, r.stderr
    assert (drive / fw.name).read_bytes() == fw.read_bytes()
    assert "serial port %s is up" % port in r.stdout


def test_flash_rp2_says_it_waits_for_the_port_while_it_waits(tmp_path):
    """After the copy it waited (30 s by default) without a word."""
    import subprocess

    from runtimes import tool

    fw = tmp_path / "RPI_PICO_W.uf2"
    fw.write_bytes(uf2(3))
    drive = bootsel_drive(tmp_path / "RPI-RP2")
    port = tmp_path / "ttyACM0"     # never appears
    proc = subprocess.Popen([tool("fieldnode"), "flash", "--board", "rp2_pico_w", "--firmware",
                             str(fw), "--drive", str(drive), "--port", str(port), "--wait", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = [proc.stdout.readline() for _ in range(2)]
        assert proc.poll() is None      # said while it waits
        assert first == ["flash: copied %s to %s; the board reboots into MicroPython\n"
                         % (fw, drive), "flash: waiting up to 3s for its serial port %s ...\n"
                         % port], first
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 1 and err == ("fieldnode flash: the board's serial port %s did "
                                            "not appear within 3s\n" % port)


def test_flash_rp2_refusals(tmp_path):
    drive = tmp_path / "media"
    drive.mkdir()
    bad = tmp_path / "x.uf2"
    bad.write_bytes(b"\x00" * 512)
    r = fieldnode("flash", "--board", "rp2_pico_w", "--firmware", bad, "--drive", drive)
    assert r.returncode == 1 and "is not a UF2 file (bad block magic at offset 0)" in r.stderr
    other = tmp_path / "esp.uf2"
    other.write_bytes(uf2(1, family=0x1C5F21B0))
    r = fieldnode("flash", "--board", "rp2_pico_w", "--firmware", other)
    assert r.returncode == 1 and "not the RP2040" in r.stderr
    good = tmp_path / "ok.uf2"
    good.write_bytes(uf2(1))
    r = fieldnode("flash", "--board", "rp2_pico_w", "--firmware", good, "--drive", drive,
                  "--port", tmp_path / "ttyACM0", "--wait", 0.5)
    assert r.returncode == 1 and "not a mounted RPI-RP2 drive" in r.stderr
    assert list(drive.iterdir()) == []


def bootsel_drive(path):
    path.mkdir()
    (path / "INFO_UF2.TXT").write_text("UF2 Bootloader v3.0\nBoard-ID: RPI-RP2\n")
    return path


def test_flash_rp2_a_failing_copy_is_one_line(tmp_path):
    """A full drive or a directory in the way of the copy gave a Python traceback."""
    fw = tmp_path / "RPI_PICO_W.uf2"
    fw.write_bytes(uf2(2))
    full = bootsel_drive(tmp_path / "full")
    (full / fw.name).symlink_to("/dev/full")        # every write: ENOSPC
    blocked = bootsel_drive(tmp_path / "blocked")
    (blocked / fw.name).mkdir()
    for drive, reason in [(full, "No space left on device"), (blocked, "Is a directory")]:
        r = fieldnode("flash", "--board", "rp2_pico_w", "--firmware", fw, "--drive", drive)
        assert r.returncode == 1
        assert r.stderr == "fieldnode flash: copying %s to the drive %s failed: %s\n" % (
            fw, drive, reason)
    assert list((blocked / fw.name).iterdir()) == []


@pytest.mark.parametrize("board, name", [("esp32", "fw.bin"), ("rp2_pico_w", "fw.uf2")])
def test_flash_names_an_empty_file_and_a_directory(tmp_path, board, name):
    """An empty file was "unpack requires a buffer of 8 bytes" (esp32), a directory "not
    found"."""
    empty = tmp_path / name
    empty.write_bytes(b"")
    port = ["--port", tmp_path / "ttyUSB0"] if board == "esp32" else []
    r = fieldnode("flash", "--board", board, "--firmware", empty, *port)
    assert r.returncode == 1
    assert r.stderr == "fieldnode flash: firmware file %s is empty, not a firmware image\n" % empty
    r = fieldnode("flash", "--board", board, "--firmware", tmp_path, *port)
    assert r.returncode == 1
    assert r.stderr == "fieldnode flash: firmware file %s is a directory\n" % tmp_path


def test_flash_esp32_a_truncated_image_says_so(tmp_path):
    short = tmp_path / "short.bin"
    short.write_bytes(b"\xe9\x03")                  # the image magic, then nothing
    r = fieldnode("flash", "--board", "esp32", "--port", tmp_path / "ttyUSB0", "--firmware", short)
    assert r.returncode == 1
    assert r.stderr == ("fieldnode flash: %s is not an esp32 firmware image: it ends too soon "
                        "(2 bytes)\n" % short)


@pytest.mark.parametrize("data, why", [
    # the header, then no checksum byte: esptool's ord(b"") raised a TypeError
    (b"\xe9" + b"\x00" * 23, "it ends too soon (24 bytes)"),
    # append_digest (extended header byte 23 = file byte 23) neither 0 nor 1: RuntimeError
    (b"\xe9\x01" + b"\x00" * 21 + b"\x02" + b"\x00" * 40,
     "Invalid value for append_digest field (0x02). Should be 0 or 1."),
], ids=["no-checksum", "append-digest-2"])
def test_flash_esp32_a_bad_header_is_one_line_not_a_traceback(tmp_path, data, why):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(data)
    r = fieldnode("flash", "--board", "esp32", "--port", tmp_path / "ttyUSB0", "--firmware", bad)
    assert r.returncode == 1
    assert r.stderr == "fieldnode flash: %s is not an esp32 firmware image: %s\n" % (bad, why)


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


@pytest.mark.parametrize("extra, message", [
    (["--erase"], "--erase is for esptool boards: a UF2 copy cannot erase rp2_pico_w's flash"),
    (["--wait", "-1"], "--wait must be above 0 and at most 604800 (a week), in seconds"),
    (["--wait", "0"], "--wait must be above 0 and at most 604800 (a week), in seconds"),
])
def test_flash_rp2_wrong_options_exit_2_before_touching_the_drive(tmp_path, extra, message):
    fw = tmp_path / "ok.uf2"
    fw.write_bytes(uf2(1))
    drive = bootsel_drive(tmp_path / "RPI-RP2")
    r = fieldnode("flash", "--board", "rp2_pico_w", "--firmware", fw, "--drive", drive, *extra)
    assert r.returncode == 2
    assert r.stderr.startswith("fieldnode flash: " + message) and r.stderr.count("\n") == 1
    assert sorted(os.listdir(drive)) == ["INFO_UF2.TXT"]


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


def test_flash_rp2_refuses_a_uf2_cut_short_or_mixed_before_copying(tmp_path):
    """A UF2 cut at a block boundary passed the size and magic checks and was copied: the
    bootrom waits for the missing blocks and the board never reboots. Every block must
    say the same block count, and each block number 0..count-1 be there exactly once."""
    drive = bootsel_drive(tmp_path / "RPI-RP2")
    whole = uf2(5)
    blocks = [whole[i:i + 512] for i in range(0, len(whole), 512)]
    past = bytearray(blocks[4])
    struct.pack_into("<I", past, 20, 7)         # blockNo 7 of 5
    cases = {
        "cut.uf2": (b"".join(blocks[:3]), "is incomplete (cut short?): 3 of its 5 blocks are "
                    "there"),
        "twice.uf2": (b"".join(blocks[:4] + blocks[3:4]), "its block at offset 2048 is number "
                      "3 again"),
        "mixed.uf2": (b"".join(blocks[:2]) + uf2(3)[1024:], "its block at offset 1024 is one "
                      "of 3, the first said 5"),
        "past.uf2": (b"".join(blocks[:4]) + past, "its block at offset 2048 is number 7 of 5"),
    }
    for name, (data, why) in cases.items():
        fw = tmp_path / name
        fw.write_bytes(data)
        r = fieldnode("flash", "--board", "rp2_pico_w", "--firmware", fw, "--drive", drive)
        assert r.returncode == 1 and r.stdout == "", (name, r.stdout, r.stderr)
        assert r.stderr.startswith("fieldnode flash: %s " % fw) and why in r.stderr \
            and r.stderr.count("\n") == 1, (name, r.stderr)
    assert sorted(os.listdir(drive)) == ["INFO_UF2.TXT"]
    from fieldnode.flash import check_uf2

    shuffled = tmp_path / "shuffled.uf2"     # blocks in any order are whole
    shuffled.write_bytes(b"".join(blocks[::-1]))
    assert check_uf2(str(shuffled)) == 5


@pytest.mark.parametrize("port, why", [("/dev/null", "a device that is not a terminal"),
                                       ("dir", "a directory"), ("file", "a regular file")])
def test_flash_esp32_a_port_that_is_no_serial_port_is_one_line_exit_2(tmp_path, port, why):
    """esptool ran on /dev/null, a directory or a file (8-10 lines, exit 1); deploy's own
    port checks (device.check_port) refuse them as a wrong argument."""
    image = esp_image(tmp_path / "fw.bin", "ESP32FirmwareImage")
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("not a port\n")
    port = port if port.startswith("/") else str(tmp_path / port)
    r = fieldnode("flash", "--board", "esp32", "--port", port, "--firmware", image)
    assert (r.returncode, r.stdout) == (2, ""), (r.stdout, r.stderr)
    assert r.stderr == "fieldnode flash: %s is not a serial port (%s)\n" % (port, why)


# --- the build tools (tools/mpsource.py, mpbuild.py, rp2_firmware.py), without building

TOOLS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools")


def tool_run(script, *args, env=None):
    return subprocess.run([sys.executable, os.path.join(TOOLS, script)] + list(args),
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, **(env or {})))


def tarball(path, files):
    """A .tar.gz of `files` (name -> text) under one top folder, as the vendor's are."""
    import tarfile

    src = path.parent / (path.name + ".d")
    for name, text in files.items():
        (src / "top" / name).parent.mkdir(parents=True, exist_ok=True)
        (src / "top" / name).write_text(text)
    with tarfile.open(path, "w:gz") as t:
        t.add(src / "top", arcname="top")
    return path


def test_micropy_src_mistakes_are_one_line_naming_the_folder(tmp_path):
    """A MICROPY_SRC holding only the lib tarball, or a tarball of something else, was a
    Python traceback (FileNotFoundError); an empty folder named only micropython-lib."""
    import mpsource

    env = {"FIELDNODE_CACHE": str(tmp_path / "cache")}
    lib = tarball(tmp_path / "v" / mpsource.MPLIB_TARBALL, {"README.md": "lib\n"})
    (tmp_path / "empty").mkdir()
    for src, message in [
            (lib.parent, "the MICROPY_SRC folder %s lacks %s" % (lib.parent, mpsource.MPY_TARBALL)),
            (tmp_path / "empty", "the MICROPY_SRC folder %s lacks %s, %s" % (
                tmp_path / "empty", mpsource.MPY_TARBALL, mpsource.MPLIB_TARBALL))]:
        r = tool_run("mpsource.py", "source", env=dict(env, MICROPY_SRC=str(src)))
        assert (r.returncode, r.stdout, r.stderr) == (1, "", "mpsource: %s\n" % message)
    other = tarball(tmp_path / "v" / "micropython-mqtt.tar.gz", {"mqtt_as/__init__.py": ""})
    damaged = tmp_path / "v" / "damaged.tar.gz"
    damaged.write_bytes(b"\x1f\x8b not really gzip")
    for src, message in [
            (other, "%s is not a MicroPython source tarball (no py/mpconfig.h in it)" % other),
            (damaged, "cannot unpack %s: " % damaged)]:
        r = tool_run("mpsource.py", "source", env=dict(env, MICROPY_SRC=str(src)))
        assert r.returncode == 1 and r.stdout == "", r.stderr
        assert r.stderr.startswith("mpsource: " + message) and r.stderr.count("\n") == 1, r.stderr
    assert os.listdir(tmp_path / "cache" / "src") == []      # no half-unpacked tree left


def test_rp2_vendor_folder_is_checked_for_every_tarball_up_front(tmp_path, monkeypatch):
    """A vendor folder without the tinyusb tarball got as far as unpacking the others,
    then died in a CalledProcessError traceback from tar."""
    import mpsource
    import rp2_firmware

    names = list(rp2_firmware.SUBMODULES) + [rp2_firmware.PICOTOOL]
    for name in names:
        if "tinyusb" not in name and "lwip" not in name:
            (tmp_path / (name + ".tar.gz")).write_bytes(b"")
    monkeypatch.setenv("FIELDNODE_RP2_VENDOR", str(tmp_path))
    with pytest.raises(mpsource.SourceError) as e:
        rp2_firmware.vendor_rp2()
    assert str(e.value) == ("the rp2 vendor folder (FIELDNODE_RP2_VENDOR) %s lacks "
                            "tinyusb-aa0fc2e0.tar.gz, lwip-77dcd25a.tar.gz" % tmp_path)
    monkeypatch.setenv("FIELDNODE_RP2_VENDOR", str(tmp_path / "nowhere"))
    with pytest.raises(mpsource.SourceError, match="no folder %s$" % (tmp_path / "nowhere")):
        rp2_firmware.vendor_rp2()


FAKE_MAKE = """#!/bin/sh
# stands in for ports/rp2's make: says whether an earlier build's frozen outputs are
# still there (makemanifest would reuse a .mpy newer than its .py), prints the lines
# rp2_firmware reports progress by, leaves the image
for a; do case $a in BUILD=*) B=${a#BUILD=};; esac; done
mkdir -p "$B"
if [ -e "$B/frozen_mpy" ] || [ -e "$B/frozen_content.c" ]; then S=stale; else S=fresh; fi
echo $S >> "$B/seen"
echo "[  1%] Building ASM object bs2_default"
echo "MPY payload.py"
echo "[ 45%] Building C object main.c.obj"
echo "[100%] Linking CXX executable firmware.elf"
mkdir -p "$B/frozen_mpy" && echo old > "$B/frozen_mpy/payload.mpy" && echo x > "$B/frozen_content.c"
echo elf > "$B/firmware.elf" && echo uf2 > "$B/firmware.uf2"
"""


def test_rp2_build_starts_its_frozen_outputs_afresh_and_says_what_it_runs(tmp_path, monkeypatch,
                                                                          capsys):
    """makemanifest recompiles a frozen .py only when it is newer than the .mpy in the
    (persistent) build dir: an edit with an old mtime (cp -p, rsync -a, tar x) was cached
    under its new key without the edit. And a cold build said nothing for minutes."""
    import rp2_firmware

    cache = tmp_path / "cache"
    make = tmp_path / "bin" / "make"
    make.parent.mkdir()
    make.write_text(FAKE_MAKE)
    make.chmod(0o755)
    (tmp_path / "tree" / "ports" / "rp2").mkdir(parents=True)
    monkeypatch.setenv("FIELDNODE_CACHE", str(cache))
    monkeypatch.setenv("PATH", "%s:%s" % (make.parent, os.environ["PATH"]))
    monkeypatch.setattr(rp2_firmware, "rp2_tree", lambda: str(tmp_path / "tree"))
    monkeypatch.setattr(rp2_firmware, "picotool", lambda tree: str(tmp_path / "picotool"))
    monkeypatch.setattr(rp2_firmware, "_sizes", lambda build_dir: {"flash": 1, "bss": 1, "uf2": 4})
    keys = iter(["k1", "k2"])       # two source states: each builds once
    monkeypatch.setattr(rp2_firmware, "_inputs_key", lambda tree, manifest: next(keys))
    for _ in range(2):
        rp2_firmware.firmware()
    (build_dir,) = (cache / "rp2").iterdir()
    assert (build_dir / "seen").read_text() == "fresh\nfresh\n"
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("rp2_firmware: building the rp2_pico_w image k1 (minutes when "
                             "cold), to be cached in %s" % cache)
    assert [e.split(": ", 1)[1] for e in err[2:6]] == [
        "freezing the modules (makemanifest) ...", "compiled 40% ...",
        "linking firmware.elf ...", "building the rp2_pico_w image k2 (minutes when cold), "
        "to be cached in %s" % (cache / "firmware" / "rp2_pico_w-k2")], err
    assert err[1].startswith("rp2_firmware: building ports/rp2 -j")


def test_firmware_unix_replaces_a_running_binary_and_says_why_it_cannot(tmp_path, monkeypatch):
    """`make firmware BOARD=unix` while build/fieldnode-unix ran: `OSError: [Errno 26] Text
    file busy` traceback (copied over the running file). A new file is renamed over it
    now; a build/ it cannot write is one line."""
    import mpbuild
    import mpsource

    repo = tmp_path / "repo"
    (repo / "boards" / "unix").mkdir(parents=True)
    (repo / "boards" / "unix" / "board.json").write_text("{}")
    (repo / "build").mkdir()
    running = repo / "build" / "fieldnode-unix"
    shutil.copy2("/bin/sleep", running)
    new = tmp_path / "new-binary"
    new.write_bytes(b"#!/bin/sh\necho new\n")
    new.chmod(0o755)
    monkeypatch.setattr(mpbuild, "ROOT", str(repo))
    monkeypatch.setattr(mpbuild, "build", lambda recipe: str(new))
    proc = subprocess.Popen([str(running), "30"])
    try:
        assert mpbuild.firmware("unix") == str(running)
        assert running.read_bytes() == new.read_bytes() and proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
    assert sorted(os.listdir(repo / "build")) == ["fieldnode-unix"]
    shutil.rmtree(repo / "build")
    (repo / "build").write_text("a file where build/ goes\n")
    with pytest.raises(mpsource.SourceError) as e:
        mpbuild.firmware("unix")
    assert str(e.value) == "cannot write %s: File exists" % running


def test_firmware_esp32_names_esp_idf_and_installs_nothing_first():
    """`make firmware BOARD=esp32` apt-got the ARM compilers and qemu, then said only that
    the port's toolchain was not here."""
    r = tool_run("mpbuild.py", "firmware", "esp32", env={"IDF_PATH": "/opt/esp-idf"})
    assert r.returncode == 1 and r.stdout == "" and r.stderr.count("\n") == 1, r.stderr
    manifest = os.path.join(os.path.dirname(TOOLS), "boards", "esp32", "manifest.py")
    for part in ("BOARD=esp32 is built with ESP-IDF (v5.3 to v5.5.1", "FROZEN_MANIFEST=" + manifest,
                 'README "ESP32: build with your own ESP-IDF, flash with esptool"'):
        assert part in r.stderr, r.stderr
    make = ["make", "-n", "-C", os.path.dirname(TOOLS), "firmware"]
    esp = subprocess.run(make + ["BOARD=esp32"], capture_output=True, text=True, timeout=60)
    unix = subprocess.run(make + ["BOARD=unix"], capture_output=True, text=True, timeout=60)
    assert esp.returncode == 0 and "mpbuild.py firmware esp32" in esp.stdout, esp.stderr
    assert "apt-get" not in esp.stdout and "apt-get" in unix.stdout
