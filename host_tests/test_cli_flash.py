"""fieldnode flash: the image checks made before any write (esp32 images, RP2040 UF2
files), esptool at the board's offset after them, and on the Pico W the UF2 copied to the
BOOTSEL drive and the wait for the board's serial port."""

import os
import select
import struct
import threading
import time

import pytest

from fieldnode_cli import fieldnode


def one_image(path, cls_name, segments=((0x3FFB0000, 64),), entry=0x40080000):
    """An esptool image of `segments` ((load address, size), ...): its bytes."""
    from esptool.bin_image import ImageSegment
    import esptool.bin_image as bi

    img = getattr(bi, cls_name)()
    img.entrypoint = entry
    img.append_digest = True
    for addr, size in segments:
        seg = ImageSegment(addr, bytes(range(256)) * (size // 256) + b"\x00" * (size % 256))
        seg.name = "0x%x" % addr
        img.segments.append(seg)
    img.save(str(path))
    return path.read_bytes()


def esp_image(path, cls_name):
    """A whole firmware as MicroPython's ESP32 firmware.bin is laid out (written at
    0x1000): the bootloader, the partition table at flash 0x8000 (file 0x7000), the
    factory app at flash 0x10000 (file 0xF000)."""
    boot = one_image(path, cls_name)
    app = one_image(path, cls_name, ((0x3F400020, 4096), (0x400D0020, 8192)), 0x400D1000)
    table = struct.pack("<HBBII16sI", 0x50AA, 0, 0, 0x10000, 0x1F0000, b"factory", 0)
    path.write_bytes(boot.ljust(0x7000, b"\xff") + table.ljust(0x8000, b"\xff") + app)
    return path


def test_flash_esp32_checks_the_whole_firmware_not_only_its_bootloader(tmp_path, pty_port):
    """Only the bootloader at the file's start was parsed: a download cut short in the
    app, or a lone app or bootloader (which would overwrite the bootloader at 0x1000),
    was called valid and handed to esptool."""
    master, port = pty_port
    whole = esp_image(tmp_path / "firmware.bin", "ESP32FirmwareImage").read_bytes()
    boot = one_image(tmp_path / "boot.bin", "ESP32FirmwareImage")
    app = one_image(tmp_path / "app.bin", "ESP32FirmwareImage",
                    ((0x3F400020, 4096), (0x400D0020, 8192)), 0x400D1000)
    cases = [(whole[:0xF000 + 6000], "(its app, at 0x10000) is not an esp32 firmware image: "
                                     "End of file reading segment"),
             (whole[:len(boot) - 10], ": image SHA-256 mismatch (file damaged or cut short?)"),
             (app, " is not a whole esp32 firmware for 0x1000: no partition table with an app"),
             (boot, " is not a whole esp32 firmware for 0x1000: no partition table with an app")]
    for i, (data, says) in enumerate(cases):
        f = tmp_path / ("bad%d.bin" % i)
        f.write_bytes(data)
        r = fieldnode("flash", "--board", "esp32", "--port", port, "--firmware", f)
        assert r.returncode == 1 and r.stdout == "", (i, r.stdout, r.stderr)
        assert r.stderr.startswith("fieldnode flash: %s" % f) and says in r.stderr, (i, r.stderr)
        assert r.stderr.count("\n") == 1, r.stderr
    assert nothing_written(master)


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
