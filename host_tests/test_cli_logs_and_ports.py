"""fieldnode logs, and the serial port under every command that opens one: missing,
busy, not a serial port, silent or chatty without a REPL, a board that keeps printing,
a node whose goodbye holds the REPL back (the pty board and its fixtures: cli_board.py,
conftest.py)."""

import contextlib
import json
import os
import shutil
import signal
import threading
import time

import pytest
import serial

from cli_board import bundle_files, deploy
from fieldnode_cli import fieldnode
from serial_device import SerialDevice


def test_serial_port_errors(device, bundle, tmp_path):
    r = deploy(device, tmp_path / "nowhere")
    assert r.returncode == 1 and "no build in" in r.stderr
    missing = tmp_path / "ttyUSB7"
    r = fieldnode("deploy", "--board", "unix", "--port", missing, "--build-dir", bundle)
    assert r.returncode == 1
    assert r.stderr == "fieldnode deploy: serial port %s not found (is the board plugged in?)\n" % missing
    holder = serial.Serial(device.port, exclusive=True)
    try:
        for argv in (["deploy", "--board", "unix", "--build-dir", bundle], ["config", "show"],
                     ["logs", "--duration", "1"]):
            r = fieldnode(*argv, "--port", device.port)
            assert r.returncode == 1, argv
            assert "serial port %s is busy" % device.port in r.stderr, r.stderr
            assert len(r.stderr.strip().splitlines()) == 1
    finally:
        holder.close()


@pytest.mark.parametrize("talk", ["silent", "chatty"])
def test_no_repl_answering(tmp_path, talk):
    """A port where nothing answers, or a device that sends without pause and never
    a REPL (a GPS, say): one line within seconds. mpremote's own deadline counts only
    while the port is silent, so the chatty one hung the CLI for ever."""
    master, slave = os.openpty()
    stop = threading.Event()

    def chatter():  # what the device sends; what the CLI writes is read and dropped
        os.set_blocking(master, False)
        while not stop.is_set():
            with contextlib.suppress(BlockingIOError):
                os.write(master, b"$GPGGA,123519,4807.038,N,01131.000,E,1,08*47\r\n" * 8)
            with contextlib.suppress(BlockingIOError):
                os.read(master, 4096)
            time.sleep(0.001)

    th = threading.Thread(target=chatter, daemon=True)
    if talk == "chatty":
        th.start()
    try:
        port = os.ttyname(slave)
        t0 = time.monotonic()
        r = fieldnode("config", "show", "--port", port, timeout=60)
        assert r.returncode == 1 and time.monotonic() - t0 < 30
        assert r.stderr == ("fieldnode config: no MicroPython REPL answering on %s (wrong port, "
                            "or the running program ignores Ctrl-C?)\n" % port)
    finally:
        stop.set()
        if th.is_alive():
            th.join()
        os.close(master)
        os.close(slave)


def test_logs_streams_the_running_node(tmp_path, bundle, broker):
    fs = tmp_path / "board"
    shutil.copytree(bundle, fs)
    (fs / "conf").mkdir()
    (fs / "conf" / "config.json").write_text(
        json.dumps({"sensors": {"temperature": {"interval_ms": 300}}}))
    env = {"FIELDNODE_BROKER": broker.url, "FIELDNODE_DEVICE_ID": "logs-node",
           "FIELDNODE_HOME": "conf"}
    with SerialDevice(fs, script="main.py", env=env) as dev:
        r = fieldnode("logs", "--port", dev.port, "--duration", 4)
        assert r.returncode == 0, r.stderr
        assert "-> state/temperature #" in r.stdout
        assert dev.alive()          # streaming did not interrupt the program


