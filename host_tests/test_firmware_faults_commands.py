"""The firmware's commands through faults, under both runtimes: a burst of requests,
requests sent during an outage, a reboot; and a repeated reading's size on the wire
while answers to many Response Topics compete for the topic aliases."""

import json
import time

from fault_proxy import FaultProxy
from firmware_node import FAST, NodeProc, ask, cut_off, watch


def test_a_burst_of_commands_is_answered_or_counted_and_the_node_goes_on(broker, runtime,
                                                                          tmp_path):
    # 150 requests at once: each answered one used to hold a task and a copy until its
    # answer was out, and the MicroPython node ran out of heap (MemoryError, answers
    # lost uncounted).  At most 4 are handled at once; the rest are counted.
    device = "burst-" + runtime
    peer = watch(broker, device)
    reply = "reply/" + device
    peer.subscribe(reply, qos=1)
    node = NodeProc(runtime, broker, tmp_path, FAST, device)
    try:
        node.wait_log("online")
        n = 150
        for i in range(n):
            peer.publish(node.base + "/cmd/ping", b"", qos=1, correlation_data=b"b%d" % i,
                         response_topic=reply)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            answers = peer.on(reply)
            stats = [json.loads(m.payload) for m in peer.on(node.base + "/stats")]
            if stats and stats[-1]["commands_dropped"] + len(answers) == n \
                    and stats[-1]["commands"] == len(answers):
                break
            time.sleep(0.2)
        assert answers and stats[-1]["commands_dropped"] + len(answers) == n, \
            (len(answers), stats[-1:])
        assert stats[-1]["commands"] == len(answers)
        assert len({m.correlation_data for m in answers}) == len(answers)
        a = answers[0]
        assert json.loads(a.payload)["rc"] == 0
        assert (a.content_type, a.payload_format_indicator) == ("application/json", 1)
        # afterwards the node answers and publishes as before
        peer.publish(node.base + "/cmd/ping", b"", qos=1, correlation_data=b"after",
                     response_topic=reply)
        got = peer.wait_messages(reply, len(answers) + 1)[-1]
        assert got.correlation_data == b"after"
        assert node.proc.poll() is None and "MemoryError" not in node.output
    finally:
        node.kill()
        peer.stop()


def test_commands_sent_during_an_outage_are_all_answered_after_it(broker, runtime, tmp_path):
    # the broker delivers an outage's requests at once when the node comes back: beyond
    # the 4 answered at once they were dropped (acknowledged to the broker, never run)
    device = "backlog-" + runtime
    peer = watch(broker, device)
    reply = "reply/" + device  # (watch() subscribes to it)
    proxy = FaultProxy(broker.host, broker.port)
    node = NodeProc(runtime, proxy, tmp_path, FAST, device)
    try:
        node.wait_log("online")
        cut_off(proxy, node)
        n = 10
        for i in range(n):
            peer.publish(node.base + "/cmd/ping", b"", qos=1, correlation_data=b"o%d" % i,
                         response_topic=reply)
        proxy.refuse(False)
        answers = peer.wait_messages(reply, n, timeout=60)
        assert sorted(m.correlation_data for m in answers) == sorted(b"o%d" % i
                                                                     for i in range(n))
        assert all(json.loads(m.payload)["rc"] == 0 for m in answers)
        assert "commands dropped" not in node.output and "Traceback" not in node.output
    finally:
        node.kill()
        proxy.close()
        peer.stop()


def test_a_repeated_reading_costs_at_most_16_bytes_on_the_wire(broker, runtime, tmp_path):
    # QoS 1, retained, topic alias: fixed header 2 + empty topic 2 + packet id 2
    # + properties 4 (length, Topic Alias) + payload 6 (docs/payload.md) = 16 B
    device = "wire-" + runtime
    peer = watch(broker, device)
    proxy = FaultProxy(broker.host, broker.port, capture=True)
    node = NodeProc(runtime, proxy, tmp_path, FAST, device)
    try:
        node.wait_log("online")
        peer.wait_messages(node.base + "/state/temperature", 4)
        # answers to 10 Response Topics, and events: they took the readings' aliases
        # (8, least recently used first), whose next publish then named the topic in
        # full, 52 bytes, and without its Content Type
        peer.subscribe("reply/%s/#" % device, qos=1)
        for k in range(10):
            peer.publish("fieldnode/v1/%s/cmd/ping" % device, b"", qos=1,
                         correlation_data=b"%d" % k, response_topic="reply/%s/%d" % (device, k))
        peer.wait_messages("reply/%s/9" % device, 1)
        node.press_button()
        peer.wait_messages(node.base + "/event/button", 1)
        n = len(peer.on(node.base + "/state/temperature"))
        peer.wait_messages(node.base + "/state/temperature", n + 3)
        conn = proxy.all_connections()[0]
        pubs = [p for t, p in conn.mqtt_packets("up") if t == 3 and p[0] & 0x01]  # retained
        sizes = [len(p) for p in pubs]
        print("retained PUBLISH sizes on the wire:", sizes)
        assert len(pubs) >= 10
        # the status (birth), then each sensor's first reading name their topics; every
        # reading after those is an alias, the answers' and the event's publishes between
        assert min(sizes[:3]) > 40 and max(sizes[3:]) <= 16, sizes
    finally:
        node.kill()
        peer.stop()
        proxy.close()


def test_reboot_answers_then_says_offline_and_resets(broker, runtime, tmp_path):
    device = "reboot-" + runtime
    peer = watch(broker, device)
    node = NodeProc(runtime, broker, tmp_path, FAST, device)
    try:
        node.wait_log("online")
        ans = ask(peer, device, "reboot", b"r1")
        assert json.loads(ans.payload)["rc"] == 0 and ans.correlation_data == b"r1"
        assert node.wait(15) == 3, node.output  # the unix board reset()
        status = peer.wait_messages(node.base + "/status", 2)
        assert status[-1].payload == b"offline"
        assert "board: reset" in node.output
        assert "Traceback" not in node.output, node.output  # a reset, not a crash
    finally:
        node.kill()
        peer.stop()
