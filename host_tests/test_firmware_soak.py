"""Two minutes of the whole node: readings, events, commands and one broker
restart, with no MemoryError and nothing stuck.

On the 32-bit unix build with the library, the firmware and the unix board frozen
in (`micropython-m32-frozen`, the object layout of an ESP32 or RP2040 and bytecode
out of the heap, as on a flashed board), in a 64 KiB heap, started as the boards
start it: the frozen `main` (`-m main`).
"""

import json
import time

import pytest

from firmware_node import FAST, NodeProc
from paho_peer import PahoPeer
from runtimes import M32_FROZEN
import payload as pl  # noqa: E402 (firmware/, put on the path by firmware_node)

SOAK_S = 120
HEAP = "64k"
RUNTIME = M32_FROZEN


@pytest.mark.slow
def test_two_minutes_of_everything_with_a_broker_restart(broker_factory, device_builds, tmp_path):
    device_builds(RUNTIME)
    b = broker_factory(persistence=True)
    device = "soak"
    peer = PahoPeer(b, "watch-soak").start()
    peer.subscribe("fieldnode/v1/soak/#", qos=1)
    peer.subscribe("reply/soak", qos=1)
    cfg = dict(FAST, sensors={"temperature": {"interval_ms": 300, "high": 2500, "hysteresis": 20},
                              "humidity": {"interval_ms": 400}})
    node = NodeProc(RUNTIME, b, tmp_path, cfg, device, heapsize=HEAP)
    asked = 0
    restarted = False
    try:
        node.wait_log("online")
        start = time.monotonic()
        while time.monotonic() - start < SOAK_S:
            t = time.monotonic() - start
            asked += 1
            cmd = ("ping", "get_state", "get_config", "identify")[asked % 4]
            peer.publish(node.base + "/cmd/" + cmd, b"{}" if cmd != "identify" else b'{"seconds": 1}',
                         qos=1, correlation_data=b"soak-%d" % asked, response_topic="reply/soak")
            if asked % 3 == 0:
                node.press_button()
            node.set_sensor("temperature", 2600 if asked % 10 < 5 else 2400)
            if not restarted and t > SOAK_S / 2:
                b.restart()
                peer.stop()
                peer = PahoPeer(b, "watch-soak-2").start()
                peer.subscribe("fieldnode/v1/soak/#", qos=1)
                peer.subscribe("reply/soak", qos=1)
                restarted = True
                node.wait_log("online", 2, timeout=30)
            time.sleep(0.5)
            assert node.proc.poll() is None, node.output[-3000:]
        # after the restart: readings, events, answers and stats still flow
        for s in ("temperature", "humidity"):
            pl.decode(peer.wait_messages(node.base + "/state/" + s, 5)[-1].payload)
        peer.wait_messages(node.base + "/event/button", 3)
        answers = [json.loads(m.payload) for m in peer.wait_messages("reply/soak", 20)]
        assert all(a["rc"] == 0 for a in answers)
        peer.wait_messages(node.base + "/stats", 2)
        stats = json.loads(peer.on(node.base + "/stats")[-1].payload)
        assert stats["reconnects"] >= 1 and stats["uptime_s"] >= SOAK_S - 5
        assert node.interrupt() == 0
    finally:
        node.kill()
        peer.stop()
        out = node.output
        print(out[-3000:])
    assert "MemoryError" not in out and "Traceback" not in out
