"""`fieldnode flash --board B --port P --firmware FILE`: put MicroPython on a board.

esp32: FILE is checked with esptool's own image parser (magic, chip id in the
extended header, checksum, the appended SHA-256) before anything touches the board,
and at the chip's bootloader offset as a whole firmware (bootloader, partition table,
app: check_esp_image); a file that is not that for the board's chip is refused
without opening the port, and so is
a --port that is no serial port (a file, a directory, /dev/null: exit 2). Then
esptool writes it at the board's offset (board.json "flash"), showing its own
progress; --erase erases the whole flash first (MicroPython's advice for a
first install; it also erases the filesystem with config.json).

rp2_pico_w: the RP2040 has no serial flashing. Hold BOOTSEL while plugging the
board in: it mounts as a USB drive named RPI-RP2. Give that mount as --drive
and FILE (a .uf2, checked whole: every block of the count its blocks give, once) is
copied onto it; the board reboots into MicroPython, and
this waits for its serial port (--port) to appear. A Pico W in BOOTSEL mode has
no serial port, so a --port that exists before the copy belongs to another device
and is refused before anything is copied. --erase is refused there: to wipe a
Pico W, copy Raspberry Pi's flash_nuke.uf2 to the drive first.
"""

import os
import shutil
import struct
import subprocess
import sys
import time

from . import CliError, boards, subparser
from .device import check_port
from .options import check_seconds

UF2_MAGIC = (0x0A324655, 0x9E5D5157)
UF2_END = 0x0AB16F30
UF2_FAMILY_RP2040 = 0xE48BFF56
UF2_FAMILY_PRESENT = 0x2000


PARTITIONS_AT = 0x8000  # ESP-IDF's partition table, in flash (MicroPython's layout)


def check_esp_image(path, chip, offset=None):
    """A CliError unless `path` is a valid image for `chip` (esptool's parser: magic,
    chip id, checksum, the appended SHA-256); returns the parsed image.  Written at the
    chip's bootloader offset (`offset`, e.g. ESP32's 0x1000), it must be a whole
    firmware, as MicroPython's firmware.bin is: the bootloader, the partition table at
    0x8000, and the app its first app partition names, each checked (a download cut
    short in the app, or an app or a bootloader alone, passed on its first image)."""
    from esptool.targets import CHIP_DEFS

    with open(path, "rb") as f:
        data = f.read()
    image = _esp_image(data, chip, path)
    boot = CHIP_DEFS[chip].BOOTLOADER_FLASH_OFFSET
    if offset is None or int(str(offset), 0) != boot:
        return image
    pt = PARTITIONS_AT - boot
    apps = []
    for i in range(pt, min(pt + 0xC00, len(data) - 31), 32):
        magic, kind, _, at = struct.unpack_from("<HBBI", data, i)
        if magic != 0x50AA:
            break
        if kind == 0:  # an app partition
            apps.append(at)
    if not apps:
        raise CliError("%s is not a whole %s firmware for 0x%x: no partition table with an "
                       "app at 0x%x (a bootloader or an app alone? flash MicroPython's "
                       "firmware.bin)" % (path, chip, boot, PARTITIONS_AT))
    at = min(apps)
    _esp_image(data[at - boot:], chip, "%s (its app, at 0x%x)" % (path, at))
    return image


