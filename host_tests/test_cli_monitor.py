"""fieldnode monitor against a broker with no node on it: a broker that restarts or
stops answering, and the lines it prints for payloads (topic, control characters,
cleared readings, JSON nested too deep, NaN)."""

import json
import re
import socket
import subprocess

import pytest

from broker import Broker
from fieldnode_cli import fieldnode
from runtimes import tool


def test_monitor_says_when_it_loses_the_broker_and_comes_back(tmp_path_factory):
    # paho's reconnect came back without the subscription: monitor went silent for
    # good when the broker restarted, and said nothing
    b = Broker(tmp_path_factory.mktemp("mosquitto_monitor")).start()
    proc = subprocess.Popen([tool("fieldnode"), "monitor", "--url", b.url, "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.stderr.readline()  # "monitor: fieldnode/v1/+/# on ..."
        b.restart()
        lines = [proc.stderr.readline() for _ in range(2)]
        assert lines[0].startswith("monitor: lost the connection to %s" % b.url), lines
        while lines[-1].startswith("monitor: no broker"):  # refused while it restarted
            lines.append(proc.stderr.readline())
        assert lines[-1] == "monitor: reconnected, fieldnode/v1/+/# on %s\n" % b.url, lines
        subprocess.run(["mosquitto_pub", "-p", str(b.port), "-t", "fieldnode/v1/n1/stats",
                        "-m", '{"uptime_s": 5}'], check=True, timeout=10)
        rec = json.loads(proc.stdout.readline())
        assert (rec["device"], rec["kind"], rec["payload"]) == ("n1", "stats", {"uptime_s": 5})
    finally:
        proc.kill()
        proc.wait()
        b.stop()


def test_monitor_duration_ends_it_while_reconnecting(tmp_path_factory):
    # each reconnect attempt gets at most what is left of --duration (it took 5 s for
    # connect and 5 more for subscribe, whatever was left)
    b = Broker(tmp_path_factory.mktemp("mosquitto_monitor_d")).start()
    proc = subprocess.Popen([tool("fieldnode"), "monitor", "--url", b.url, "--duration", "4"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    hole = socket.socket()
    try:
        proc.stderr.readline()
        b.stop()
        hole.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        hole.bind(("127.0.0.1", b.port))  # accepts TCP, never answers
        hole.listen(8)
        err = proc.communicate(timeout=30)[1]
        assert proc.returncode == 0 and "lost the connection" in err, err
        waited = [float(x) for x in re.findall(r"no CONNACK within ([0-9.]+)s", err)]
        assert waited and max(waited) < 4, err  # what was left of --duration, not 5 s
    finally:
        hole.close()
        if proc.poll() is None:
            proc.kill()


def test_monitor_lines_tell_payloads_from_json_by_topic_not_by_keys():
    """A command whose JSON has `seq` and `values` keys (set_config seq=1 values=[])
    was taken for a decoded reading: the monitor died with KeyError 'code'."""
    from fieldnode import monitor

    rec = monitor.decode("fieldnode/v1/dev/cmd/set_config", b'{"seq": 1, "values": []}',
                         "fieldnode/v1")
    assert monitor.line(rec, 0, False).split()[1:] == ["dev", "cmd/set_config",
                                                     '{"seq":1,"values":[]}']
    rec = monitor.decode("fieldnode/v1/dev/cmd/set_config", b'{"password": "S3cr3t"}',
                         "fieldnode/v1")  # a secret in a request shows as the node shows it
    assert rec["payload"] == {"password": "***"}
    # after a byte order mark, which the node skips (it runs the request): masked too
    rec = monitor.decode("fieldnode/v1/dev/cmd/set_config",
                         b'\xef\xbb\xbf{"password": "S3cr3t"}', "fieldnode/v1")
    assert rec["payload"] == {"password": "***"}, rec
    rec = monitor.decode("fieldnode/v1/dev/state/temperature", bytes.fromhex("010007160859"),
                         "fieldnode/v1")
    assert monitor.line(rec, 0, True).split()[1:] == ["dev", "state/temperature", "#7",
                                                    "21.37", "(retained)"]


def test_monitor_lines_escape_control_characters():
    """A retained status with terminal escapes and a newline reached the terminal as
    they were: a cleared screen, colours, a forged second line."""
    from fieldnode import monitor

    rec = monitor.decode("fieldnode/v1/ev\x1bil/status",
                         b"online\x1b[2J\x1b[31mFAKE\nfake-line  node-x  status  online",
                         "fieldnode/v1")
    out = monitor.line(rec, 0, True)
    assert "\n" not in out and "\x1b" not in out, out
    assert out.split()[1:4] == ["ev\\x1bil", "status",
                                "online\\x1b[2J\\x1b[31mFAKE\\x0afake-line"], out
    # a JSON string holding an escaped lone surrogate: print() raised UnicodeEncodeError
    # and the monitor died
    rec = monitor.decode("fieldnode/v1/dev/stats", b'"\\ud800x"', "fieldnode/v1")
    out = monitor.line(rec, 0, False)
    out.encode()
    assert out.split()[1:] == ["dev", "stats", "\\ud800x"], out


def test_monitor_shows_a_cleared_reading():
    """An empty state payload is a retained reading removed (docs/payload.md): it was
    'undecodable (truncated payload: 0 bytes, ...)'."""
    from fieldnode import monitor

    rec = monitor.decode("fieldnode/v1/dev/state/pressure", b"", "fieldnode/v1")
    assert "error" not in rec and rec["cleared"] is True and rec["payload"] is None
    assert monitor.line(rec, 0, False).split()[1:] == ["dev", "state/pressure", "cleared",
                                                     "(no", "reading)"]


def test_monitor_shows_deep_json_as_undecodable_and_prints_no_nan(broker_factory):
    """A retained '[' * 1200 + ']' * 1200 on stats was a RecursionError traceback at every
    start of monitor; NaN and Infinity in a payload went out in --json lines as NaN and
    Infinity, which are not JSON."""
    b = broker_factory()
    for device, payload in (("deep", "[" * 1200 + "]" * 1200),
                            ("nan", '{"x": NaN, "y": -Infinity, "z": 1e999, "ok": 1.5}')):
        subprocess.run(["mosquitto_pub", "-p", str(b.port), "-r", "-t",
                        "fieldnode/v1/%s/stats" % device, "-m", payload], check=True, timeout=10)
    r = fieldnode("monitor", "--json", "--url", b.url, "--count", 2, "--duration", 10)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    recs = {}
    for text in r.stdout.splitlines():
        recs[json.loads(text, parse_constant=pytest.fail)["device"]] = json.loads(text)
    assert recs["deep"]["error"] == "JSON nested over 100 deep"
    assert recs["deep"]["payload"] == "[" * 1200 + "]" * 1200
    assert recs["nan"]["payload"] == {"x": "NaN", "y": "-Infinity", "z": "1e999", "ok": 1.5}
    r = fieldnode("monitor", "--url", b.url, "--count", 2, "--duration", 10)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "undecodable (JSON nested over 100 deep): [[[" in r.stdout, r.stdout
