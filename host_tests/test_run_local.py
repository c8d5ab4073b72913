"""`make run`: the node on the unix board announces itself on a real broker.

Runs tools/run_local.py exactly as `make run` does (only the port differs, so the
test does not fight over 1883), watches the status topic with an independent
paho-mqtt subscriber, then presses Ctrl-C and expects `offline`.
"""

import os
import queue
import signal
import socket
import subprocess
import sys
import time

import pytest

from broker import free_port

paho_client = pytest.importorskip("paho.mqtt.client")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def watch(broker, topic):
    """A paho-mqtt v5 subscriber putting (topic, payload, retain) on a queue."""
    q = queue.Queue()
    c = paho_client.Client(paho_client.CallbackAPIVersion.VERSION2,
                           protocol=paho_client.MQTTv5)
    c.on_message = lambda cl, ud, m: q.put((m.topic, bytes(m.payload), m.retain))
    c.connect(broker.host, broker.port)
    c.subscribe(topic, qos=1)
    c.loop_start()
    return c, q


def next_payload(q, timeout=20):
    return q.get(timeout=timeout)[1]


def resting_home(path):
    """FIELDNODE_HOME for a `make run` node that is at rest when Ctrl-C comes: a
    config.json with readings and stats 10 minutes apart (firmware_node.RESTING) in
    `path`. With make run's demo config, a reading falls due 2 s after boot, about
    when these tests press Ctrl-C (1 s after the node logs `online`, which it logs up
    to 1 s after the birth's ack); a Ctrl-C that lands in a task of the link closes the
    link, and the node leaves its status to the Will instead of saying `offline`
    (failed now and then, more often with 3 test workers)."""
    import json

    from firmware_node import RESTING

    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(RESTING, f)
    return str(path)


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_make_run_announces_online_then_offline(broker, runtime, tmp_path):
    device = "run-test-" + runtime
    status = "fieldnode/v1/%s/status" % device
    env = dict(os.environ, FIELDNODE_DEVICE_ID=device, FIELDNODE_HOME=resting_home(tmp_path))
    node = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tools", "run_local.py"),
         "--port", str(broker.port), "--runtime", runtime],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    sub, q = watch(broker, status)
    out = ""
    try:
        assert next_payload(q) == b"online"
        # at rest after the boot's first readings: the PyPI unix port raises Ctrl-C
        # from its signal handler, and one that lands in an allocation can hang it
        # (firmware_node.py); one in a task of the link leaves `offline` to the Will
        time.sleep(1)
        # Ctrl-C in a terminal signals the whole foreground process group.
        os.killpg(node.pid, signal.SIGINT)
        assert next_payload(q) == b"offline"
        out, _ = node.communicate(timeout=20)
    finally:
        sub.loop_stop()
        sub.disconnect()
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGKILL)
            out = node.communicate()[0]
        print("node output:\n" + out)
    assert "using the broker already listening" in out
    assert "connected to mqtt://127.0.0.1:%d" % broker.port in out
    # The retained status is the last word: a late subscriber sees `offline`.
    late, q2 = watch(broker, status)
    try:
        topic, payload, retain = q2.get(timeout=10)
        assert (payload, retain) == (b"offline", True)
    finally:
        late.loop_stop()
        late.disconnect()


def test_make_run_starts_a_private_broker_when_none_listens(tmp_path):
    port = free_port()
    env = dict(os.environ, FIELDNODE_DEVICE_ID="run-private",
               FIELDNODE_HOME=resting_home(tmp_path))
    node = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tools", "run_local.py"), "--port", str(port)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    lines = []
    try:
        for line in node.stdout:
            lines.append(line)
            if "online" in line:
                break
        time.sleep(1)  # at rest after the first readings (as above)
        os.killpg(node.pid, signal.SIGINT)
        lines.append(node.communicate(timeout=20)[0])
    finally:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait()
    out = "".join(lines)
    assert "started Mosquitto on 127.0.0.1:%d" % port in out, out
    # its own folder per port: runs on two ports used to share one conf and log
    log = os.path.join(ROOT, ".cache", "run-broker", str(port), "mosquitto.log")
    assert "(log: %s)" % log in out and os.path.exists(log), out
    assert "connected to mqtt://127.0.0.1:%d" % port in out, out
    assert "stopped the private Mosquitto" in out, out
    time.sleep(0.2)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()


