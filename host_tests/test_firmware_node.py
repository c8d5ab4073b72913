"""The whole firmware (firmware/main.py on the unix board) against a real Mosquitto,
under both runtimes: status, readings, events, commands, stats, secrets.

One node per runtime is shared by the tests of this module (module fixture); it
runs with short intervals (host_tests/firmware_node.py FAST) and a known secret
that must never show up in its output or in anything it publishes.
"""

import json
import os
import time

import pytest

from firmware_node import FAST, RESTING, NodeProc
import payload as pl  # noqa: E402 (firmware/, put on the path by firmware_node)
from paho_peer import PahoPeer
from runtimes import RUNTIMES

SECRET = "S3cret-Pw-7f3a"
WIFI_SECRET = "W1fi-Pw-91bd"


@pytest.fixture(scope="module", params=RUNTIMES)
def shared(request, broker, tmp_path_factory):
    runtime = request.param
    device = "fw-" + runtime
    cfg = dict(FAST, password=SECRET, username="node", wifi_password=WIFI_SECRET,
               sensors={"temperature": {"interval_ms": 500, "high": 3000, "hysteresis": 100},
                        "humidity": {"interval_ms": 700}})
    peer = PahoPeer(broker, "watch-" + device).start()
    peer.subscribe("fieldnode/v1/%s/#" % device, qos=1)
    peer.subscribe("reply/" + device, qos=1)
    node = NodeProc(runtime, broker, tmp_path_factory.mktemp(device), cfg, device)
    node.peer = peer
    node.runtime = runtime
    node.reply_topic = "reply/" + device
    node.cid = 0
    try:
        node.wait_log("online")
        yield node
    finally:
        node.kill()
        peer.stop()
        print(node.output)


def request(node, name, args=b"", cid=None, response_topic=True):
    """Send command `name`; returns the decoded answer (dict) or None."""
    if cid is None:
        node.cid += 1
        cid = b"cid-%d" % node.cid
    payload = args if isinstance(args, bytes) else json.dumps(args).encode()
    before = len(node.peer.on(node.reply_topic))
    node.peer.publish(node.base + "/cmd/" + name, payload, qos=1, correlation_data=cid,
                      response_topic=node.reply_topic if response_topic else None)
    if not response_topic:
        return None
    got = node.peer.wait_messages(node.reply_topic, before + 1)[-1]
    assert got.correlation_data == cid
    return json.loads(got.payload)


def readings(node, sensor, count, timeout=15):
    return node.peer.wait_messages(node.base + "/state/" + sensor, count, timeout)


def test_status_online_and_readings_decode(shared, broker):
    status = shared.peer.wait_messages(shared.base + "/status", 1)[0]
    assert status.payload == b"online", status
    late = PahoPeer(broker, "late-" + shared.runtime).start()  # after the birth: from
    try:  # the broker's store, so the birth went retained
        late.subscribe(shared.base + "/status", qos=1)
        got = late.wait_messages(shared.base + "/status", 1)[0]
        assert (got.payload, got.retain) == (b"online", True), got
    finally:
        late.stop()
    for sensor, exp in (("temperature", -2), ("humidity", -1)):
        msgs = readings(shared, sensor, 3)
        decoded = [pl.decode(m.payload) for m in msgs]
        seqs = [d["seq"] for d in decoded]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3, seqs
        assert all(d["values"][0][1] == exp for d in decoded)
        assert msgs[0].content_type == pl.CT_READING
        assert msgs[0].payload_format_indicator in (0, None)
    stats = json.loads(shared.peer.wait_messages(shared.base + "/stats", 1)[0].payload)
    assert stats["config_source"] == "file" and stats["readings"] >= 1


def test_the_node_says_which_firmware_it_runs(shared):
    """After a deploy, the fleet could not tell which firmware a node ran: the boot log,
    stats and the ping answer carry the version pyproject.toml and the bundle's
    package.json give."""
    import tomllib

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        version = tomllib.load(f)["project"]["version"]
    assert shared.count("node: fieldnode %s, config from file" % version) == 1
    stats = json.loads(shared.peer.wait_messages(shared.base + "/stats", 1)[0].payload)
    assert stats["fw"] == version
    pong = request(shared, "ping")
    assert (pong["rc"], pong["fw"]) == (0, version), pong


