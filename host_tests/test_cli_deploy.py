"""fieldnode deploy against the MicroPython unix port on a pty (socat), through the real
mpremote: the "board's" filesystem is the micropython process's cwd. What a deploy copies,
refuses, warns of and removes (the pty board and its fixtures: cli_board.py, conftest.py)."""

import filecmp
import json
import os
import re
import shutil

import pytest

from cli_board import LISTING, bundle_files, deploy
from fieldnode_cli import fieldnode
from serial_device import SerialDevice


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


def counts(out):
    m = re.search(r"deploy: (\d+) files, (\d+) changed, (\d+) unchanged", out)
    return tuple(int(x) for x in m.groups())


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


def board_tree(device):
    return sorted(str(p.relative_to(device.fs)) for p in device.fs.rglob("*") if p.name != "tty")


def test_deploy_sends_only_a_fieldnode_build_for_the_board(device, bundle, tmp_path):
    """A random folder (its notes.txt went to the board) and an esp32 bundle deployed with
    --board unix were copied; only main.py and what package.json lists go now."""
    assert json.loads((bundle / "package.json").read_text())["board"] == "unix"
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("shopping list\n")
    esp = tmp_path / "esp32"
    assert fieldnode("build", "--board", "esp32", "--out", esp).returncode == 0
    older = tmp_path / "older"                      # a build from before "board" was written
    shutil.copytree(bundle, older)
    pkg = json.loads((older / "package.json").read_text())
    del pkg["board"]
    (older / "package.json").write_text(json.dumps(pkg))
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    (broken / "lib" / "payload.mpy").unlink()
    again = "run `fieldnode build --board unix` (--out DIR) again; nothing written"
    for build_dir, why in [
            (notes, "not a fieldnode build (no main.py launcher with a package.json): run "
                    "`fieldnode build --board unix` first; nothing written"),
            (esp, "a build for esp32, not unix (wrong --board or --build-dir?); nothing written"),
            (older, "its package.json names no board (an older build): " + again),
            (broken, "lib/payload.mpy is missing (an incomplete build): " + again)]:
        r = deploy(device, build_dir)
        assert r.returncode == 1 and r.stderr == "fieldnode deploy: %s: %s\n" % (build_dir, why)
    assert board_tree(device) == []

    extra = tmp_path / "extra"                      # files beside a build stay on the host
    shutil.copytree(bundle, extra)
    (extra / "notes.txt").write_text("not for the board\n")
    (extra / "lib" / "scratch.py").write_text("x = 1\n")
    r = deploy(device, extra)
    assert r.returncode == 0, r.stderr
    assert bundle_files(device.fs) == bundle_files(bundle)
    assert device.alive()


def with_modules(bundle, out, names):
    """A copy of `bundle` whose package.json also lists lib/<name> for each of `names`."""
    shutil.copytree(bundle, out)
    pkg = json.loads((out / "package.json").read_text())
    for name in names:
        (out / "lib" / name).parent.mkdir(parents=True, exist_ok=True)
        (out / "lib" / name).write_bytes(b"M\x06 " + name.encode())
        pkg["urls"].append([name, "lib/" + name])
    (out / "package.json").write_text(json.dumps(pkg))
    return out


def listing(device):
    return json.loads((device.fs / LISTING).read_text())


