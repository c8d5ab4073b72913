"""fieldnode monitor and cmd end to end: the firmware built by `fieldnode build --board unix`
(.mpy only) runs under the MicroPython unix port against a real Mosquitto. Monitor and
cmd without a node: test_cli_monitor.py, test_cli_broker.py."""

import json
import os
import subprocess
import time
import uuid

import pytest

from fieldnode_cli import fieldnode
from runtimes import tool


@pytest.fixture(scope="module")
def node(tmp_path_factory, broker):
    """The unix board running build/unix's main.py with only the bundle's lib/ on its path."""
    out = tmp_path_factory.mktemp("build") / "unix"
    r = fieldnode("build", "--board", "unix", "--out", out)
    assert r.returncode == 0, r.stderr
    code = [str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()]
    # the only source is the one-line launcher: every module is .mpy
    assert sorted(f for f in code if not f.endswith(".mpy")) == ["main.py", "package.json"]
    assert (out / "main.py").read_text() == "import fieldnode_main\n"
    home = tmp_path_factory.mktemp("home")
    (home / "config.json").write_text(json.dumps(
        {"stats_interval_ms": 1000, "sensors": {"temperature": {"interval_ms": 500}}}))
    device_id = "cli-" + uuid.uuid4().hex[:6]
    env = dict(os.environ, MICROPYPATH=".frozen:lib", FIELDNODE_BROKER=broker.url,
               FIELDNODE_DEVICE_ID=device_id, FIELDNODE_HOME=str(home))
    log = open(home / "node.log", "w")
    proc = subprocess.Popen([tool("micropython"), "main.py"], cwd=out, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    # online first: a monitor that subscribes sooner sees the birth live, not retained
    deadline = time.monotonic() + 30
    while "/status online" not in (home / "node.log").read_text():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            pytest.fail("the node never came online:\n" + (home / "node.log").read_text())
        time.sleep(0.1)
    yield {"id": device_id, "url": broker.url, "proc": proc, "log": home / "node.log"}
    proc.terminate()
    proc.wait(timeout=10)
    log.close()


def monitor(node, *args, **kw):
    return fieldnode("monitor", "--url", node["url"], "--device", node["id"], *args, **kw)


def test_built_firmware_runs_and_monitor_json_decodes_it(node):
    r = monitor(node, "--json", "--count", 12, "--duration", 30)
    assert r.returncode == 0, r.stderr + node["log"].read_text()
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(recs) == 12 and all(rec["device"] == node["id"] for rec in recs)
    kinds = {rec["kind"] for rec in recs}
    assert {"status", "state"} <= kinds
    status = [rec for rec in recs if rec["kind"] == "status"]
    assert status[0]["payload"] == "online" and status[0]["retained"] is True
    temps = [rec for rec in recs if rec["kind"] == "state" and rec["name"] == "temperature"]
    assert len(temps) >= 2
    for rec in temps:
        p = rec["payload"]
        assert p["version"] == 1 and p["code"] is None
        (value, exp, text), = p["values"]
        assert exp == -2 and 1800 <= value <= 2800 and text == "%d.%02d" % divmod(value, 100)
    seqs = [rec["payload"]["seq"] for rec in temps]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    stats = [rec for rec in recs if rec["kind"] == "stats"]     # every second
    assert stats
    for rec in stats:
        assert rec["payload"]["config_source"] == "file"


def test_monitor_readable_lines(node):
    r = monitor(node, "--count", 3, "--duration", 30)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3
    status = [line for line in lines if " status " in line]
    assert status and status[0].split()[1:4] == [node["id"], "status", "online"]
    assert status[0].endswith("(retained)")
    # the columns line up: the kind/name column starts at the same offset on every line
    starts = {line.index(" " + line.split()[2] + " ") for line in lines}
    assert len(starts) == 1


def test_cmd_answers_and_exit_codes(node):
    r = fieldnode("cmd", node["id"], "ping", "--url", node["url"])
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    assert answer["rc"] == 0 and answer["msg"] == "pong" and answer["uptime_s"] >= 0

    r = fieldnode("cmd", node["id"], "set_interval", "sensor=humidity", "interval_ms=2500",
                  "--url", node["url"])
    assert r.returncode == 0 and json.loads(r.stdout)["msg"] == "interval of humidity is 2500 ms"

    r = fieldnode("cmd", node["id"], "set_interval", "sensor=pressure", "interval_ms=1000",
                  "--url", node["url"])
    assert r.returncode == 1 and json.loads(r.stdout)["rc"] == 3
    assert r.stderr.startswith("fieldnode cmd: %s answered rc 3 (bad arguments): sensor:" % node["id"])

    r = fieldnode("cmd", node["id"], "selfdestruct", "--url", node["url"])
    assert r.returncode == 1 and "answered rc 2 (unknown command)" in r.stderr

    r = fieldnode("cmd", node["id"], "get_config", "--url", node["url"])
    assert r.returncode == 0
    assert json.loads(r.stdout)["config"]["sensors"]["humidity"]["interval_ms"] == 2500


def test_cmd_sends_text_beyond_the_bmp_as_utf8(node):
    # json.dumps escaped it as a surrogate pair, which MicroPython's json.loads turns
    # into CESU-8: the node refused a valid SSID as "not valid text"
    r = fieldnode("cmd", node["id"], "set_config", "device_id=caf\u00e9 \U0001F600", "--url",
                  node["url"])
    assert r.returncode == 0, r.stdout + r.stderr
    r = fieldnode("cmd", node["id"], "get_config", "--url", node["url"])
    assert json.loads(r.stdout)["config"]["device_id"] == "caf\u00e9 \U0001F600"
    r = fieldnode("cmd", node["id"], "set_config", "device_id=" + node["id"], "--url",
                  node["url"])
    assert r.returncode == 0, r.stdout + r.stderr


def test_cmd_timeout_when_no_device_answers(node):
    t0 = time.monotonic()
    r = fieldnode("cmd", "nobody-home", "ping", "--timeout", 1, "--url", node["url"])
    assert r.returncode == 1 and time.monotonic() - t0 < 15
    assert r.stderr == ("fieldnode cmd: no answer from nobody-home to ping within 1s "
                        "(it never published a status on this broker; a request not yet "
                        "delivered expires at the broker and does not run later)\n")


def test_cmd_with_a_tiny_timeout_names_it(node):
    # the connect or the subscription runs out of it: the message says how long it had
    r = fieldnode("cmd", node["id"], "ping", "--timeout", "1e-9", "--url", node["url"])
    assert r.returncode == 1 and "within 1e-09s" in r.stderr, r.stderr


def test_monitor_shows_command_traffic(node):
    mon = subprocess.Popen([tool("fieldnode"), "monitor", "--json", "--url", node["url"],
                            "--device", node["id"], "--duration", "8"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the monitor says so on stderr once subscribed
        assert "monitor: " in mon.stderr.readline()
        r = fieldnode("cmd", node["id"], "ping", "--url", node["url"])
        assert r.returncode == 0
        out, _ = mon.communicate(timeout=30)
    finally:
        mon.kill()
    recs = [json.loads(line) for line in out.splitlines()]
    cmds = [rec for rec in recs if rec["kind"] == "cmd" and rec["name"] == "ping"]
    replies = [rec for rec in recs if rec["kind"] == "reply"]
    assert len(cmds) == 1 and len(replies) == 1
    assert cmds[0]["correlation"] == replies[0]["correlation"]
    assert replies[0]["payload"]["msg"] == "pong"


def test_cmd_values_that_are_not_json_numbers_go_as_text(node):
    """x=NaN y=1e999 went out as {"x": NaN, "y": Infinity}: not JSON, the node answered
    "payload is not JSON". As the help says, what is not JSON is text."""
    r = fieldnode("cmd", node["id"], "ping", "x=NaN", "y=1e999", "z=-Infinity", "--url",
                  node["url"])
    # ping takes no arguments: the node read the payload (rc 3), it was JSON (not rc 1)
    answer = json.loads(r.stdout)
    assert answer["rc"] == 3 and answer["msg"].startswith("unknown argument "), answer


def test_monitor_output_errors_are_one_line(node):
    """stdout on a full disk: an OSError traceback; stdout closed: an AttributeError one."""
    argv = [tool("fieldnode"), "monitor", "--url", node["url"], "--device", node["id"],
            "--duration", "10"]
    with open("/dev/full", "w") as full:
        r = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1] == ("fieldnode monitor: cannot write the output: No space "
                                         "left on device")
    assert len(r.stderr.splitlines()) == 2      # after the banner ("monitor: ... on ...")
    r = subprocess.run(argv, stderr=subprocess.PIPE, text=True, timeout=60,
                       preexec_fn=lambda: os.close(1))
    assert (r.returncode, r.stderr) == (1, "fieldnode monitor: cannot write the output: "
                                           "stdout is closed\n")
