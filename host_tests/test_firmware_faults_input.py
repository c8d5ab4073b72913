"""The firmware through bad input and failing sensors, under both runtimes: bad config
at boot, a sensor the board no longer has, a board device id that cannot go in a topic, a
hung sensor driver (watchdog; fed at the REPL after Ctrl-C), a reading out of the payload
range."""

import json
import os
import signal
import time

import pytest

from firmware_node import FAST, RESTING, NodeProc, watch
from paho_peer import PahoPeer
import payload as pl  # noqa: E402 (firmware/, put on the path by firmware_node)


@pytest.mark.parametrize("case,expect", [
    ("missing", "defaults"), ("corrupt", "last_good"), ("half_written", "last_good"),
    ("corrupt_no_last_good", "defaults"), ("bad_broker_url", "last_good"),
    # these ended the node at boot (MemoryError, RecursionError) before it fell back
    ("nested_deep", "last_good"), ("huge", "last_good")])
def test_bad_config_at_boot_falls_back_and_says_so(broker, runtime, tmp_path, case, expect):
    device = ("cfg-%s-%s" % (case, runtime)).replace("_", "-")
    good = dict(FAST, stats_interval_ms=700)
    if case != "missing":
        with open(os.path.join(tmp_path, "config.json"), "w") as f:
            f.write({"corrupt": "\x00\xffnot json", "half_written": json.dumps(good)[:20],
                     "corrupt_no_last_good": "{\"keepalive\": 1}",
                     "bad_broker_url": json.dumps(dict(good, brokers=["mqtt://h:abc"])),
                     "nested_deep": '{"keepalive": ' + "[" * 1500 + "]" * 1500 + "}",
                     "huge": "x" * 40000}[case])
    if case in ("corrupt", "half_written", "bad_broker_url", "nested_deep", "huge"):
        with open(os.path.join(tmp_path, "config.last_good.json"), "w") as f:
            json.dump(good, f)
    peer = watch(broker, device)
    node = NodeProc(runtime, broker, tmp_path, device=device, write_config=False)
    try:
        node.wait_log("config from %s" % expect)
        node.wait_log("online")
        if expect == "last_good":
            stats = json.loads(peer.wait_messages(node.base + "/stats", 1)[0].payload)
            assert stats["config_source"] == "last_good"
        if case != "missing":
            assert "is invalid" in node.output
    finally:
        node.kill()
        peer.stop()


def test_a_sensor_the_board_no_longer_has_loses_its_retained_reading(broker, runtime,
                                                                    tmp_path):
    # A firmware that had a pressure sensor left its last reading retained, and the
    # config still names the sensor. The node ignored those settings (logged) but left
    # the reading on the broker, where every new subscriber, a dashboard, got it.

    device = "gone-" + runtime
    base = "fieldnode/v1/" + device
    old = PahoPeer(broker, "old-" + device).start()
    old.publish(base + "/state/pressure", b"\x01\x00\x07\x00\x00\x03\xf5\xfe", qos=1,
                retain=True)
    old.stop()
    live = watch(broker, device, "live-")  # there before the node: gets the retained one
    live.wait_messages(base + "/state/pressure", 1)
    cfg = dict(FAST, sensors=dict(FAST["sensors"], pressure={"interval_ms": 1000}))
    node = NodeProc(runtime, broker, tmp_path, cfg, device)
    late = None
    try:
        node.wait_log("state/pressure cleared: not a sensor of this board")
        assert "config: sensor 'pressure' is not on this board" in node.output
        # the clear goes after the birth, as every message of the node does
        cleared = live.wait_messages(base + "/state/pressure", 2)[1]
        assert cleared.payload == b"" and cleared.retain is False
        with live._cond:
            order = [(m.topic, m.payload) for m in live.messages]
        assert order.index((base + "/status", b"online")) < order.index(
            (base + "/state/pressure", b""))
        late = watch(broker, device, "late-")  # a new subscriber gets what is retained
        late.wait_messages(base + "/state/temperature", 1)
        late.wait_messages(base + "/status", 1)
        time.sleep(0.3)
        assert late.on(base + "/state/pressure") == []
        assert json.load(open(node.config_path))["sensors"]["pressure"]  # file untouched
        assert "Traceback" not in node.output
    finally:
        node.kill()
        live.stop()
        if late is not None:
            late.stop()


@pytest.mark.parametrize("device", ["a+b", "a/b"])
def test_a_board_device_id_that_cannot_go_in_a_topic_stops_the_node_clearly(
        broker, runtime, tmp_path, device):
    # with no device_id in the config the board's id names the topics; it was not
    # checked: "a+b" ended in a traceback, "a/b" published under fieldnode/v1/a/b/...
    node = NodeProc(runtime, broker, tmp_path, FAST, device)
    try:
        assert node.wait(20) == 1
        assert "node: cannot start with the board's device id: device_id: %r must not " \
            "contain %r (set device_id in the config)" % (device, device[1]) in node.output
        assert "Traceback" not in node.output and "online" not in node.output
    finally:
        node.kill()