def test_deploy_removes_what_an_earlier_bundle_had_and_this_one_lacks(device, bundle,
                                                                      tmp_path):
    """A module an older bundle had stayed on the board for ever: a package dropped or
    made a module kept its directory, which shadows the new module on import. The
    board's fieldnode_files.json lists what deploys put there: the next deploy removes
    what the new bundle lacks, and the directories that leaves empty; a file of the
    user's own is left alone."""
    lib = [f for f in bundle_files(bundle) if f.startswith("lib/")]
    older = with_modules(bundle, tmp_path / "older", ["gone.mpy", "oldpkg/__init__.mpy",
                                                      "oldpkg/sub/x.mpy"])
    r = deploy(device, older)
    assert r.returncode == 0, r.stderr
    old_lib = sorted(lib + ["lib/gone.mpy", "lib/oldpkg/__init__.mpy", "lib/oldpkg/sub/x.mpy"])
    assert listing(device) == old_lib and "removed" not in r.stdout
    (device.fs / "lib" / "mine.py").write_text("x = 1\n")       # the user's own
    (device.fs / "lib" / "oldpkg" / "notes.txt").write_text("kept\n")

    r = deploy(device, bundle)
    assert r.returncode == 0, r.stderr
    assert ("deploy: removed 3 files an earlier deploy put there that this bundle does not "
            "have: lib/gone.mpy, lib/oldpkg/__init__.mpy, lib/oldpkg/sub/x.mpy\n") in r.stdout
    assert bundle_files(device.fs) == sorted(bundle_files(bundle)
                                             + ["lib/mine.py", "lib/oldpkg/notes.txt"])
    assert not (device.fs / "lib" / "oldpkg" / "sub").exists()     # left empty: removed
    assert listing(device) == lib

    (device.fs / "lib" / "oldpkg" / "notes.txt").unlink()
    r = deploy(device, older)                       # and back: nothing of ours removed
    assert r.returncode == 0 and "removed" not in r.stdout, r.stdout
    assert listing(device) == old_lib
    r = deploy(device, bundle)
    assert r.returncode == 0 and "removed 3 files" in r.stdout, r.stdout
    assert not (device.fs / "lib" / "oldpkg").exists()
    assert (device.fs / "lib" / "mine.py").exists()

    (device.fs / LISTING).write_text("{not json")  # a damaged list: nothing removed
    r = deploy(device, older)
    assert r.returncode == 0 and "removed" not in r.stdout, r.stdout
    assert listing(device) == old_lib
    assert device.alive()


def test_deploy_keeps_a_main_py_that_is_not_the_launcher(device, bundle):
    """A board's own main.py was silently overwritten: refused (nothing written) unless
    --replace-main, which keeps it as main.py.bak."""
    (device.fs / "main.py").write_text("import my_app\nmy_app.run()\n")
    r = deploy(device, bundle)
    assert r.returncode == 1
    assert r.stderr == ("fieldnode deploy: the board's main.py is not Fieldnode's launcher (it "
                        "starts 'import my_app'): --replace-main replaces it, keeping it as "
                        "main.py.bak; nothing written\n")
    assert board_tree(device) == ["main.py"]
    r = fieldnode("deploy", "--board", "unix", "--port", device.port, "--build-dir", bundle,
                  "--no-reset", "--replace-main")
    assert r.returncode == 0, r.stderr
    assert "deploy: the board's main.py kept as main.py.bak" in r.stdout
    assert (device.fs / "main.py.bak").read_text() == "import my_app\nmy_app.run()\n"
    assert (device.fs / "main.py").read_text() == "import fieldnode_main\n"
    # the launcher (a comment added by hand too) is Fieldnode's: deployed over without a word
    (device.fs / "main.py").write_text("import fieldnode_main  # mine\n")
    r = deploy(device, bundle)
    assert r.returncode == 0 and counts(r.stdout)[1] == 1, r.stderr
    assert "main.py.bak" not in r.stdout


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


def test_deploy_reads_deeply_nested_json_as_damaged(device, bundle, tmp_path):
    """A board's fieldnode_files.json (or a build's package.json) nested deeper than
    Python's json goes was a RecursionError traceback: now a damaged list (nothing
    removed) and "not a fieldnode build", as for any JSON that does not parse."""
    deep = "[" * 5000 + "]" * 5000
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    (broken / "package.json").write_text(deep)
    r = deploy(device, broken)
    assert r.returncode == 1 and r.stderr == (
        "fieldnode deploy: %s: not a fieldnode build (no main.py launcher with a package.json): "
        "run `fieldnode build --board unix` first; nothing written\n" % broken), r.stderr
    (device.fs / LISTING).write_text(deep)
    r = deploy(device, bundle)
    assert r.returncode == 0 and "removed" not in r.stdout, r.stderr
    assert listing(device) == [f for f in bundle_files(bundle) if f.startswith("lib/")]


