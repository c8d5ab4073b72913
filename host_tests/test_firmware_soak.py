"""45 s of the whole node: readings, events, commands and one broker restart
(half way), with no MemoryError and nothing stuck: some 85 requests (a ping,
get_state, get_config or identify every 0.5 s, about half on each side of the
restart), a button event every 1.5 s, a threshold crossing every 2.5 s, readings
every 300 / 400 ms, stats every second. (It ran two minutes until 2026-12-06; cut
for the suite's time: the restart and this load are what it covers.)

On the 32-bit unix build with the library, the firmware and the unix board frozen
in (`micropython-m32-frozen`, the object layout of an ESP32 or RP2040 and bytecode
out of the heap, as on a flashed board), in a 64 KiB heap, started as the boards
start it: the frozen `main` (`-m main`).

Every request is accounted for: each correlation id sent gets its answer (only the
requests in flight at the broker restart may go unanswered, see IN_FLIGHT), and the
node's own stats count as many requests as were asked.
"""

import json
import time

import pytest

from firmware_node import FAST, NodeProc
from paho_peer import PahoPeer
from runtimes import M32_FROZEN
import payload as pl  # noqa: E402 (firmware/, put on the path by firmware_node)

SOAK_S = 45
HEAP = "64k"
RUNTIME = M32_FROZEN
REPLY = "reply/soak"
# Requests sent just before the broker restart (one every 0.5 s, the last one right
# before it) may go unanswered: a QoS 1 request the broker had acknowledged is
# delivered again after the restart (persistent session), but its answer can reach the
# broker before the second watcher has subscribed to REPLY, or be dropped with the link
# that went down. Every request sent after the restart must be answered.
IN_FLIGHT = 2


@pytest.mark.slow
def test_45_s_of_everything_with_a_broker_restart(broker_factory, device_builds, tmp_path):
    device_builds(RUNTIME)
    b = broker_factory(persistence=True)
    device = "soak"
    peer = PahoPeer(b, "watch-soak").start()
    peer.subscribe("fieldnode/v1/soak/#", qos=1)
    peer.subscribe(REPLY, qos=1)
    cfg = dict(FAST, sensors={"temperature": {"interval_ms": 300, "high": 2500, "hysteresis": 20},
                              "humidity": {"interval_ms": 400}})
    node = NodeProc(RUNTIME, b, tmp_path, cfg, device, heapsize=HEAP)
    asked = 0
    restarted_after = None  # the last request sent before the restart
    peers = [peer]
    try:
        node.wait_log("online")
        start = time.monotonic()
        while time.monotonic() - start < SOAK_S:
            t = time.monotonic() - start
            asked += 1
            cmd = ("ping", "get_state", "get_config", "identify")[asked % 4]
            peer.publish(node.base + "/cmd/" + cmd, b"{}" if cmd != "identify" else b'{"seconds": 1}',
                         qos=1, correlation_data=b"soak-%d" % asked, response_topic=REPLY)
            if asked % 3 == 0:
                node.press_button()
            node.set_sensor("temperature", 2600 if asked % 10 < 5 else 2400)
            if restarted_after is None and t > SOAK_S / 2:
                b.restart()
                peer.stop()
                peer = PahoPeer(b, "watch-soak-2").start()
                peers.append(peer)
                peer.subscribe("fieldnode/v1/soak/#", qos=1)
                peer.subscribe(REPLY, qos=1)
                restarted_after = asked
                node.wait_log("online", 2, timeout=30)
            time.sleep(0.5)
            assert node.proc.poll() is None, node.output[-3000:]
        assert restarted_after is not None
        # after the restart: readings, events, answers and stats still flow
        for s in ("temperature", "humidity"):
            pl.decode(peer.wait_messages(node.base + "/state/" + s, 5)[-1].payload)
        peer.wait_messages(node.base + "/event/button", 3)
        # every request answered, by correlation id (both watchers' answers), rc 0
        must = set(range(1, asked + 1))
        may_miss = set(range(restarted_after - IN_FLIGHT + 1, restarted_after + 1))
        deadline = time.monotonic() + 20
        while True:
            answers = [m for p in peers for m in p.on(REPLY)]
            got = {int(m.correlation_data[5:]) for m in answers}
            missing = must - got
            if missing <= may_miss or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert missing <= may_miss, "%d of %d requests unanswered: %s" % (
            len(missing), asked, sorted(missing))
        assert got <= must and all(json.loads(m.payload)["rc"] == 0 for m in answers), answers
        # the node's own count: every request ran once (a QoS 1 request delivered again
        # after the restart is answered from the Responder's memory, not run again)
        n = len(peer.on(node.base + "/stats"))
        stats = json.loads(peer.wait_messages(node.base + "/stats", n + 2)[-1].payload)
        assert stats["reconnects"] >= 1 and stats["uptime_s"] >= SOAK_S - 5
        assert stats["command_errors"] == stats["commands_dropped"] == 0, stats
        assert asked - IN_FLIGHT <= stats["commands"] <= asked, (asked, stats)
        assert node.interrupt() == 0
    finally:
        node.kill()
        peer.stop()
        out = node.output
        print(out[-3000:])
    assert "MemoryError" not in out and "Traceback" not in out
