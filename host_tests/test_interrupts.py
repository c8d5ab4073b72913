"""Interruptions: Ctrl-C (SIGINT), SIGTERM, a second Ctrl-C, as makers press them in
`make run` and as mpremote sends them to a board's node to configure it.

Each test failed on the code before its fix (the commit says how)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from firmware_node import watch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _session_pids(sid):
    # the processes still alive in session `sid` (run_local started with start_new_session)
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == sid:  # state, ..., session id
            pids.append(int(d))
    return pids


def _make_run(broker, device):
    return subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tools", "run_local.py"), "--port", str(broker.port)],
        env=dict(os.environ, FIELDNODE_DEVICE_ID=device), cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _until(proc, text):
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if text in line:
            return lines
    raise AssertionError("never printed %r:\n%s" % (text, "".join(lines)))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_make_run_stopped_by_a_signal_stops_its_node_which_says_offline(broker, sig):
    # `kill PID`, a closed terminal, a process manager: run_local.py died at once and
    # its node lived on, connected and `online`, reconnecting for ever (no handler)
    device = "intr-term-%d" % sig
    peer = watch(broker, device)
    run = _make_run(broker, device)
    out = []
    try:
        out += _until(run, "/status online")
        os.kill(run.pid, sig)  # run_local only, as `kill` does
        try:
            run.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.5)
        left = _session_pids(run.pid)
        assert run.poll() is not None and not left, "still running: %s" % left
        out.append(run.stdout.read())
        assert run.returncode == 128 + sig, "".join(out)
        text = "".join(out)
        topic = "fieldnode/v1/%s/status" % device
        assert [bytes(m.payload) for m in peer.wait_messages(topic, 2)] == [
            b"online", b"offline"], text
        assert "status offline, disconnected" in text and "Traceback" not in text, text
    finally:
        if _session_pids(run.pid):
            os.killpg(run.pid, signal.SIGKILL)
        run.wait()
        peer.stop()


def test_make_run_second_ctrl_c_is_no_traceback_and_leaves_nothing_running(broker):
    # Ctrl-C twice (the terminal signals the whole process group): run_local.py ended
    # in a KeyboardInterrupt traceback from its cleanup
    device = "intr-twice"
    run = _make_run(broker, device)
    out = []
    try:
        out += _until(run, "/status online")
        os.killpg(run.pid, signal.SIGINT)
        time.sleep(0.005)
        os.killpg(run.pid, signal.SIGINT)
        out.append(run.communicate(timeout=30)[0])
        time.sleep(0.5)
        assert not _session_pids(run.pid)
    finally:
        if _session_pids(run.pid):
            os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    text = "".join(out)
    assert run.returncode == 130, text
    assert "run: interrupted (Ctrl-C)" in text, text
    assert 'run_local.py", line' not in text, text  # no traceback of run_local's own