def test_a_hung_sensor_driver_trips_the_watchdog(broker, runtime, tmp_path):
    device = "wdt-" + runtime
    node = NodeProc(runtime, broker, tmp_path, dict(FAST, watchdog_ms=2500), device)
    try:
        node.wait_log("online")
        time.sleep(3.5)  # fed well past the timeout while healthy
        assert node.proc.poll() is None
        node.hang()
        rc = node.wait(20)
        assert rc != 0
        node.wait_log("WATCHDOG")
    finally:
        node.kill()


def test_a_sensor_driver_hung_on_its_first_read_trips_the_watchdog(broker, runtime, tmp_path):
    # armed before the node's tasks start: the keeper that armed it used to run only
    # after the readings task's first read, so a hang there went unnoticed for ever
    device = "wdt0-" + runtime
    (tmp_path / "sim").mkdir()
    (tmp_path / "sim" / "hang").write_text("")  # the first read hangs
    node = NodeProc(runtime, broker, tmp_path, dict(FAST, watchdog_ms=1500), device)
    try:
        # the first connect starts before the first read: the watchdog stays fed for
        # that connect's DNS lookup (board.wdt_cover, 20 s at most), then trips
        rc = node.wait(40)
        assert rc != 0
        node.wait_log("WATCHDOG")
    finally:
        node.kill()


def test_a_reading_out_of_the_payload_range_is_skipped_and_readings_go_on(broker, runtime,
                                                                           tmp_path):
    # 3,000,000,000 does not fit a reading's INT32: the reading is logged and skipped,
    # while it used to end the publisher task (no state/ messages ever again, while
    # the node still said online)
    device = "range-" + runtime
    peer = watch(broker, device)
    node = NodeProc(runtime, broker, tmp_path, dict(FAST, watchdog_ms=3000), device)
    topic = node.base + "/state/temperature"
    try:
        node.wait_log("online")
        node.set_sensor("temperature", 3000000000)
        node.wait_log("sensor temperature failed: ValueError")
        time.sleep(2)  # four more reads, failing alike: not logged again (once a run)
        assert node.count("sensor temperature failed: ValueError") == 1, node.output[-2000:]
        node.set_sensor("temperature", 2200)  # a good read ends the run of failures
        node.wait_log("sensor temperature reads again")
        # a driver's float (21.5) is a sensor error too: it ended the publisher task
        # (TypeError in the encoder), and the watchdog reset the node
        node.set_sensor("temperature", 21.5)
        node.wait_log("sensor temperature failed: TypeError('21.5 is not an int in steps of 10^-2'")
        node.set_sensor("temperature", 2345)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            got = [pl.decode(m.payload)["values"][0][0] for m in peer.on(topic)]
            if 2345 in got:
                break
            time.sleep(0.1)
        assert 2345 in got, got
        node.wait_log("sensor temperature reads again", 2)
        stats = peer.wait_messages(node.base + "/stats", len(peer.on(node.base + "/stats")) + 1)
        assert json.loads(stats[-1].payload)["sensor_errors"] >= 1  # counted, not only logged
        assert node.proc.poll() is None and "Traceback" not in node.output
    finally:
        node.kill()
        peer.stop()


def test_a_node_stopped_with_ctrl_c_keeps_its_watchdog_fed_at_the_repl(broker, runtime,
                                                                       tmp_path):
    # A board's watchdog cannot be disarmed: after the Ctrl-C with which the REPL,
    # fieldnode config and deploy stop the node, the board keeps feeding it until
    # the next reset, or it would reset under the tool (on a Pico W 8.4 s later).
    # The unix board's software watchdog ends the process the same way.
    device = "hold-" + runtime
    # at rest (RESTING): with readings every 500 ms the PyPI unix port's Ctrl-C landed in
    # an allocation once, in a CI run: "MemoryError: memory allocation failed, heap is
    # locked", then "FATAL: uncaught NLR"
    cfg = dict(FAST, watchdog_ms=2000, **RESTING)
    node = NodeProc(runtime, broker, tmp_path, cfg, device, repl=True)
    try:
        node.wait_log("online")
        time.sleep(1)  # the first readings go out, then the node rests
        os.kill(node.proc.pid, signal.SIGINT)
        # "... status offline, disconnected"; "... disconnected with the Will (0x04):
        # the broker publishes .../status offline" when the ack never came; or, when
        # MicroPython's Ctrl-C landed in a task of the link and closed it, "stopped
        # while not connected: .../status is left to the Will"
        end = time.monotonic() + 20
        while time.monotonic() < end and not (node.count(node.base + "/status offline")
                                              or node.count("left to the Will")):
            time.sleep(0.1)
        assert node.count(node.base + "/status offline") or node.count("left to the Will"), \
            node.output
        time.sleep(4)  # two watchdog timeouts at the REPL
        assert node.proc.poll() is None, node.output
        node.type("print('at the REPL', 6 * 7)")
        node.wait_log("at the REPL 42")
        assert "WATCHDOG" not in node.output
    finally:
        node.kill()