def test_every_command_round_trips(shared):
    assert request(shared, "ping")["rc"] == 0
    st = request(shared, "get_state")
    assert st["rc"] == 0 and set(st["sensors"]) == {"temperature", "humidity"}
    cfg = request(shared, "get_config")
    assert cfg["rc"] == 0 and cfg["config"]["password"] == "***"
    assert cfg["config"]["wifi_password"] == "***"
    assert request(shared, "set_config", {"event_expiry_s": 120})["rc"] == 0
    assert request(shared, "get_config")["config"]["event_expiry_s"] == 120
    # brokers, credentials and TLS are set over serial only: whoever may publish
    # commands could have sent the node and its password to a server of theirs
    with open(shared.config_path, "rb") as f:
        before = f.read()
    for key, value in (("password", "***"), ("brokers", ["mqtt://192.0.2.2:1883"]),
                       ("allow_plain_credentials", True), ("tls_insecure", True),
                       ("wifi_ssid", "theirs")):
        ans = request(shared, "set_config", {key: value, "event_expiry_s": 60})
        assert ans["rc"] == 3 and ans["msg"].startswith(key + ": set over serial only"), ans
    with open(shared.config_path, "rb") as f:
        assert f.read() == before
    ans = request(shared, "identify", {"seconds": 1})
    assert ans["rc"] == 0
    shared.wait_log("IDENTIFY")


def test_a_repeated_correlation_id_is_answered_but_not_run_again(shared):
    n = shared.count("IDENTIFY")
    said = shared.count("repeated cmd: ")
    a1 = request(shared, "identify", {"seconds": 1}, cid=b"same-id")
    a2 = request(shared, "identify", {"seconds": 1}, cid=b"same-id")
    assert a1 == a2 and a1["rc"] == 0
    time.sleep(0.5)
    assert shared.count("IDENTIFY") == n + 1
    # the repeat is in the log too (README: each command in and answer out): the
    # Responder answered it from memory and the log showed nothing of it
    shared.wait_log("repeated cmd: ", said + 1, timeout=5)
    line = [ln for ln in shared.lines if "repeated cmd: " in ln][-1]
    assert line == "node: <- 1 repeated cmd: answered as before, not run again", line


def test_reboot_needed_lists_what_differs_from_what_runs(shared):
    # it compared with the last saved config: keepalive set back to the value the node
    # runs with was still listed, as was a key saved earlier and now unchanged
    boot = request(shared, "get_config")["config"]
    ka = boot["keepalive"]
    a = request(shared, "set_config", {"keepalive": ka + 30, "event_expiry_s": 90})
    assert (a["rc"], a["reboot_needed"]) == (0, ["keepalive"]), a
    assert a["msg"] == "saved, reboot to apply: keepalive", a
    a = request(shared, "set_config", {"queue_count": boot["queue_count"] + 1})
    assert a["reboot_needed"] == ["keepalive", "queue_count"], a  # both still wait
    a = request(shared, "set_config", {"keepalive": ka, "queue_count": boot["queue_count"]})
    assert (a["reboot_needed"], a["msg"]) == ([], "saved"), a
    # the next network join reads network_timeout_ms: it was listed as waiting for one
    t = boot["network_timeout_ms"]
    a = request(shared, "set_config", {"network_timeout_ms": t + 1000})
    assert (a["reboot_needed"], a["msg"]) == ([], "saved"), a
    request(shared, "set_config", {"network_timeout_ms": t})
    # device_id given as the id the node runs with (the board's, config null): listed,
    # though the next boot runs with the same one
    assert boot["device_id"] is None, boot
    a = request(shared, "set_config", {"device_id": shared.device})
    assert (a["reboot_needed"], a["msg"]) == ([], "saved"), a
    a = request(shared, "set_config", {"device_id": shared.device + "-x"})
    assert a["reboot_needed"] == ["device_id"], a
    a = request(shared, "set_config", {"device_id": None})
    assert a["reboot_needed"] == [], a


