"""fieldnode deploy against a board short of room, and the temp files a cut or a failed
write leaves: the unix port's REPL on a pty, through the real mpremote. For the room
checks the board's filesystem is a small littlefs (as on ESP32 and RP2) or FAT in the
micropython process (scripts/small_board.py), which the test reads back through the REPL.
And deploy's probe for a node frozen in, on a board holding modules of its own."""

import hashlib
import json
import os
import re
import shutil

from cli_board import LISTING, bundle_files, deploy
from fieldnode.device import Device
from fieldnode_cli import fieldnode
from runtimes import tool
from serial_device import SerialDevice

SMALL_BOARD = os.path.join(os.path.dirname(__file__), "scripts", "small_board.py")

# every file under the cwd, with its SHA-256, as the board sees it
_TREE = """import os, hashlib, binascii
def _walk(d, out):
    for e in os.ilistdir(d or '.'):
        p = d + '/' + e[0] if d else e[0]
        if e[1] == 0x4000:
            _walk(p, out)
        else:
            with open(p, 'rb') as f:  # (closed: littlefs counts an open file's blocks)
                out[p] = binascii.hexlify(hashlib.sha256(f.read()).digest()).decode()
    return out
print(repr(_walk('', {})))
"""


def small_board(tmp_path, blocks, fs="lfs"):
    workdir = tmp_path / ("%s%d" % (fs, blocks))
    workdir.mkdir(parents=True)
    return SerialDevice(workdir, exe="%s -i %s" % (tool("micropython"), SMALL_BOARD),
                        env={"BLOCKS": str(blocks), "FS": fs})


def tree(dev):
    """The board's files and their hashes, without deploy's list of them."""
    with Device(dev.port) as d:
        files = d.eval_repr(_TREE)
    files.pop(LISTING, None)
    return files


def hashes(root):
    return {f: hashlib.sha256((root / f).read_bytes()).hexdigest() for f in bundle_files(root)}


def refused_for_room(r):
    m = re.fullmatch(r"fieldnode deploy: the board has (\d+) KB free, and this deploy needs "
                     r"about (\d+) KB: the new copies of the (\d+) changed files are written "
                     r"before the old ones are replaced. Remove files from the board \(mpremote "
                     r"rm\) and deploy again; nothing written\n", r.stderr)
    assert r.returncode == 1 and m, (r.returncode, r.stderr)
    return tuple(int(x) for x in m.groups())


def test_deploy_to_a_board_without_room_is_refused_and_writes_nothing(bundle, tmp_path):  # noqa: F811
    """A 64 KB filesystem cannot hold the ~100 KB bundle: the deploy filled it and
    failed part-way, leaving its temp copies behind."""
    with small_board(tmp_path, 128) as dev:
        r = deploy(dev, bundle)
        free, need, n = refused_for_room(r)
        size = sum((bundle / f).stat().st_size for f in bundle_files(bundle))
        assert n == len(bundle_files(bundle)) and free < 64 and need * 1024 >= size
        assert tree(dev) == {}
        assert dev.alive()


def blocks_taken(bundle, tmp_path):
    """512-byte blocks the bundle takes on a littlefs (deployed to a roomy one)."""
    with small_board(tmp_path / "roomy", 1024) as dev:
        assert deploy(dev, bundle).returncode == 0
        with Device(dev.port) as d:
            return 1024 - d.free_space()[1]


def test_deploy_without_room_for_its_temp_copies_keeps_the_old_bundle(bundle, tmp_path):  # noqa: F811
    """The bundle fits once, not twice: a new build that changes every file is refused
    (old and new must coexist until the renames), and the board keeps the old bundle
    whole; a build that changes one file still goes.  The board is the bundle's size
    plus 16 KB, so the test follows the bundle as modules come and go."""
    with small_board(tmp_path, blocks_taken(bundle, tmp_path) + 32) as dev:
        r = deploy(dev, bundle)
        assert r.returncode == 0, r.stderr
        assert tree(dev) == hashes(bundle)

        every = tmp_path / "every"
        shutil.copytree(bundle, every)
        for f in bundle_files(every):
            with open(every / f, "ab") as fh:
                fh.write(b"\n")
        free, need, n = refused_for_room(deploy(dev, every))
        assert n == len(bundle_files(bundle)) and need > free
        assert tree(dev) == hashes(bundle)

        one = tmp_path / "one"
        shutil.copytree(bundle, one)
        (one / "main.py").write_text("import fieldnode_main  # v2\n")
        r = deploy(dev, one)
        assert r.returncode == 0 and "1 changed" in r.stdout, r.stderr
        assert tree(dev) == hashes(one)

        # a full board: a deploy that changes nothing is not refused for want of room
        fill(dev)
        r = deploy(dev, one)
        assert r.returncode == 0 and "0 changed" in r.stdout, r.stderr
        assert dev.alive()


def fill(dev):
    """Fill the board's filesystem with `filler`."""
    with Device(dev.port) as d:
        d.exec("f = open('filler', 'wb')\ntry:\n while True:\n  f.write(bytes(512))\n"
               "except OSError:\n pass\nf.close()")


