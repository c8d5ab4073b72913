"""fieldnode deploy and the board's boot.py: a board with a watchdog gets one that
imports board, or `import board` put first in the user's own, run as MicroPython runs
it at a boot (the pty board and its fixtures: cli_board.py, conftest.py)."""

import os

import pytest

from cli_board import deploy


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