def test_a_retry_after_a_passing_failure_runs_again(shared):
    # rc 5 (nothing done) was remembered like any answer, so the retry of a set_config
    # that met a full file system got that rc 5 back for ever, with the same id
    tmp = os.path.join(os.path.dirname(shared.config_path), "config.json.tmp")
    os.mkdir(tmp)  # the temp file cannot be written: the save fails
    try:
        a1 = request(shared, "set_config", {"event_expiry_s": 77}, cid=b"retry-5")
    finally:
        os.rmdir(tmp)
    assert a1["rc"] == 5, a1
    a2 = request(shared, "set_config", {"event_expiry_s": 77}, cid=b"retry-5")
    assert a2["rc"] == 0, a2
    assert request(shared, "get_config")["config"]["event_expiry_s"] == 77
    a3 = request(shared, "set_config", {"event_expiry_s": 77}, cid=b"retry-5")
    assert a3 == a2  # a done one is replayed, as before


@pytest.mark.parametrize("name,args,rc", [
    ("no_such_command", b"", 2),
    ("ping", b"{not json", 1),
    ("ping", b"[1, 2]", 1),
    ("ping", b"\xff\xfe", 1),
    ("ping", b'{"x": "' + b"a" * 600 + b'"}', 4),
    ("ping", {"unexpected": 1}, 3),
    ("set_interval", {"sensor": "temperature", "interval_ms": 5}, 3),
    ("set_interval", {"sensor": "pressure", "interval_ms": 1000}, 3),
    ("set_interval", {"sensor": ["temperature"], "interval_ms": 1000}, 3),
    ("set_interval", {"sensor": "stats", "interval_ms": 300}, 3),
    ("identify", {"seconds": "long"}, 3),
    ("set_config", {"no_such_key": 1}, 3),
])
def test_bad_input_gets_its_error_answer_and_the_node_goes_on(shared, name, args, rc):
    ans = request(shared, name, args)
    assert ans["rc"] == rc and ans["msg"], ans
    n = len(shared.peer.on(shared.base + "/state/temperature"))
    readings(shared, "temperature", n + 1)


def test_a_payload_after_a_byte_order_mark_runs(shared):
    # RFC 8259 8.1: a parser may skip a BOM, which some tools put before a JSON text;
    # it was "payload is not JSON: expected a value at 0"
    ans = request(shared, "get_state", b'\xef\xbb\xbf{}')
    assert ans["rc"] == 0 and "sensors" in ans, ans
    ans = request(shared, "get_state", b'{}\xef\xbb\xbf')  # only at the start
    assert ans == {"rc": 1, "msg": "payload is not JSON: unexpected byte at 2"}, ans


@pytest.mark.parametrize("name, payload, why", [
    # MicroPython's json.loads took these: the backslash dropped, "fieldnodev1" saved
    ("set_config", b'{"topic_prefix": "fieldnode\\v1"}', "unknown escape at 27"),
    ("set_interval", b'{"sensor": "humidity" "interval_ms": 4000}', "expected ',' or the end at 22"),
    ("set_interval", b'{"sensor": "humidity", "interval_ms": 04000,}',
     "expected ',' or the end at 39"),
])
def test_a_payload_only_a_lenient_parser_reads_is_refused_and_nothing_runs(shared, name, payload,
                                                                          why):
    with open(shared.config_path, "rb") as f:
        before = f.read()
    ans = request(shared, name, payload)
    assert ans == {"rc": 1, "msg": "payload is not JSON: " + why}, ans
    with open(shared.config_path, "rb") as f:
        assert f.read() == before
    assert request(shared, "get_state")["sensors"]["humidity"]["interval_ms"] == 700


def test_a_request_without_response_topic_is_a_counted_drop(shared):
    stats_topic = shared.base + "/stats"
    request(shared, "reboot", response_topic=False)  # must not reboot
    n = len(shared.peer.on(stats_topic))
    last = json.loads(shared.peer.wait_messages(stats_topic, n + 2)[-1].payload)
    assert last["commands_dropped"] >= 1
    shared.wait_log("without a usable Response Topic")  # and the log says so
    assert shared.proc.poll() is None


