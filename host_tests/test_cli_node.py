"""fieldnode monitor and cmd end to end: the firmware built by `fieldnode build --board unix`
(.mpy only) runs under the MicroPython unix port against a real Mosquitto."""

import json
import os
import re
import socket
import subprocess
import time
import uuid

import pytest

from broker import Broker, free_port
from cli_fake_broker import FakeBroker
from certs import make_certs
from fieldnode_cli import fieldnode
from runtimes import tool
from test_tls import tls_listener


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


def test_no_broker():
    url = "mqtt://127.0.0.1:%d" % free_port()
    for argv in (["monitor", "--duration", 1], ["cmd", "x", "ping"]):
        r = fieldnode(*argv, "--url", url)
        assert r.returncode == 1
        assert r.stderr == "fieldnode %s: no broker at %s: Connection refused\n" % (argv[0], url)
        # a password in the URL is not echoed
        r = fieldnode(*argv, "--url", url.replace("//", "//me:S3cr3t@"))
        assert r.stderr == "fieldnode %s: no broker at %s: Connection refused\n" % (
            argv[0], url.replace("//", "//me:***@"))


def test_monitor_and_cmd_over_mqtts(tmp_path_factory):
    """mqtts:// is TLS, the broker's certificate checked against the system CAs, or the
    one $SSL_CERT_FILE names (here the test CA)."""
    certs = str(tmp_path_factory.mktemp("certs"))
    make_certs(certs, "ec")
    port = free_port()
    b = Broker(tmp_path_factory.mktemp("mosquitto_cli_tls"), extra_config=tls_listener(
        port, certs, "server"))
    b.start()
    url = "mqtts://127.0.0.1:%d" % port
    try:
        trusted = {"SSL_CERT_FILE": os.path.join(certs, "ca.pem")}
        r = fieldnode("monitor", "--url", url, "--duration", 1, env=trusted)
        assert r.returncode == 0
        assert r.stderr == "monitor: fieldnode/v1/+/# on %s (Ctrl-C to stop)\n" % url
        r = fieldnode("cmd", "nobody-home", "ping", "--timeout", 1, "--url", url, env=trusted)
        assert r.returncode == 1 and "no answer from nobody-home to ping within 1s" in r.stderr
        r = fieldnode("monitor", "--url", url, "--duration", 1,
                      env={"SSL_CERT_FILE": os.path.join(certs, "rogue_ca.pem")})
        assert r.returncode == 1
        assert r.stderr.startswith("fieldnode monitor: TLS: the broker's certificate was "
                                   "refused: "), r.stderr
        assert "certificate verify failed" in r.stderr and len(r.stderr.splitlines()) == 1
    finally:
        b.stop()


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


def test_monitor_shows_a_cleared_reading():
    """An empty state payload is a retained reading removed (docs/payload.md): it was
    'undecodable (truncated payload: 0 bytes, ...)'."""
    from fieldnode import monitor

    rec = monitor.decode("fieldnode/v1/dev/state/pressure", b"", "fieldnode/v1")
    assert "error" not in rec and rec["cleared"] is True and rec["payload"] is None
    assert monitor.line(rec, 0, False).split()[1:] == ["dev", "state/pressure", "cleared",
                                                     "(no", "reading)"]


def test_a_command_given_up_on_does_not_run_when_the_node_comes_back(broker):
    """A node offline with its session kept: the broker holds its QoS 1 requests. Those
    of a `cmd` that gave up expire with its wait; those of one still waiting are
    delivered, carry the expiry, and their answer reaches it. (Before, the request given
    up on was delivered too, however late: the node ran a command its sender saw fail.)"""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    device = "away-" + uuid.uuid4().hex[:6]
    got = []

    def session(clean):
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device,
                        protocol=mqtt.MQTTv5)
        c.on_message = lambda cl, u, m: got.append(m)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 300
        c.connect(broker.host, broker.port, clean_start=clean, properties=props)
        c.loop_start()
        return c

    c = session(True)
    c.subscribe("fieldnode/v1/%s/cmd/+" % device, qos=1)[0]
    time.sleep(0.5)
    c.disconnect()
    c.loop_stop()
    cmd = [tool("fieldnode"), "cmd", device, "--url", broker.url]
    gave_up = subprocess.Popen(cmd + ["reboot", "--timeout", "1"], stderr=subprocess.PIPE,
                               text=True)
    waiting = subprocess.Popen(cmd + ["ping", "--timeout", "12"], stdout=subprocess.PIPE,
                               text=True)
    assert gave_up.wait(timeout=30) == 1
    assert "no answer from %s to reboot within 1s" % device in gave_up.stderr.read()
    time.sleep(2.5)  # Mosquitto counts expiry in whole seconds
    c = session(False)
    try:
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # anything else queued comes with it
        assert [m.topic.rsplit("/", 1)[1] for m in got] == ["ping"], [m.topic for m in got]
        req = got[0]
        assert 1 <= req.properties.MessageExpiryInterval <= 12
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = req.properties.CorrelationData
        c.publish(req.properties.ResponseTopic, b'{"rc": 0, "msg": "pong"}', qos=1,
                  properties=props)
        out, _ = waiting.communicate(timeout=20)
        assert waiting.returncode == 0 and json.loads(out) == {"rc": 0, "msg": "pong"}
    finally:
        waiting.kill()
        c.disconnect()
        c.loop_stop()


