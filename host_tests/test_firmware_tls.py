"""The firmware over TLS: `tls_*` config keys reach the library's mqtts:// client.

A real Mosquitto with a TLS listener (certificates made by openssl, host_tests/
certs.py), the node on both runtimes. With the right CA the node comes online over
mqtts:// and sends its credentials (TLS is not plain TCP); with a CA that did not
sign the broker's certificate it is refused, says why, and keeps retrying.
"""

import time

import pytest

from broker import Broker, free_port
from certs import make_certs
from firmware_node import FAST, RESTING, NodeProc
from paho_peer import PahoPeer
from runtimes import RUNTIMES
from test_tls import tls_listener

SECRET = "Tls-Pw-5e1c"


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    good, other = (str(tmp_path_factory.mktemp("certs_" + k)) for k in ("rsa", "ec"))
    make_certs(good, "rsa")
    make_certs(other, "ec")
    port = free_port()
    b = Broker(tmp_path_factory.mktemp("mosquitto_fw_tls"),
               extra_config=tls_listener(port, good, "server"))
    b.start()
    yield {"broker": b, "url": "mqtts://127.0.0.1:%d" % port, "ca": good + "/ca.pem",
           "wrong_ca": other + "/ca.pem"}
    b.stop()


# The 64-bit unix port running the node from source, plus mbedtls's record
# buffers and parsed certificates: 256k (the other node tests' heap) runs out
# now and then after a refused handshake; 384k never did in our runs.
HEAP = "384k"


def _node(runtime, tls_broker, tmp_path, device, ca):
    # at rest when a test stops it with Ctrl-C (firmware_node.RESTING)
    cfg = dict(FAST, brokers=[tls_broker["url"]], tls_ca=ca, username="node",
               password=SECRET, **RESTING)
    return NodeProc(runtime, tls_broker["broker"], tmp_path, cfg, device, heapsize=HEAP)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_node_online_over_tls(runtime, tls_broker, tmp_path):
    device = "tls-" + runtime
    peer = PahoPeer(tls_broker["broker"], "watch-" + device).start()
    peer.subscribe("fieldnode/v1/%s/#" % device, qos=1)
    node = _node(runtime, tls_broker, tmp_path, device, tls_broker["ca"])
    try:
        node.wait_log("connected to " + tls_broker["url"])
        assert peer.wait_messages(node.base + "/status", 1)[0].payload == b"online"
        peer.wait_messages(node.base + "/state/temperature", 1)
        assert "credentials withheld" not in node.output  # TLS: they are sent
        time.sleep(1)  # at rest (see _node)
        assert node.interrupt() == 0
    finally:
        node.kill()
        peer.stop()
    assert SECRET not in node.output


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_node_refuses_a_broker_its_ca_did_not_sign(runtime, tls_broker, tmp_path):
    node = _node(runtime, tls_broker, tmp_path, "tls-bad-" + runtime, tls_broker["wrong_ca"])
    try:
        node.wait_log("connect failed (TLS", count=2)  # refused, said why, and retried
        assert node.proc.poll() is None, node.output
        assert "connected to" not in node.output
    finally:
        node.kill()
    assert SECRET not in node.output


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_damaged_ca_file_is_retried_and_the_right_one_fixes_the_node(runtime, tls_broker,
                                                                      tmp_path):
    # the file is read at every connect: a damaged one is reported and retried (it
    # stopped the supervisor for good), and copying the right one in brings it online
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    node = _node(runtime, tls_broker, tmp_path, "tls-fix-" + runtime, str(ca))
    try:
        node.wait_log("connect failed (TLS: tls ca: not a valid certificate", count=2)
        with open(tls_broker["ca"], "rb") as f:
            ca.write_bytes(f.read())
        node.wait_log("connected to " + tls_broker["url"], timeout=30)
        assert "link stopped" not in node.output
        time.sleep(1)  # at rest (see _node)
        assert node.interrupt() == 0
    finally:
        node.kill()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_plain_mqtt_to_the_tls_port_is_named_after_three_closed_connects(runtime,
                                                                         tls_broker,
                                                                         tmp_path):
    # mqtt:// where mqtts:// belongs: Mosquitto's TLS listener takes the TCP connect,
    # then closes on the plain CONNECT, and the node saw only "closed by the server"
    url = tls_broker["url"].replace("mqtts://", "mqtt://")
    cfg = dict(FAST, brokers=[url], **RESTING)
    node = NodeProc(runtime, tls_broker["broker"], tmp_path, cfg, "tls-plain-" + runtime,
                    heapsize=HEAP)
    try:
        node.wait_log("3 connects in a row closed before CONNACK: is %s no plain MQTT "
                      "port (TLS? WebSocket?)" % url, timeout=60)
        out = node.output
        assert out.count("connect failed (") >= 3, out
        assert out.count("3 connects in a row") == 1, out  # said once
        assert "connected to" not in out and "Traceback" not in out
    finally:
        node.kill()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_a_default_mqtts_broker_without_a_ca_names_the_config_keys(runtime, tls_broker,
                                                                   tmp_path):
    # the unix board's default broker ($FIELDNODE_BROKER) is mqtts:// and the config
    # names no broker, so its check of `brokers` passed: the node said only the
    # library's option (tls={'ca': ...}), not the config key that fixes it
    from types import SimpleNamespace

    cfg = dict(FAST, brokers=[], **RESTING)
    node = NodeProc(runtime, SimpleNamespace(url=tls_broker["url"]), tmp_path, cfg,
                    "tls-noca-" + runtime, heapsize=HEAP)
    try:
        node.wait_log("%s needs tls_ca or tls_insecure"
                      % tls_broker["url"], timeout=30)
        assert "Traceback" not in node.output
    finally:
        node.kill()