def test_a_wildcard_response_topic_is_a_counted_drop_and_the_link_stays_up(shared):
    """A Topic Name holds no wildcard [MQTT-3.3.2-14], but Mosquitto forwards such a
    Response Topic: the node must neither run the command nor drop its link (its
    session would get the same request again after every reconnect)."""
    stats_topic = shared.base + "/stats"
    downs = shared.count("link down")
    n = len(shared.peer.on(stats_topic))
    dropped = json.loads(shared.peer.wait_messages(stats_topic, n + 1)[-1].payload)[
        "commands_dropped"]
    shared.peer.publish(shared.base + "/cmd/reboot", b"", qos=1, correlation_data=b"bad-rt",
                        response_topic="bad/#/topic")
    assert request(shared, "ping")["rc"] == 0  # answered after it, on the same link
    n = len(shared.peer.on(stats_topic))
    last = json.loads(shared.peer.wait_messages(stats_topic, n + 2)[-1].payload)
    assert last["commands_dropped"] == dropped + 1
    assert shared.count("link down") == downs and shared.proc.poll() is None


def test_a_correlation_id_reused_on_another_command_runs_that_command(shared):
    """Repeats are recognised by command topic, Response Topic and Correlation Data."""
    st = request(shared, "get_state", cid=b"reused-id")
    assert st["rc"] == 0 and "sensors" in st
    pong = request(shared, "ping", cid=b"reused-id")
    assert pong["rc"] == 0 and "sensors" not in pong and "uptime_s" in pong, pong


def test_set_config_with_a_bad_value_leaves_the_file_byte_identical(shared):
    with open(shared.config_path, "rb") as f:
        before = f.read()
    for bad in ({"keepalive": 2}, {"sensors": {"temperature": {"qos": 5}}},
                {"brokers": "mqtt://x"}, {"topic_prefix": "a/#"}):
        ans = request(shared, "set_config", bad)
        assert ans["rc"] == 3 and list(bad)[0] in ans["msg"], ans
    with open(shared.config_path, "rb") as f:
        assert f.read() == before


def test_set_interval_changes_the_cadence(shared):
    topic = shared.base + "/state/humidity"

    def rate(seconds):
        n0 = len(shared.peer.on(topic))
        time.sleep(seconds)
        return (len(shared.peer.on(topic)) - n0) / seconds

    assert request(shared, "set_interval", {"sensor": "humidity", "interval_ms": 2000})["rc"] == 0
    time.sleep(0.5)
    slow = rate(4)
    assert request(shared, "set_interval", {"sensor": "humidity", "interval_ms": 250})["rc"] == 0
    time.sleep(0.5)
    fast = rate(4)  # 4/s; readings a stall delays are merged, not sent late: margin
    assert slow <= 1.0 and fast >= 1.5, (slow, fast)
    request(shared, "set_interval", {"sensor": "humidity", "interval_ms": 700})


def test_button_and_threshold_events(shared):
    ev = shared.base + "/event/"
    # the first reading after boot reports the level of a sensor with thresholds
    # (the shared node's temperature has a high), so an alarm from before a reboot clears
    boot = pl.decode(shared.peer.wait_messages(ev + "temperature_normal", 1)[0].payload)
    assert boot["code"] == pl.EV_NORMAL and boot["seq"] >= 1
    assert not shared.peer.on(ev + "humidity_normal")          # no thresholds: nothing
    shared.press_button()
    b = shared.peer.wait_messages(ev + "button", 1)[0]
    d = pl.decode(b.payload)
    assert d["code"] == pl.EV_BUTTON and d["time"] is not None and not b.retain
    assert b.content_type == pl.CT_EVENT and b.message_expiry_interval
    shared.set_sensor("temperature", 3100)
    hi = pl.decode(shared.peer.wait_messages(ev + "temperature_high", 1)[0].payload)
    assert hi["code"] == pl.EV_HIGH and hi["values"] == [(3100, -2)]
    shared.set_sensor("temperature", 2950)  # inside the hysteresis band: no event
    time.sleep(1.5)
    assert len(shared.peer.on(ev + "temperature_normal")) == 1
    shared.set_sensor("temperature", 2850)
    norm = pl.decode(shared.peer.wait_messages(ev + "temperature_normal", 2)[1].payload)
    assert norm["code"] == pl.EV_NORMAL
    assert len(shared.peer.on(ev + "temperature_high")) == 1
    os.remove(os.path.join(shared.home, "sim", "temperature"))