@pytest.fixture
def refusing_broker():
    b = FakeBroker(suback=0x87)
    yield b
    b.close()


def test_a_refused_subscription_is_an_error_naming_the_filter(refusing_broker):
    """SUBACK 0x87 was taken for a grant: monitor showed nothing and exited 0, cmd blamed
    the node ("no answer ... it never published a status")."""
    url = refusing_broker.url
    r = fieldnode("monitor", "--url", url, "--duration", 5)
    assert r.returncode == 1
    assert r.stderr == ("fieldnode monitor: the broker refused the subscription to "
                        "fieldnode/v1/+/#: Not authorized (0x87)\n")
    r = fieldnode("cmd", "node-1", "ping", "--url", url, "--timeout", 5)
    assert r.returncode == 1 and r.stdout == ""
    assert re.fullmatch(r"fieldnode cmd: the broker refused the subscription to "
                        r"fieldnode/v1/node-1/reply/[0-9a-f]{16}: Not authorized \(0x87\)\n",
                        r.stderr), r.stderr


def test_user_and_password_in_the_url_are_percent_decoded(broker_factory, tmp_path):
    """As in any URL: a / ? # or @ in a password goes as %2F %3F %23 %40. They were sent
    encoded (and a raw one was refused as a bad URL that looked right). A Mosquitto that
    lets in only user `us@er` with password `p/a?s#s%:` (its password file)."""
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), "us@er", "p/a?s#s%:"], check=True)
    b = broker_factory(allow_anonymous=False, extra_config="password_file %s" % pw)
    shown = b.url.replace("//", "//us%40er:***@")
    r = fieldnode("monitor", "--url", b.url.replace("//", "//us%40er:p%2Fa%3Fs%23s%25:@"),
                  "--duration", 0.5)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "monitor: fieldnode/v1/+/# on %s (Ctrl-C to stop)\n" % shown
    b.wait_log(" u'us@er').")  # the user of its CONNECT, as Mosquitto logs it
    # the broker does check it: the password less its last character is refused
    r = fieldnode("monitor", "--url", b.url.replace("//", "//us%40er:p%2Fa%3Fs%23s%25@"),
                  "--duration", 0.5)
    assert (r.returncode, r.stderr) == (1, "fieldnode monitor: broker at %s refused the "
                                        "connection: Not authorized\n" % shown), r.stderr


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


def test_a_refused_command_is_an_error_naming_the_refusal(broker_factory, tmp_path):
    """A request the broker refused (Mosquitto's ACL: PUBACK 0x87) was waited on to the
    end of --timeout, then blamed on the node ("no answer from node-1 to ping")."""
    acl = tmp_path / "acl"
    acl.write_text("topic read fieldnode/#\ntopic readwrite fieldnode/+/reply/#\n")
    b = broker_factory(extra_config="acl_file %s" % acl)
    t0 = time.monotonic()
    r = fieldnode("cmd", "node-1", "ping", "--url", b.url, "--timeout", 10)
    assert (r.returncode, r.stdout) == (1, ""), r.stderr
    assert r.stderr == ("fieldnode cmd: the broker refused the command (PUBACK 0x87 Not "
                        "authorized) on fieldnode/v1/node-1/cmd/ping\n")
    assert time.monotonic() - t0 < 8      # at once, not at the end of --timeout


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


def test_cmd_deeply_nested_arguments_and_answer_are_one_line(broker_factory):
    """An argument nested deeper than Python's json goes (k=[[[[...) and an answer like it
    were RecursionError tracebacks: the argument is text (as anything not JSON), the
    answer "not JSON"."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    b = broker_factory()
    deep = "[" * 1200 + "]" * 1200
    got = []

    def answer(c, userdata, msg):
        got.append(json.loads(msg.payload))
        props = Properties(PacketTypes.PUBLISH)
        props.CorrelationData = msg.properties.CorrelationData
        c.publish(msg.properties.ResponseTopic, deep.encode(), qos=1, properties=props)

    node = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    node.on_message = answer
    node.connect(b.host, b.port)
    node.subscribe("fieldnode/v1/node-1/cmd/+", qos=1)
    node.loop_start()
    try:
        time.sleep(0.3)     # subscribed
        r = fieldnode("cmd", "node-1", "ping", "k=" + deep, "--url", b.url)
    finally:
        node.disconnect()
        node.loop_stop()
    assert got == [{"k": deep}]
    assert (r.returncode, r.stdout) == (1, ""), r.stderr
    assert r.stderr == "fieldnode cmd: the answer is not JSON: %r\n" % deep[:80].encode()