@pytest.fixture
def watchdog_deploy(monkeypatch, capsys):
    """A deploy (in-process, no reset) to the pty board described as a board with a
    watchdog, as the Pico W's and the ESP32's board.json are: the unix board has none
    (its port runs no boot.py), so it gets no boot.py. Returns what deploy printed."""
    from fieldnode import boards
    from fieldnode import deploy as deploy_module

    load = boards.load
    monkeypatch.setattr(boards, "load", lambda name: dict(
        load(name), features=load(name)["features"] + ["watchdog"]))

    def run(device, build_dir):
        capsys.readouterr()
        deploy_module.deploy("unix", device.port, str(build_dir), reset=False)
        return capsys.readouterr().out
    return run


def run_boot_py(device):
    """Run the board's boot.py as MicroPython does at a boot (its own process, the
    board's lib/ on the path); its exit code and output."""
    import subprocess

    from runtimes import tool

    r = subprocess.run([tool("micropython"), "boot.py"], cwd=device.fs, capture_output=True,
                       text=True, timeout=30, env=dict(os.environ, MICROPYPATH=".frozen:lib"))
    return r.returncode, r.stdout + r.stderr


def test_deploy_gives_a_board_without_boot_py_one_that_imports_board(device, bundle,
                                                                     watchdog_deploy):
    """On a stock MicroPython nothing imported `board` at a raw-REPL soft reset (mpremote's
    cp, fs, exec, mount), so a watchdog left running went unfed: the README told the
    user to write a boot.py by hand. Deploy writes it now, on a board with a watchdog."""
    assert deploy(device, bundle).returncode == 0          # the unix board: none
    assert not (device.fs / "boot.py").exists()
    out = watchdog_deploy(device, bundle)
    assert "deploy: boot.py written: it imports board at every boot and soft reset" in out, out
    assert b"\n    import board\n" in (device.fs / "boot.py").read_bytes()
    from fieldnode.deploy import BOOT_IMPORT
    assert (device.fs / "boot.py").read_bytes() == BOOT_IMPORT
    assert run_boot_py(device) == (0, "")                  # board imports, nothing said
    out = watchdog_deploy(device, bundle)                  # once is enough
    assert "boot.py" not in out and (device.fs / "boot.py").read_bytes() == BOOT_IMPORT
    assert device.alive()


def test_deploy_puts_import_board_first_in_the_users_boot_py(device, bundle, watchdog_deploy):
    """A boot.py of the user's (the ESP32's stock one is comments only) keeps every byte
    after the guarded `import board`; a board module that fails to import is printed and
    the user's lines still run (an exception in boot.py would skip the rest of it, and
    main.py); a second deploy adds nothing."""
    mine = (b"# This file is executed on every boot (including wake-boot from deepsleep)\r\n"
            b"#import board\r\n#import webrepl\r\n#webrepl.start()\r\n"
            b"open('USER_RAN', 'w').close()")          # CRLF, no newline at the end
    (device.fs / "boot.py").write_bytes(mine)
    out = watchdog_deploy(device, bundle)
    assert "deploy: `import board` put first in the board's boot.py, its 5 lines kept " \
        "after it" in out, out
    boot = (device.fs / "boot.py").read_bytes()
    assert boot.endswith(mine) and boot.startswith(b"try:") \
        and boot.count(b"\n    import board\n") == 1
    from fieldnode.deploy import BOOT_IMPORT
    assert boot == BOOT_IMPORT + mine
    assert run_boot_py(device) == (0, "") and (device.fs / "USER_RAN").exists()

    (device.fs / "USER_RAN").unlink()
    (device.fs / "lib" / "board.mpy").write_bytes(b"M\x05\x00\x1f\x00\x00")   # damaged
    code, said = run_boot_py(device)
    assert code == 0 and said.startswith("boot.py: import board failed: ValueError("), said
    assert (device.fs / "USER_RAN").exists()

    out = watchdog_deploy(device, bundle)              # repairs board.mpy, boot.py kept
    assert "1 changed" in out and "boot.py" not in out, out
    assert (device.fs / "boot.py").read_bytes() == BOOT_IMPORT + mine
    (device.fs / "boot.py").write_text("import board  # mine, first\nprint('hello')\n")
    out = watchdog_deploy(device, bundle)              # the user's own import: left alone
    assert "boot.py" not in out, out
    assert (device.fs / "boot.py").read_text() == "import board  # mine, first\nprint('hello')\n"
    assert device.alive()
