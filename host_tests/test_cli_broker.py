"""fieldnode monitor and cmd against brokers with no node on them: no broker, mqtts://,
a refused subscription or command, credentials in the URL, a command given up on
while the node is away, and an answer nested too deep."""

import json
import os
import re
import subprocess
import time
import uuid

import pytest

from broker import Broker, free_port
from certs import make_certs
from cli_fake_broker import FakeBroker
from fieldnode_cli import fieldnode
from runtimes import tool
from test_tls import tls_listener


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