def test_deploy_closes_the_file_a_failed_write_left_open_before_removing_it(bundle,  # noqa: F811
                                                                             tmp_path):
    """mpremote's fs_writefile keeps its file open (`f`) when a write fails (no room)
    or is cut. Removed open, on FAT its clusters stayed taken, and its later close (a
    garbage collection) wrote into a directory slot reused since. (On the unix port's
    littlefs over a Python block device, a file left open across raw-REPL sessions
    crashes MicroPython whatever deploy does, so this board is FAT.)"""
    with small_board(tmp_path / "fresh", 400, "fat") as fresh, \
            small_board(tmp_path, 400, "fat") as dev:
        assert deploy(fresh, bundle).returncode == 0
        with Device(fresh.port) as d:
            want = d.free_space()[1]
        with Device(dev.port) as d:           # what a failed write leaves in the REPL
            d.exec("f = open('main.py.tmp', 'wb')\nw = f.write\nw(bytes(40000))")
        r = deploy(dev, bundle)
        assert r.returncode == 0, r.stderr
        assert "deploy: removed 1 temp files an earlier deploy left\n" in r.stdout
        with Device(dev.port) as d:
            d.exec("import gc\ngc.collect()")   # any finaliser of the old file runs
            assert d.free_space()[1] == want
        assert tree(dev) == hashes(bundle)


def test_deploy_removes_the_temp_files_an_interrupted_deploy_left(device, bundle):  # noqa: F811
    """Temp files of a deploy cut part-way stayed on the board for ever."""
    (device.fs / "lib").mkdir()
    (device.fs / "lib" / "payload.mpy.tmp").write_bytes(b"half a file")
    (device.fs / "main.py.tmp").write_bytes(b"import fie")
    (device.fs / "notes.tmp").write_bytes(b"the user's own")
    r = deploy(device, bundle)
    assert r.returncode == 0, r.stderr
    assert "deploy: removed 2 temp files an earlier deploy left\n" in r.stdout
    assert [p.name for p in device.fs.rglob("*.tmp")] == ["notes.tmp"]
    assert bundle_files(device.fs) == sorted(bundle_files(bundle) + ["notes.tmp"])


def test_a_write_failing_part_way_removes_its_temp_copies(device, bundle):  # noqa: F811
    """A directory where the last file's temp copy goes makes its write fail: the
    copies written before it are removed, and the board keeps its old files."""
    last = bundle_files(bundle)[-2]     # main.py goes first, then lib/ in order
    assert last.startswith("lib/")
    (device.fs / (last + ".tmp")).mkdir(parents=True)
    r = deploy(device, bundle)
    assert r.returncode == 1
    error = r.stderr.splitlines(True)[-1]           # after the progress lines
    assert error.startswith("fieldnode deploy: writing %s on the device failed: " % last)
    assert error.endswith("; the temp copies are removed, the board keeps its old files\n")
    # deploy's list names the files of the bundle that did not go in: the board's
    # files and the new ones, for the next deploy to remove if it lacks them
    assert [p for p in device.fs.rglob("*") if p.is_file() and p.name != "tty"] \
        == [device.fs / LISTING]
    assert json.loads((device.fs / LISTING).read_text()) == bundle_files(bundle)[:-1]
    assert (device.fs / (last + ".tmp")).is_dir()
    assert device.alive()


def test_deploy_probe_runs_no_payload_module_of_the_users(device, bundle):  # noqa: F811
    """The check for a node frozen in imported `payload` from the board's path: a
    payload.py of the user's was run, and the board refused as a Fieldnode image."""
    (device.fs / "payload.py").write_text("open('USER_CODE_RAN', 'w').close()\n")
    r = deploy(device, bundle)
    assert r.returncode == 0, r.stderr
    assert not (device.fs / "USER_CODE_RAN").exists()
    assert (device.fs / "payload.py").read_text() == "open('USER_CODE_RAN', 'w').close()\n"
    assert bundle_files(device.fs) == sorted(bundle_files(bundle) + ["payload.py"])


def test_deploy_repairs_a_damaged_payload_mpy(device, bundle):  # noqa: F811
    """A board with an earlier bundle whose lib/payload.mpy is damaged (or of another
    .mpy version): the probe's import failed with `ValueError: incompatible .mpy file`
    and the deploy stopped, though it would replace that very file."""
    shutil.copytree(bundle / "lib", device.fs / "lib")
    shutil.copy(bundle / "main.py", device.fs / "main.py")
    (device.fs / "lib" / "payload.mpy").write_bytes(b"M\x05\x00\x1f\x00\x00")
    r = deploy(device, bundle)
    assert r.returncode == 0, r.stderr
    assert "1 changed" in r.stdout, r.stdout
    assert (device.fs / "lib" / "payload.mpy").read_bytes() == (bundle / "lib" / "payload.mpy"
                                                                ).read_bytes()


def test_deploy_probe_puts_the_path_and_modules_back(device):  # noqa: F811
    """The probe searches frozen modules only, then leaves sys.path and an imported
    `payload` of the board's as they were."""
    from fieldnode import boards
    from fieldnode.deploy import check_target

    (device.fs / "payload.py").write_text("MINE = 1\n")
    state = "import sys\nprint(repr((sys.path, sys.modules['payload'].MINE)))"
    with Device(device.port) as d:
        before = d.eval_repr("import payload\n" + state)
        check_target(d, boards.load("unix"))
        assert d.eval_repr(state) == before and before[1] == 1