def _esp_image(data, chip, path):
    # esptool's parse of one image at the start of `data`; a CliError naming `path`
    from esptool.bin_image import LoadFirmwareImage
    from esptool.targets import CHIP_DEFS
    from esptool.util import FatalError

    try:
        image = LoadFirmwareImage(chip, data)
    except (struct.error, TypeError):   # esptool read past the end of the file (struct,
        # or ord() of the b"" that read(1) gives there)
        raise CliError("%s is not an %s firmware image: it ends too soon (%d bytes)"
                       % (path, chip, len(data))) from None
    except RuntimeError as e:   # a bad header field, e.g. append_digest not 0 or 1: esptool
        # passes the message and its value apart, logging-style
        try:
            why = e.args[0] % e.args[1:]
        except (TypeError, ValueError):     # not a format for them: as they are
            why = " ".join(str(a) for a in e.args)
        raise CliError("%s is not an %s firmware image: %s" % (path, chip, why)) from None
    except (FatalError, ValueError, IndexError) as e:
        raise CliError("%s is not an %s firmware image: %s" % (path, chip, e)) from None
    want = CHIP_DEFS[chip].IMAGE_CHIP_ID
    if getattr(image, "chip_id", want) != want:
        names = {c.IMAGE_CHIP_ID: name for name, c in CHIP_DEFS.items() if hasattr(c, "IMAGE_CHIP_ID")}
        raise CliError("%s is an image for %s, not %s" % (
            path, names.get(image.chip_id, "chip id %d" % image.chip_id), chip))
    if image.checksum != image.calculate_checksum():
        raise CliError("%s: image checksum mismatch (file damaged?)" % path)
    if getattr(image, "append_digest", False) and image.stored_digest != image.calc_digest:
        raise CliError("%s: image SHA-256 mismatch (file damaged or cut short?)" % path)
    return image


def check_uf2(path):
    """A CliError unless `path` is a whole UF2 file for the RP2040; returns its block count.

    Whole: every block says the same numBlocks, and each blockNo from 0 to numBlocks-1
    is there exactly once. The bootrom reboots only once it has every block, so a file
    cut short (at a block boundary too), or blocks of two files joined, would be copied
    and leave the board in BOOTSEL mode with no word of why."""
    with open(path, "rb") as f:
        data = f.read()
    if not data or len(data) % 512:
        raise CliError("%s is not a UF2 file (size %d is not a multiple of 512)" % (path, len(data)))
    total = None
    seen = set()
    for off in range(0, len(data), 512):
        m0, m1, flags, _, _, block, count, family = struct.unpack_from("<8I", data, off)
        end = struct.unpack_from("<I", data, off + 508)[0]
        if (m0, m1) != UF2_MAGIC or end != UF2_END:
            raise CliError("%s is not a UF2 file (bad block magic at offset %d)" % (path, off))
        if flags & UF2_FAMILY_PRESENT and family != UF2_FAMILY_RP2040:
            raise CliError("%s is a UF2 for family 0x%08x, not the RP2040" % (path, family))
        if total is None:
            total = count
        if count != total or block >= count or block in seen:
            raise CliError("%s is damaged: its block at offset %d is %s" % (path, off, (
                "one of %d, the first said %d" % (count, total) if count != total else
                "number %d of %d" % (block, count) if block >= count else
                "number %d again" % block)))
        seen.add(block)
    if len(seen) != total:
        raise CliError("%s is incomplete (cut short?): %d of its %d blocks are there"
                       % (path, len(seen), total))
    return total


def esptool_argv(*args):
    return [sys.executable, "-m", "esptool"] + list(args)


def flash_esp(board, port, firmware, erase=False):
    flash = board.get("flash") or {}
    chip = flash.get("chip")
    if not chip or "offset" not in flash:
        raise CliError("board %s has no esptool flash data in board.json" % board["name"])
    image = check_esp_image(firmware, chip, flash["offset"])
    check_port(port, terminal=True)   # as deploy's: a file, a directory, /dev/null: exit 2
    print("flash: %s is a valid %s image (%d segments), writing at %s"
          % (firmware, chip, len(image.segments), flash["offset"]))
    common = ["--chip", chip, "--port", port, "--baud", str(flash.get("baud", 460800))]
    steps = [("erase-flash",)] if erase else []
    steps.append(("write-flash", flash["offset"], firmware))
    for step in steps:
        sys.stdout.flush()
        if subprocess.run(esptool_argv(*common, *step)).returncode:
            raise CliError("esptool %s failed on %s (see its output above)" % (step[0], port))
    print("flash: done; the board restarts into MicroPython")


