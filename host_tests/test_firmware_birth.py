"""What the node's log and stats say about its birth `online` and its stats messages:
a birth the broker's ACL refuses is logged as refused (once a run), not as `online`,
and counted; a stats message that only went into the offline queue is logged as
queued, not as sent (`-> stats`)."""

import json
import os
import time

import pytest

from fault_proxy import FaultProxy
from firmware_node import FAST, NodeProc, watch
from runtimes import M32_FROZEN


def _stats(node, head="-> stats "):
    # the stats JSON of every `node: <head>{...}` line so far
    return [json.loads(ln.split(head, 1)[1]) for ln in node.output.splitlines()
            if ln.startswith("node: " + head)]


@pytest.mark.runtimes(("cpython", "micropython", M32_FROZEN))  # (as a board runs it)
def test_a_birth_the_acl_refuses_is_logged_as_refused_not_online(broker_factory, runtime,
                                                                  tmp_path):
    # Mosquitto answers PUBACK 0x87 to a publish its ACL denies: the node logged
    # `<base>/status online` at every connect all the same, and counted nothing
    device = "nobirth-" + runtime
    acl = os.path.join(str(tmp_path), "acl")
    with open(acl, "w") as f:  # everything the node sends but its status
        f.write("topic readwrite fieldnode/v1/%s/state/#\n"
                "topic readwrite fieldnode/v1/%s/stats\n"
                "topic read fieldnode/v1/%s/cmd/#\n"
                "topic readwrite reply/#\n" % ((device,) * 3))
    b = broker_factory(extra_config="acl_file %s" % acl)
    proxy = FaultProxy(b.host, b.port)
    peer = watch(b, device)
    node = NodeProc(runtime, proxy, os.path.join(str(tmp_path), "home"), FAST, device)
    status = "fieldnode/v1/%s/status" % device
    try:
        node.wait_log("publish %s refused: PUBACK 0x87 Not authorized" % status)
        node.wait_log("-> state/temperature", 2)  # the node goes on
        for n in (1, 2, 3):  # counted at each link, logged once a run
            if n > 1:
                proxy.cut()
                node.wait_log("connected to", n)
            end = time.monotonic() + 20
            while not _stats(node) or _stats(node)[-1]["refused"] < n:
                assert time.monotonic() < end, node.output
                time.sleep(0.2)
        assert node.count(" refused: ") == 1, node.output
        assert node.count("online") == 0, node.output
        assert node.count("-> state/temperature") > 3
        assert not peer.on(status)
        assert "Traceback" not in node.output
    finally:
        node.kill()
        proxy.close()
        peer.stop()


def test_online_is_logged_once_the_birth_is_acknowledged(broker, runtime, tmp_path):
    device = "birth-" + runtime
    peer = watch(broker, device)
    proxy = FaultProxy(broker.host, broker.port)
    node = NodeProc(runtime, proxy, tmp_path, FAST, device)
    status = "fieldnode/v1/%s/status online" % device
    try:
        node.wait_log(status)
        assert peer.wait_messages(node.base + "/status", 1)[0].payload == b"online"
        proxy.cut()
        node.wait_log(status, 2, timeout=30)  # at each link
        node.wait_log("-> stats ", node.output.count("-> stats ") + 1)
        assert _stats(node)[-1]["refused"] == 0
        assert " refused: " not in node.output and "Traceback" not in node.output
    finally:
        node.kill()
        proxy.close()
        peer.stop()


def test_stats_that_only_went_into_the_offline_queue_are_logged_as_queued(
        broker_factory, runtime, tmp_path):
    # The broker allows one QoS 1 message in flight (Receive Maximum 1) and its answers
    # stop coming: a reading holds the one slot, a button event waits in the offline
    # queue, and each stats message (QoS 0) waits behind it. The node logged
    # `-> stats {...}` for each, though none went out.
    b = broker_factory(options=["max_inflight_messages 1"])
    device = "statsq-" + runtime
    peer = watch(b, device)
    proxy = FaultProxy(b.host, b.port)
    node = NodeProc(runtime, proxy, tmp_path, FAST, device)
    try:
        node.wait_log("online")
        node.wait_log("-> stats ")
        proxy.blackhole("down")  # our bytes still reach the broker, nothing comes back
        # (one queued before, behind readings waiting for the broker's one slot, went
        # out once they were acknowledged: only those queued from here on never do)
        before = len(_stats(node, "stats queued "))
        time.sleep(1)  # a reading goes out, unacknowledged
        node.press_button()
        node.wait_log("button pressed")
        n = len(_stats(node)) + len(_stats(node, "stats queued "))
        end = time.monotonic() + 10  # two stats messages more, said either way
        while len(_stats(node)) + len(_stats(node, "stats queued ")) < n + 2:
            assert time.monotonic() < end, node.output
            time.sleep(0.2)
        time.sleep(0.5)
        got = {json.loads(m.payload)["uptime_s"] for m in peer.on(node.base + "/stats")}
        said = [s["uptime_s"] for s in _stats(node)]
        assert set(said) <= got, (said, got)  # each `-> stats` reached the broker
        queued = {s["uptime_s"] for s in _stats(node, "stats queued ")[before:]}
        assert queued and not queued & got, (queued, got)
        assert "Traceback" not in node.output
    finally:
        node.kill()
        proxy.close()
        peer.stop()