@pytest.mark.parametrize("runtime", ["micropython"])
def test_make_run_node_comes_back_after_a_broker_restart(broker_factory, runtime, tmp_path):
    # The broker restarts empty (no persistence): the retained status is gone
    # until the node's supervisor reconnects and publishes its birth again.
    b = broker_factory()
    status = "fieldnode/v1/run-restart/status"
    node = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tools", "run_local.py"),
         "--port", str(b.port), "--runtime", runtime],
        env=dict(os.environ, FIELDNODE_DEVICE_ID="run-restart",
                 FIELDNODE_HOME=resting_home(tmp_path)), cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    out = ""
    try:
        sub, q = watch(b, status)
        assert next_payload(q) == b"online"
        sub.loop_stop()
        b.restart()
        sub, q = watch(b, status)        # a fresh subscriber on the fresh broker
        try:
            assert next_payload(q, timeout=30) == b"online"
        finally:
            sub.loop_stop()
            sub.disconnect()
    finally:
        os.killpg(node.pid, signal.SIGINT)
        try:
            out = node.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
            out = node.communicate()[0]
        print("node output:\n" + out)
    assert out.count("node: connected to") >= 2, out


def test_make_run_honours_run_seconds_and_device_id_and_never_prints_a_secret(broker, tmp_path):
    # MQTT_URL, DEVICE_ID and RUN_SECONDS as a user passes them to `make run`;
    # the config holds credentials that must not show in the live log.
    secret = "Run-S3cret-4d2e"
    with open(tmp_path / "config.json", "w") as f:
        f.write('{"username": "u", "password": "%s", "wifi_password": "%s-wifi", '
                '"sensors": {"temperature": {"interval_ms": 500}}, "stats_interval_ms": 1000}'
                % (secret, secret))
    env = dict(os.environ, MQTT_URL=broker.url, DEVICE_ID="run-secs", RUN_SECONDS="4",
               FIELDNODE_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_local.py")],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "node: run-secs starting" in out
    assert "-> state/temperature #" in out and " C (6 B" in out  # decoded readings
    assert "-> stats" in out and "4 s are up" in out
    assert "fieldnode/v1/run-secs/status offline, disconnected" in out
    assert secret not in out
    # the hint names the broker in use (before: no -h/-p, so it watched 127.0.0.1:1883)
    assert "run: watch it with: mosquitto_sub -h 127.0.0.1 -p %d -V mqttv5 -t 'fieldnode/#' " \
           "-v\n" % broker.port in out, out
    assert "or: .venv/bin/fieldnode monitor --url mqtt://127.0.0.1:%d\n" % broker.port in out


@pytest.mark.parametrize("url, says", [
    ("mqtt://127.0.0.1:abc", "expected mqtt[s]://host[:port]"),
    ("http://127.0.0.1:1883", "unsupported URL scheme: http"),
    ("mqtt://u:p@127.0.0.1:1883", "credentials do not go in the URL"),
    ("mqtts://127.0.0.1:8883", "make run speaks plain MQTT"),
])
def test_make_run_refuses_a_bad_mqtt_url_in_one_line(url, says):
    # before: a traceback (a bad port), or a node started only to fail (another scheme)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_local.py")],
                          env=dict(os.environ, MQTT_URL=url), cwd=ROOT, capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("run: MQTT_URL: ") and says in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "node" not in proc.stdout  # nothing started


def test_make_run_starts_the_node_again_after_a_reboot_command(broker, tmp_path):
    # A board comes back after `reboot`: under make run the node did not (exit 3).
    from firmware_node import ask, watch as watch_node
    peer = watch_node(broker, "run-reboot")
    env = dict(os.environ, MQTT_URL=broker.url, DEVICE_ID="run-reboot", RUN_SECONDS="12",
               FIELDNODE_HOME=str(tmp_path))
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "run_local.py")],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        status = "fieldnode/v1/run-reboot/status"
        peer.wait_messages(status, 1)
        assert ask(peer, "run-reboot", "reboot", b"r1").payload.startswith(b'{"rc": 0')
        peer.wait_messages(status, 3, timeout=20)  # offline (goodbye), then online again
        out, _ = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
        peer.stop()
    assert proc.returncode == 0, out
    assert "run: the node rebooted (status 3): starting it again" in out, out
    assert out.count("node: run-reboot starting") == 2, out
    # the restarted node says why, as a board does after machine.reset() (before:
    # power_on again)
    assert "node: run-reboot starting (board unix, reset cause power_on)" in out, out
    assert "node: run-reboot starting (board unix, reset cause hard_reset)" in out, out
    assert [m.payload for m in peer.on(status)][:3] == [b"online", b"offline", b"online"]


def _run_local(port, device, **env):
    """tools/run_local.py in a session of its own (its process group is the terminal's
    foreground one: os.killpg(SIGINT) is a Ctrl-C), its output lines on a queue."""
    import threading

    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tools", "run_local.py"), "--port", str(port)],
        env=dict(os.environ, DEVICE_ID=device, **env), cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines = queue.Queue()

    def read():
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)  # (its end)

    threading.Thread(target=read, daemon=True).start()
    return proc, lines


