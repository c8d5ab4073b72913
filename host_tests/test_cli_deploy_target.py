"""fieldnode deploy checks the board before writing anything: a bundle for another
board or arch, a board with the node frozen in, the unix bundle on a real board, a heap
the node would not fit (the pty board and its fixtures: cli_board.py, conftest.py)."""

import os
import re

import pytest

from cli_board import bundle_files, deploy
from fieldnode_cli import fieldnode
from serial_device import SerialDevice


def test_deploy_refuses_a_bundle_for_another_board(device, tmp_path):
    out = tmp_path / "esp32"
    assert fieldnode("build", "--board", "esp32", "--out", out).returncode == 0
    r = fieldnode("deploy", "--board", "esp32", "--port", device.port, "--build-dir", out)
    assert r.returncode == 1
    assert r.stderr == ("fieldnode deploy: the device is x64, the bundle is for esp32 "
                        "(xtensawin): wrong --board?\n")
    assert sorted(os.listdir(device.fs)) == ["tty"]          # nothing written


def test_deploy_refuses_a_board_with_the_node_frozen_in(bundle, tmp_path):
    """A board flashed with a fieldnode image (here the unix port with the node
    frozen in, as `make firmware BOARD=unix` builds it) runs its frozen modules ahead
    of any file: a deploy would report files sent and change nothing."""
    import mpbuild
    fs = tmp_path / "board"
    fs.mkdir()
    with SerialDevice(fs, exe=mpbuild.build("m32-frozen")) as dev:
        r = fieldnode("deploy", "--board", "unix", "--port", dev.port, "--build-dir", bundle)
        assert r.returncode == 1 and "has the node frozen in" in r.stderr, r.stderr
        assert len(r.stderr.splitlines()) == 1 and r.stdout == "", (r.stdout, r.stderr)
        assert sorted(os.listdir(fs)) == ["tty"]          # nothing written


@pytest.mark.parametrize("platform, arch", [("rp2", "armv6m"), ("esp32", "xtensawin")])
def test_deploy_refuses_the_unix_bundle_on_a_real_board(platform, arch):
    """The unix board has no native arch to compare: its port is (a unit test: what
    a Pico W / ESP32 says to the probe, without one)."""
    from fieldnode import CliError, boards
    from fieldnode.deploy import ARCHES, MPY_VERSION, check_target

    class Board:  # the device's answer to deploy's probe
        def eval_repr(self, code):
            return MPY_VERSION | ARCHES.index(arch) << 10, platform, None
    with pytest.raises(CliError) as e:
        check_target(Board(), boards.load("unix"))
    assert str(e.value) == ("the device is MicroPython for %s, the bundle is for unix "
                            "(linux): wrong --board?" % platform)
    check_target(Board(), boards.load("rp2_pico_w" if platform == "rp2" else "esp32"))


def test_deploy_warns_a_board_whose_heap_the_node_would_not_fit(bundle, tmp_path):
    """A board with less heap than the node needs as .mpy (NODE_HEAP_KIB: here the
    64-bit unix port with a 192 KiB heap) is warned before anything is written, with
    what to do instead; the deploy goes on (the need is an estimate)."""
    from fieldnode.deploy import NODE_HEAP_KIB
    from runtimes import tool

    fs = tmp_path / "board"
    fs.mkdir()
    with SerialDevice(fs, exe=tool("micropython") + " -X heapsize=192k") as dev:
        r = deploy(dev, bundle)
        assert r.returncode == 0, r.stderr
        warning = [line for line in r.stderr.splitlines() if "warning" in line]
        assert len(warning) == 1, r.stderr
        heap = int(re.search(r"heap is (\d+) KB", warning[0]).group(1))
        assert 150 < heap < 192 and "needs about %d KB on a 64-bit board" % NODE_HEAP_KIB[64] \
            in warning[0] and "frozen in" in warning[0], warning
        assert r.stderr.index("warning") < r.stderr.index("[1/"), r.stderr   # before writing
        assert bundle_files(fs) == bundle_files(bundle)


@pytest.mark.parametrize("answer, warned", [((110 * 1024, False), True), ((170 * 1024, False), False),
                                            ((None, False), False), ((170 * 1024, True), True)])
def test_heap_check_reads_the_word_size_and_skips_an_unknown_heap(answer, warned, capsys):
    """What a board answers deploy's heap probe (a unit test): a 32-bit board with 110 KB
    is warned, with 170 KB not; a port that does not know its free heap (None) is not
    checked; 170 KB on a 64-bit port is short of what the node needs there."""
    from fieldnode.deploy import NODE_HEAP_KIB, check_heap

    class Board:
        def eval_repr(self, code):
            return answer
    heap, need = check_heap(Board())
    err = capsys.readouterr().err
    assert (heap, need) == (answer[0], NODE_HEAP_KIB[64 if answer[1] else 32])
    assert ("warning" in err) == warned, err
    if warned:
        assert "heap is %d KB" % (answer[0] // 1024) in err and "needs about %d KB on a %d-bit" \
            % (need, 64 if answer[1] else 32) in err, err