def wait_for_port(port, timeout):
    deadline = time.monotonic() + timeout
    while not os.path.exists(port):
        if time.monotonic() > deadline:
            raise CliError("the board's serial port %s did not appear within %gs" % (port, timeout))
        time.sleep(0.2)


def flash_uf2(port, firmware, drive, timeout):
    blocks = check_uf2(firmware)
    if not drive:
        print("flash: %s is a valid RP2040 UF2 (%d blocks). Hold BOOTSEL while plugging the board "
              "in; it mounts as a drive named RPI-RP2. Copy %s onto it, or run this again with "
              "--drive <mount point>." % (firmware, blocks, firmware))
        return
    if not os.path.isfile(os.path.join(drive, "INFO_UF2.TXT")):
        raise CliError("%s is not a mounted RPI-RP2 drive (no INFO_UF2.TXT): hold BOOTSEL "
                       "while plugging the board in" % drive)
    if port and os.path.exists(port):
        raise CliError("serial port %s exists already, so it is another device's: a Pico W in "
                       "BOOTSEL mode has no serial port. Give the port it gets after the copy, "
                       "or leave --port out" % port, code=2)
    try:
        shutil.copyfile(firmware, os.path.join(drive, os.path.basename(firmware)))
    except OSError as e:        # the drive full, gone, read-only; a directory in the way
        raise CliError("copying %s to the drive %s failed: %s" % (
            firmware, drive, e.strerror or e)) from None
    print("flash: copied %s to %s; the board reboots into MicroPython" % (firmware, drive))
    if port:
        print("flash: waiting up to %gs for its serial port %s ..." % (timeout, port))
        sys.stdout.flush()      # (seen while it waits, through a pipe too)
        wait_for_port(port, timeout)
        print("flash: serial port %s is up" % port)


def method(board, port):
    """How `board` is flashed: "uf2" or "esptool". A board that is not flashed, or an
    esptool board without `port`, is a wrong argument (CliError, exit code 2)."""
    flash = board.get("flash")
    if not flash:
        raise CliError("board %s is not flashed (it runs on the host)" % board["name"], code=2)
    if flash.get("method") == "uf2":
        return "uf2"
    if not port:
        raise CliError("--port is required for %s" % board["name"], code=2)
    return "esptool"


def run(args):
    board = boards.load(args.board)
    how = method(board, args.port)
    check_seconds("--wait", args.wait)
    if how == "uf2" and args.erase:
        raise CliError("--erase is for esptool boards: a UF2 copy cannot erase %s's flash (to "
                       "wipe it, copy Raspberry Pi's flash_nuke.uf2 to the drive first)"
                       % board["name"], code=2)
    if os.path.isdir(args.firmware):
        raise CliError("firmware file %s is a directory" % args.firmware)
    if not os.path.isfile(args.firmware):
        raise CliError("firmware file %s not found" % args.firmware)
    if not os.path.getsize(args.firmware):
        raise CliError("firmware file %s is empty, not a firmware image" % args.firmware)
    if how == "uf2":
        flash_uf2(args.port, args.firmware, args.drive, args.wait)
    else:
        flash_esp(board, args.port, args.firmware, args.erase)
    return 0


def add_parser(sub):
    p = subparser(sub, "flash", __doc__)
    boards.add_argument(p)
    p.add_argument("--firmware", required=True, metavar="FILE",
                   help="MicroPython firmware: .bin (esp32) or .uf2 (rp2_pico_w)")
    p.add_argument("--port", help="serial port (esp32: required; rp2: waited for after the copy)")
    p.add_argument("--erase", action="store_true",
                   help="esp32: erase the whole flash first (refused for a UF2 board)")
    p.add_argument("--drive", metavar="DIR", help="rp2: the mounted RPI-RP2 drive")
    p.add_argument("--wait", type=float, default=30, metavar="S",
                   help="rp2: seconds to wait for the serial port (default 30)")
    p.set_defaults(run=run)