def _until(lines, text, out, timeout=20):
    # the lines up to the first one holding `text` go on `out`
    while True:
        line = lines.get(timeout=timeout)
        assert line is not None, "run_local ended before %r:\n%s" % (text, "".join(out))
        out.append(line)
        if text in line:
            return


def _stalled_goodbye(broker_factory, device, ctrl_cs, home):
    """`make run` against a broker that stops answering (SIGSTOP) once the node is
    online, then `ctrl_cs` Ctrl-Cs (the second once the node's goodbye is under way):
    run_local's exit status and output. The node is at rest (resting_home(home))."""
    b = broker_factory()
    proc, lines = _run_local(b.port, device, FIELDNODE_HOME=resting_home(home))
    out = []
    try:
        _until(lines, "/status online", out)
        time.sleep(1)  # at rest after the first readings (as above)
        b.proc.send_signal(signal.SIGSTOP)
        os.killpg(proc.pid, signal.SIGINT)
        _until(lines, "node: stopping: offline", out)
        if ctrl_cs == 2:
            time.sleep(0.5)  # waiting for the ack of `offline`, which will not come
            os.killpg(proc.pid, signal.SIGINT)
        while True:
            line = lines.get(timeout=30)
            if line is None:
                break
            out.append(line)
        proc.wait(timeout=10)
    finally:
        b.proc.send_signal(signal.SIGCONT)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        print("run_local output:\n" + "".join(out))
    return proc.returncode, "".join(out)


def test_make_run_passes_a_second_ctrl_c_on_to_the_node(broker_factory, tmp_path):
    # README: a second Ctrl-C cuts the goodbye short. Before, run_local ignored it and
    # the node (its own process group) never saw it: it waited out its goodbye.
    rc, out = _stalled_goodbye(broker_factory, "run-twice", 2, tmp_path)
    assert rc == 130, out
    assert "node: interrupted again: link closed, the broker publishes " \
           "fieldnode/v1/run-twice/status offline (the Will)" in out, out
    assert "offline not acknowledged" not in out and "killed" not in out, out


def test_make_run_waits_out_the_nodes_goodbye_to_a_stalled_broker(broker_factory, tmp_path):
    # The goodbye to a broker that stopped answering: 3 s for the ack of `offline`,
    # then 2 s for the DISCONNECT. Before, run_local killed the node at 5 s, just
    # before its `disconnected with the Will` (0x04, so the broker publishes it).
    rc, out = _stalled_goodbye(broker_factory, "run-stalled", 1, tmp_path)
    assert rc == 130, out
    assert "node: offline not acknowledged within 3 s" in out, out
    assert "node: disconnected with the Will (0x04): the broker publishes " \
           "fieldnode/v1/run-stalled/status offline" in out, out
    assert "killed" not in out, out


@pytest.mark.parametrize("value", ["-1", "0", "abc", "nan", "inf"])
def test_make_run_refuses_a_bad_run_seconds_in_one_line(value):
    # before: -1 started everything and exited 254, abc exited 1, nan ran for ever
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_local.py"),
                           "--port", str(free_port())],
                          env=dict(os.environ, RUN_SECONDS=value, DEVICE_ID="run-bad-secs"),
                          cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr == "run: RUN_SECONDS: expected a positive number of seconds, " \
                          "got %r\n" % value, proc.stderr
    assert proc.stdout == ""  # nothing started


@pytest.mark.parametrize("device, says", [
    ("run-bad/a", "'run-bad/a' must not contain '/'"),
    ("run-bad#", "must not contain '#'"),
    ("run-" + "x" * 61, "length 65 is out of range 1..64"),
    ("..", "cannot name its folder"),
])
def test_make_run_refuses_a_bad_device_id_in_one_line(device, says):
    # before: DEVICE_ID=a/b made .cache/run-node/a/b and a node that exited 1
    def made():  # what a node's folder would add: anything under .cache/run-node, or
        # a config in .cache itself (`..`); other test files give their nodes a
        # FIELDNODE_HOME of their own
        base = os.path.join(ROOT, ".cache", "run-node")
        return ({os.path.join(d, f) for d, dirs, files in os.walk(base) for f in dirs + files},
                os.path.exists(os.path.join(ROOT, ".cache", "config.json")))

    before = made()
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_local.py"),
                           "--port", str(free_port())],
                          env=dict(os.environ, DEVICE_ID=device), cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    after = made()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("run: DEVICE_ID: ") and says in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stdout == ""
    assert after == before, (sorted(after[0] - before[0]), after[1])
