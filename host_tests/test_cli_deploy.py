"""fieldnode deploy against the MicroPython unix port on a pty (socat), through the real
mpremote: the "board's" filesystem is the micropython process's cwd. What a deploy copies
(the real mpremote's mip install too), its soft reset, its default build dir and a closed
output (the pty board and its fixtures: cli_board.py, conftest.py). What it checks of the
board: test_cli_deploy_target.py; which files go and are removed:
test_cli_deploy_files.py; boot.py: test_cli_deploy_boot.py."""

import filecmp
import os
import shutil

import pytest

from cli_board import bundle_files, counts, deploy
from fieldnode_cli import fieldnode


def test_mpremote_mip_installs_the_bundle_from_its_package_json(device, bundle):
    """The README's `mpremote mip install build/<board>/package.json`: the real mpremote
    copies every module the package.json names (relative URLs) onto the board."""
    import subprocess

    from runtimes import tool

    # `resume`: no soft reset first (the unix port exits on one); --target: the pty
    # board's lib/ (the unix port's own default is ~/.micropython/lib)
    r = subprocess.run([tool("mpremote"), "connect", device.port, "resume", "mip", "install",
                        "--target", "lib", str(bundle / "package.json")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    mpys = [f for f in bundle_files(bundle) if f.endswith(".mpy")]
    assert mpys and sorted(str(p.relative_to(device.fs)) for p in device.fs.rglob("*.mpy")) == mpys
    for f in mpys:
        assert filecmp.cmp(bundle / f, device.fs / f, shallow=False), f


def test_deploy_copies_only_what_changed(device, bundle, tmp_path):
    files = bundle_files(bundle)
    r = deploy(device, bundle)
    assert r.returncode == 0, r.stderr
    assert counts(r.stdout) == (len(files), len(files), 0)
    assert bundle_files(device.fs) == files
    for f in files:
        assert filecmp.cmp(bundle / f, device.fs / f, shallow=False), f
    assert "[%d/%d] lib/" % (len(files), len(files)) in r.stderr     # progress per file
    assert "warning" not in r.stderr          # the unix port's heap is the default 2 MiB
    assert not list(device.fs.rglob("*.tmp"))

    r = deploy(device, bundle)
    assert r.returncode == 0 and counts(r.stdout) == (len(files), 0, len(files))

    changed = tmp_path / "changed"
    shutil.copytree(bundle, changed)
    (changed / "main.py").write_text("import fieldnode_main  # v2\n")
    (device.fs / "lib" / "payload.mpy").write_bytes(b"damaged")      # the device's copy differs
    r = deploy(device, changed)
    assert r.returncode == 0 and counts(r.stdout) == (len(files), 2, len(files) - 2)
    assert (device.fs / "main.py").read_text() == "import fieldnode_main  # v2\n"
    assert filecmp.cmp(bundle / "lib/payload.mpy", device.fs / "lib/payload.mpy", shallow=False)
    assert device.alive()


def test_deploy_soft_reset_restarts_the_unix_port(device, bundle):
    # on a board Ctrl-D soft-resets and runs main.py; the unix port's REPL exits on it
    r = fieldnode("deploy", "--board", "unix", "--port", device.port, "--build-dir", bundle)
    assert r.returncode == 0, r.stderr
    assert "deploy: soft reset" in r.stdout
    device.proc.wait(timeout=10)


def test_deploy_names_the_default_build_dir_in_full(tmp_path, monkeypatch):
    """Run from elsewhere, it said "no build in ../../work/main/build/unix"."""
    from fieldnode import CliError, deploy

    monkeypatch.setattr(deploy, "ROOT", str(tmp_path / "repo"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CliError) as e:
        deploy.deploy("unix", "/nonexistent/tty")
    assert str(e.value) == ("no build in %s: run `fieldnode build --board unix` first"
                            % (tmp_path / "repo" / "build" / "unix"))


def test_deploy_with_its_output_closed_does_not_report_success(device, bundle):
    """`except BrokenPipeError: return 0`: a deploy whose stdout pipe closed stopped
    half-way and exited 0."""
    import subprocess

    from runtimes import tool

    read_end, write_end = os.pipe()
    os.close(read_end)                              # like `| head` that has exited
    try:
        r = subprocess.run([tool("fieldnode"), "deploy", "--board", "unix", "--port", device.port,
                            "--build-dir", str(bundle), "--no-reset"], stdout=write_end,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert r.returncode == 1
    assert r.stderr == ("fieldnode deploy: output closed (broken pipe), stopped before the end: "
                        "it may be half done, run it again\n")
    assert device.alive()