def _get_config(runtime, broker, home, cfg, device):
    # the answer of a node booted with `cfg` (brokers, credentials and TLS paths are
    # not set by command), and its size in bytes
    peer = PahoPeer(broker, "watch-" + device).start()
    peer.subscribe("reply/" + device, qos=1)
    node = NodeProc(runtime, broker, home, dict(FAST, **cfg), device)
    try:
        node.wait_log("online")
        peer.publish("fieldnode/v1/%s/cmd/get_config" % device, b"", qos=1,
                     correlation_data=b"1", response_topic="reply/" + device)
        got = peer.wait_messages("reply/" + device, 1)[-1].payload
        return json.loads(got), len(got)
    finally:
        node.kill()
        peer.stop()


def test_a_config_with_long_values_still_fits_its_get_config_answer(runtime, broker, tmp_path):
    # the node answers rc 5 rather than fail to send an answer over 1792 bytes;
    # long broker URLs and TLS paths must stay well inside that
    hosts = [("b%d" % i * 40)[:90] for i in range(3)]  # (labels of at most 63 characters)
    urls = [broker.url] + ["mqtt://%s.%s.example:1883" % (h[:60], h[60:]) for h in hosts]
    paths = {"tls_ca": "/" + "c" * 127, "tls_cert": "/" + "d" * 127, "tls_key": "/" + "e" * 127}
    ans, size = _get_config(runtime, broker, tmp_path, dict(paths, brokers=urls),
                            "long-" + runtime)
    assert ans["rc"] == 0 and ans["config"]["brokers"] == urls and size < 1792


def test_the_get_config_answer_is_limited_in_bytes_not_characters(runtime, broker, tmp_path):
    # three-byte characters in five values: the answer is some 1,100 characters
    # but over 1,792 bytes (MicroPython's JSON is UTF-8; CPython's \u escapes are
    # longer still)
    e = "\u20ac"
    cfg = {"tls_ca": "/" + e * 127, "tls_cert": "/" + e * 75, "tls_key": "/" + e * 75,
           "username": e * 64, "wifi_ssid": e * 32, "brokers": ["mqtt://127.0.0.1:%d" % broker.port]}
    ans, size = _get_config(runtime, broker, tmp_path, cfg, "bytes-" + runtime)
    assert size <= 1792 and ans["rc"] == 5 and "over 1792" in ans["msg"], (size, ans)


def test_the_first_stats_go_out_once_the_node_is_online(runtime, broker, tmp_path):
    # stats fell due at boot, before the link was up, and were put off a whole interval
    # (by default a minute; here ten): the first ones now go as soon as it is up
    device = "stats1-" + runtime
    peer = PahoPeer(broker, "watch-" + device).start()
    peer.subscribe("fieldnode/v1/%s/stats" % device, qos=1)
    node = NodeProc(runtime, broker, tmp_path, dict(FAST, **RESTING), device)
    try:
        node.wait_log("online")
        st = json.loads(peer.wait_messages(node.base + "/stats", 1, timeout=5)[0].payload)
        assert st["uptime_s"] < 60 and st["reconnects"] == 0, st
    finally:
        node.kill()
        peer.stop()


def test_zz_ctrl_c_says_offline_and_no_secret_ever_showed(shared, broker):
    # at rest first (firmware_node.RESTING): a resting node is almost never allocating
    assert request(shared, "set_config", RESTING)["rc"] == 0
    time.sleep(1)
    assert shared.interrupt() == 0
    last = shared.peer.wait_messages(shared.base + "/status", 2)[-1]
    assert last.payload == b"offline"
    assert "offline, disconnected" in shared.output
    # a DISCONNECT packet (0x00), not a dropped socket: the will is not sent
    broker.wait_log("Received DISCONNECT from %s" % shared.device)
    seen = shared.output.encode()
    for m in shared.peer.messages:
        seen += m.topic.encode() + m.payload
    for secret in (SECRET, WIFI_SECRET):
        assert secret.encode() not in seen
    assert b'"password": "***"' in seen  # get_config answers were scanned too
