"""The firmware on a slow link (a cellular one: seconds of latency each way), under both
runtimes: events come faster than one per round trip and none is dropped while the
link is up. Found by a cellular-link audit; the test fails with the code before it."""

import json
import time

from fault_proxy import FaultProxy
from firmware_node import FAST, NodeProc, watch
import payload as pl  # noqa: E402 (firmware/, put on the path by firmware_node)

QUIET = {"temperature": {"interval_ms": 60000}, "humidity": {"interval_ms": 60000}}


def _slow_node(broker, runtime, tmp_path, name, **cfg):
    # (watcher, proxy, node): the node online, then 1 s added each way
    device = name + runtime
    peer = watch(broker, device)
    proxy = FaultProxy(broker.host, broker.port)
    node = NodeProc(runtime, proxy, tmp_path, dict(FAST, keepalive=30, sensors=QUIET, **cfg),
                    device)
    try:
        node.wait_log("online")
    except BaseException:
        node.kill()
        proxy.close()
        peer.stop()
        raise
    proxy.delay(1000)
    return peer, proxy, node


def _press(node, n, gap_s):
    for i in range(n):
        node.press_button()
        node.wait_log("button pressed", i + 1)
        time.sleep(gap_s)


def test_events_faster_than_a_round_trip_all_arrive_in_order(broker, runtime, tmp_path):
    # 1 s each way (a 2 s round trip) and a press every 0.7 s for about 11 s, with
    # queue_count 4. Before, the events task awaited each PUBACK before the next
    # publish: one event per round trip, the wait list overflowed (from about the 8th
    # press) and about a third of the presses were dropped with the link up. Now up to
    # 4 are in flight (about 3 needed at this pace): all 16 arrive, once each, in the
    # order they happened.
    n = 16
    peer, proxy, node = _slow_node(broker, runtime, tmp_path, "slow-", queue_count=4)
    try:
        _press(node, n, 0.6)
        got = peer.wait_messages(node.base + "/event/button", n, timeout=30)
        seqs = [pl.decode(m.payload)["seq"] for m in got]
        assert seqs == list(range(1, n + 1)), seqs
        assert node.count(" dropped: ") == 0, node.output
        for _ in range(100):  # the newest stats: all sent, none dropped
            stats = json.loads(peer.on(node.base + "/stats")[-1].payload)
            if stats["events"] == n:
                break
            time.sleep(0.2)
        assert (stats["events"], stats["events_dropped"]) == (n, 0), stats
        assert node.count("link down") == 0 and "Traceback" not in node.output
        time.sleep(1)
        assert len(peer.on(node.base + "/event/button")) == n
    finally:
        node.kill()
        proxy.close()
        peer.stop()


def test_events_in_flight_when_the_link_is_lost_arrive_in_order(broker, runtime, tmp_path):
    # Up to 4 events await their PUBACK on a slow link when it is cut: the Supervisor
    # keeps them and sends them again on the next link, before the events that waited
    # meanwhile. A resent one may arrive twice (QoS 1), but each arrives, and the
    # first arrivals are in the order the events happened.
    n = 8
    peer, proxy, node = _slow_node(broker, runtime, tmp_path, "slowcut-")
    try:
        _press(node, n, 0)
        proxy.cut()
        node.wait_log("link down")
        node.wait_log("-> event/button #%d" % n, timeout=40)
        for _ in range(100):  # acknowledged: the broker passes it on to the peer too
            seqs = [pl.decode(m.payload)["seq"] for m in peer.on(node.base + "/event/button")]
            if n in seqs:
                break
            time.sleep(0.1)
        first = [s for i, s in enumerate(seqs) if s not in seqs[:i]]
        assert first == list(range(1, n + 1)), seqs
        assert node.count(" dropped: ") == 0, node.output
    finally:
        node.kill()
        proxy.close()
        peer.stop()
