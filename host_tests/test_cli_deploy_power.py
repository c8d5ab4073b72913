"""A deploy cut by a power loss while the board renames its files (the pty board and its
fixtures: cli_board.py, conftest.py): the board's next boot finishes the renames, or the
next deploy sends what differs, and the bundle is whole either way."""

import os
import shutil
import subprocess

import pytest

from cli_board import bundle_files, counts, deploy
from runtimes import tool


def variant(bundle, out, text):
    """A copy of `bundle` whose package.json also lists lib/x1..x4, holding `text`."""
    import json

    shutil.copytree(bundle, out)
    pkg = json.loads((out / "package.json").read_text())
    for i in range(1, 5):
        (out / "lib" / ("x%d.py" % i)).write_text("VERSION = %r\n" % text)
        pkg["urls"].append(["x%d.py" % i, "lib/x%d.py" % i])
    (out / "package.json").write_text(json.dumps(pkg))
    return out


def cut_deploy(device, build_dir, renames, monkeypatch):
    """deploy (in this process) whose board loses power after `renames` of the bundle's
    renames: the script that does them stops there, the files as they are."""
    from fieldnode import CliError
    import fieldnode.deploy as dep
    import fieldnode.device as dev

    real = dev.Device.exec

    def exec_cut(self, code):
        if "os.rename(" in code and "lib/x1.py" in code:  # the bundle's renames
            code = ("import os\n_k = [%d]\ndef _rn(a, b):\n    if not _k[0]:\n"
                    "        raise OSError('power lost')\n    _k[0] -= 1\n    os.rename(a, b)\n"
                    % renames + code.replace("os.rename(", "_rn("))
        return real(self, code)

    monkeypatch.setattr(dev.Device, "exec", exec_cut)
    with pytest.raises(CliError):
        dep.deploy("unix", device.port, build_dir=str(build_dir), reset=False)
    monkeypatch.setattr(dev.Device, "exec", real)


def versions(fs):
    return [(fs / "lib" / ("x%d.py" % i)).read_text() for i in range(1, 5)]


def test_power_lost_while_the_board_renames_is_finished_by_its_next_boot(device, bundle,
                                                                         tmp_path, monkeypatch):
    """Some files renamed, some not: the node ran a mix of two bundles (an ImportError of
    a name only the new module has), until a deploy came again."""
    old = variant(bundle, tmp_path / "old", "old")
    new = variant(bundle, tmp_path / "new", "new")
    launcher = (bundle / "main.py").read_bytes()
    for renames in (1, 3, 5):  # main.py the finisher; then 2 and all 4 of the files
        r = deploy(device, old)
        assert r.returncode == 0, r.stdout + r.stderr
        assert versions(device.fs) == ["VERSION = 'old'\n"] * 4
        cut_deploy(device, new, renames, monkeypatch)
        got = versions(device.fs)
        assert got == ["VERSION = 'new'\n"] * (renames - 1) + ["VERSION = 'old'\n"] * (
            5 - renames), (renames, got)  # (x1..x4 in bundle order: lib/ after main.py)
        assert (device.fs / "main.py").read_bytes().startswith(b"# fieldnode: finishing")
        # the board's next boot: main.py is the finisher
        p = subprocess.run([tool("micropython"), "main.py"], cwd=device.fs, timeout=30,
                           env=dict(os.environ, MICROPYPATH=".frozen:lib"),
                           capture_output=True, text=True)
        assert "Traceback" not in p.stdout + p.stderr, p.stdout + p.stderr
        assert versions(device.fs) == ["VERSION = 'new'\n"] * 4, renames
        assert (device.fs / "main.py").read_bytes() == launcher
        assert bundle_files(device.fs) == bundle_files(new)   # no temp copy left
        for f in bundle_files(new):
            assert (device.fs / f).read_bytes() == (new / f).read_bytes(), f


def test_power_lost_while_the_board_renames_is_mended_by_the_next_deploy(device, bundle,
                                                                         tmp_path, monkeypatch):
    """The next deploy before any boot: the finisher in main.py's place is Fieldnode's
    (not a main.py of the user's, kept unless --replace-main), and what differs goes."""
    old = variant(bundle, tmp_path / "old", "old")
    new = variant(bundle, tmp_path / "new", "new")
    assert deploy(device, old).returncode == 0
    cut_deploy(device, new, 3, monkeypatch)
    r = deploy(device, new)  # the cut bundle's renames finished first: nothing differs
    assert r.returncode == 0, r.stdout + r.stderr
    assert "finished the renames of a deploy that a power loss cut short" in r.stdout
    assert counts(r.stdout)[1] == 0, r.stdout
    assert versions(device.fs) == ["VERSION = 'new'\n"] * 4
    assert bundle_files(device.fs) == bundle_files(new)
    assert not (device.fs / "main.py.bak").exists()
    # and the old bundle over a cut new one: its renames finished, then what differs goes
    cut_deploy(device, old, 3, monkeypatch)
    r = deploy(device, new)
    assert r.returncode == 0 and counts(r.stdout)[1] == 4, r.stdout + r.stderr  # x1..x4
    assert versions(device.fs) == ["VERSION = 'new'\n"] * 4


def test_a_finisher_without_its_launcher_copy_stops_rather_than_reset_for_ever(device, bundle,
                                                                               tmp_path,
                                                                               monkeypatch):
    new = variant(bundle, tmp_path / "new", "new")
    assert deploy(device, variant(bundle, tmp_path / "old", "old")).returncode == 0
    cut_deploy(device, new, 3, monkeypatch)
    (device.fs / "main.py.tmp").unlink()
    p = subprocess.run([tool("micropython"), "main.py"], cwd=device.fs, timeout=30,
                       env=dict(os.environ, MICROPYPATH=".frozen:lib"),
                       capture_output=True, text=True)
    assert p.returncode != 0 and "OSError" in p.stdout + p.stderr, (p.stdout, p.stderr)
    assert versions(device.fs) == ["VERSION = 'new'\n"] * 4  # the rest renamed
    assert deploy(device, new).returncode == 0  # and a deploy mends it
    assert (device.fs / "main.py").read_bytes() == (bundle / "main.py").read_bytes()