def test_logs_exits_1_when_the_board_goes_away():
    """It said so and exited 0: a script could not tell an unplugged board from the end
    of --duration."""
    import select
    import subprocess

    from runtimes import tool

    master, slave = os.openpty()
    tty = os.ttyname(slave)
    proc = subprocess.Popen([tool("fieldnode"), "logs", "--port", tty, "--duration", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    deadline = time.monotonic() + 30
    while b"hello" not in seen and time.monotonic() < deadline:
        os.write(master, b"hello\r\n")
        if select.select([proc.stdout], [], [], 0.3)[0]:
            seen += os.read(proc.stdout.fileno(), 4096)
    os.close(master)  # the board goes away
    os.close(slave)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert err == ("fieldnode logs: %s closed: the board went away (unplugged, or its port "
                   "closed)\n" % tty).encode()


def test_logs_ctrl_c_exits_130(tmp_path):
    """logs swallowed Ctrl-C and exited 0."""
    import select
    import signal
    import subprocess

    from runtimes import tool

    master, slave = os.openpty()
    try:
        proc = subprocess.Popen([tool("fieldnode"), "logs", "--port", os.ttyname(slave)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        seen = b""
        deadline = time.monotonic() + 30
        while b"hello from the node" not in seen and time.monotonic() < deadline:
            os.write(master, b"hello from the node\r\n")      # until logs streams it
            if select.select([proc.stdout], [], [], 0.3)[0]:
                seen += os.read(proc.stdout.fileno(), 4096)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        os.close(master)
        os.close(slave)
    assert b"hello from the node" in seen
    assert proc.returncode == 130, err
    assert err == b"fieldnode logs: interrupted\n"


def test_logs_to_a_full_disk_is_one_line():
    import subprocess

    from runtimes import tool

    master, slave = os.openpty()
    tty = os.ttyname(slave)
    try:
        with open("/dev/full", "w") as full:
            proc = subprocess.Popen([tool("fieldnode"), "logs", "--port", tty, "--duration",
                                     "30"], stdout=full, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            os.write(master, b"hello\r\n")
            time.sleep(0.2)
        err = proc.communicate(timeout=30)[1]
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 1
    assert err == "fieldnode logs: cannot write the output: No space left on device\n"


def test_config_waits_for_the_nodes_goodbye_to_a_broker_that_stopped_answering(
        tmp_path, bundle, broker_factory):
    # Ctrl-C stops the node, which says goodbye: `offline` (3 s for its ack at most),
    # then DISCONNECT (2 s at most). A broker that stopped answering (a dead link not yet
    # noticed) makes that 5 s, and the CLI gave up at 5 s: "no MicroPython REPL
    # answering" (exit 1), though the REPL came 0.2 s later.
    b = broker_factory()
    fs = tmp_path / "board"
    shutil.copytree(bundle, fs)
    (fs / "conf").mkdir()
    env = {"FIELDNODE_BROKER": b.url, "FIELDNODE_DEVICE_ID": "goodbye-node",
           "FIELDNODE_HOME": "conf"}
    from firmware_node import watch

    peer = watch(b, "goodbye-node")
    with SerialDevice(fs, script="-i main.py", env=env, ctrl_c=True) as dev:
        try:
            assert peer.wait_messages("fieldnode/v1/goodbye-node/status", 1)[0].payload \
                == b"online"
        finally:
            peer.stop()
        os.kill(b.proc.pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            r = fieldnode("config", "get", "keepalive", "--port", dev.port, timeout=60)
            took = time.monotonic() - t0
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "30", r.stdout  # (the default)
        assert took > 4, took  # (it did wait for the goodbye: the broker was paused)


@pytest.mark.timeout(60)
def test_a_board_that_keeps_printing_ends_a_step_at_its_deadline(node_device, bundle, tmp_path,
                                                                 monkeypatch, capsys):
    """Only entering the REPL had a time limit: a board that reset and runs its program,
    printing every half second, held `config` (or a deploy) for ever, as mpremote's own
    timeouts count only while the port is silent. Each step on the device has
    OP_TIMEOUT_S now (2 s here), and a deploy's long writes get it per chunk."""
    from fieldnode import CliError, configure, deploy, device

    monkeypatch.setattr(device, "OP_TIMEOUT_S", 2)
    dev = node_device
    (dev.fs / "lib" / "board.mpy").unlink()   # the config script imports board: it never ends
    (dev.fs / "lib" / "board.py").write_text(
        "import time\nwhile True:\n    print('node: still here')\n    time.sleep(0.5)\n")
    t0 = time.monotonic()
    with pytest.raises(CliError) as e:
        with device.Device(dev.port) as d:
            configure.read(d)
    assert time.monotonic() - t0 < 15
    assert str(e.value) == (
        "the device on %s did not finish within 2 s: it keeps sending (did the board reset, "
        "and its program runs and prints?); it may be half done, run it again" % dev.port)
    # a deploy of the whole bundle takes longer than 2 s, its steps do not: on the
    # tool's clock each step that ends moves it on by 1.5 s (no wall-clock figure: a
    # fast run of the real deploy took under 2 s, and proved nothing)
    from mpremote.transport_serial import SerialTransport

    skew = [0.0]

    class Clock:  # device.py's `time`, its monotonic() skewed
        def __getattr__(self, name):
            return getattr(time, name)

        def monotonic(self):
            return time.monotonic() + skew[0]

    real_exec = SerialTransport.exec

    def exec_then_later(self, *args, **kwargs):
        try:
            return real_exec(self, *args, **kwargs)
        finally:
            skew[0] += 1.5

    monkeypatch.setattr(device, "time", Clock())
    monkeypatch.setattr(SerialTransport, "exec", exec_then_later)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with SerialDevice(fresh) as board:
        t0 = device.time.monotonic()
        assert deploy.deploy("unix", board.port, str(bundle), reset=False) == (
            len(bundle_files(bundle)), 0)
        assert device.time.monotonic() - t0 > 2 * 2, skew  # (at least 3 steps)
        assert bundle_files(fresh) == bundle_files(bundle)


def test_a_port_that_is_not_a_serial_port_says_so(tmp_path):
    """/dev/null, a regular file or a directory as --port: "cannot open serial port ...:
    Could not configure port: (25, 'Inappropriate ioctl for device')" and the like."""
    plain = tmp_path / "plain"
    plain.write_text("x")
    for port, what in [("/dev/null", "a device that is not a terminal"),
                       (plain, "a regular file"), (tmp_path, "a directory")]:
        for argv in (["config", "show"], ["logs", "--duration", "1"]):
            r = fieldnode(*argv, "--port", port)
            assert (r.returncode, r.stderr) == (2, "fieldnode %s: %s is not a serial port (%s)\n"
                                                % (argv[0], port, what))
