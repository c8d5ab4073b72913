"""The firmware through long or awkward outages, under both runtimes: a flood of
events while the broker is away stays within `queue_count` (the rest dropped and
counted, never the heap), a stop whose `offline` was not acknowledged leaves the
status to the Will, retained readings come back after a broker restart that
lost them, and nothing but `offline` goes out once the node stops. Found by a network audit; each test fails with the code before it."""

import json
import os
import signal
import time

import pytest

from fault_proxy import FaultProxy
from firmware_node import FAST, RESTING, NodeProc, ask, cut_off, watch
import payload as pl  # noqa: E402 (firmware/, put on the path by firmware_node)

QUIET = {"temperature": {"interval_ms": 60000}, "humidity": {"interval_ms": 60000}}


def test_events_of_a_long_outage_stay_within_queue_count(broker, runtime, tmp_path):
    # 40 button presses while the broker is away, queue_count 20: the one being
    # sent and the newest 20 arrive, 19 are dropped, logged and counted.  Before,
    # each event waited in a task of its own outside the queue's limits: CPython
    # delivered all 40, MicroPython ran out of heap after about 60 and the node died.
    device = "flood-" + runtime
    peer = watch(broker, device)
    proxy = FaultProxy(broker.host, broker.port)
    cfg = dict(FAST, queue_count=20, event_expiry_s=600, sensors=QUIET)
    node = NodeProc(runtime, proxy, tmp_path, cfg, device)
    try:
        node.wait_log("online")
        cut_off(proxy, node)
        for i in range(40):
            node.press_button()
            node.wait_log("button pressed", i + 1)
        node.wait_log("dropped: 20 newer events waiting (queue_count)", 19)
        proxy.refuse(False)
        got = peer.wait_messages(node.base + "/event/button", 21, timeout=90)  # (backoff)
        seqs = [pl.decode(m.payload)["seq"] for m in got]
        assert seqs == [1] + list(range(21, 41)), seqs
        time.sleep(1)
        assert len(peer.on(node.base + "/event/button")) == 21
        stats = json.loads(peer.wait_messages(node.base + "/stats", 1)[-1].payload)
        for _ in range(50):  # the newest stats
            stats = json.loads(peer.on(node.base + "/stats")[-1].payload)
            if stats["events"] == 21:
                break
            time.sleep(0.2)
        assert (stats["events"], stats["events_dropped"]) == (21, 19), stats
        assert node.proc.poll() is None and "Traceback" not in node.output
    finally:
        node.kill()
        proxy.close()
        peer.stop()


def test_a_stop_whose_offline_was_not_acknowledged_leaves_the_status_to_the_will(
        broker_factory, runtime, tmp_path):
    # The broker allows one QoS 1 message in flight (Receive Maximum 1) and its acks
    # stop coming: `offline` waits for a slot and is never sent.  DISCONNECT 0x00
    # then made the broker drop the Will, so the retained status said `online` for a
    # stopped node; 0x04 (with Will Message) makes it publish `offline`.
    # The node is at rest (RESTING: the PyPI unix port's Ctrl-C can break a node that
    # is allocating, firmware_node.py), and a button event (QoS 1) goes out after the
    # acks stop, or waits behind a boot reading whose ack was the first lost. Either
    # way a message holds the one slot. (Were neither out yet, `offline` would take the
    # slot and go unacknowledged: 0x04 all the same.)
    b = broker_factory(options=["max_inflight_messages 1"])
    device = "halfopen-" + runtime
    peer = watch(b, device)
    proxy = FaultProxy(b.host, b.port)
    node = NodeProc(runtime, proxy, tmp_path, dict(FAST, will_delay=1, **RESTING), device)
    try:
        node.wait_log("online")
        peer.wait_messages(node.base + "/state/temperature", 1)
        proxy.blackhole("down")  # our bytes still reach the broker, nothing comes back
        node.press_button()
        node.wait_log("button pressed")
        time.sleep(1)
        assert node.interrupt() == 0
        assert "disconnected with the Will (0x04)" in node.output, node.output
        status = peer.wait_messages(node.base + "/status", 2, timeout=15)
        assert status[-1].payload == b"offline", status
        late = watch(b, device, "late-")  # what a dashboard sees from now on
        assert late.wait_messages(node.base + "/status", 1)[0].payload == b"offline"
        late.stop()
    finally:
        node.kill()
        proxy.close()
        peer.stop()


def test_retained_readings_come_back_after_a_broker_restart_that_lost_them(
        broker_factory, runtime, tmp_path):
    # No persistence: the restarted broker has lost the node's session and every
    # retained message.  The node publishes its newest readings again at once,
    # rather than at its next reading (here a minute away).
    b = broker_factory()
    device = "restart-" + runtime
    node = NodeProc(runtime, b, tmp_path, dict(FAST, sensors=QUIET), device)
    try:
        node.wait_log("online")
        node.wait_log("-> state/humidity")
        node.wait_log("-> state/temperature")
        b.restart()
        node.wait_log("online", 2, timeout=30)
        # the broker closed the link: said so (it read "OSError(104)", a reset)
        assert "closed by the server)" in node.output, node.output
        node.wait_log("-> state/humidity", 2)  # published again, acknowledged
        node.wait_log("-> state/temperature", 2)
        late = watch(b, device, "late-")  # gets what the broker retained
        for s in ("temperature", "humidity"):
            m = late.wait_messages(node.base + "/state/" + s, 1, timeout=10)[0]
            assert m.retain and pl.decode(m.payload)["seq"] == 1, m
        late.stop()
    finally:
        node.kill()


def test_the_watchdog_is_fed_while_the_wifi_rejoins(broker, runtime, tmp_path):
    # The Wi-Fi goes (the unix board's sim/network_down): each join waits up to
    # network_timeout_ms.  The keeper awaited the join itself and fed nothing
    # meanwhile, so a join longer than watchdog_ms reset the node, losing what it held.
    cfg = dict(FAST, watchdog_ms=3000, network_timeout_ms=4000)
    peer = watch(broker, "rejoin-" + runtime)
    node = NodeProc(runtime, broker, tmp_path, cfg, "rejoin-" + runtime)
    down = tmp_path / "sim" / "network_down"
    try:
        node.wait_log("online")
        down.write_text("")
        node.wait_log("network lost: joining again", timeout=3)  # at once, not after a join
        node.wait_log("network failed (timeout): next try in 1 s", timeout=15)
        down.unlink()
        node.wait_log("network back after ")  # the operator sees it
        assert node.output.count("network lost: joining again") == 1, node.output
        n = node.output.count("-> state/temperature")
        node.wait_log("-> state/temperature", n + 2)  # the node goes on
        assert node.proc.poll() is None and "WATCHDOG" not in node.output, node.output
        stats = node.base + "/stats"
        st = json.loads(peer.wait_messages(stats, len(peer.on(stats)) + 1)[-1].payload)
        assert st["network_rejoins"] == 1, st
    finally:
        node.kill()
        peer.stop()


def test_a_driver_error_at_boot_is_retried_not_the_end(broker, runtime, tmp_path):
    # The first join raised something other than NetworkError (an OSError from a
    # driver, a MemoryError): it ended main.py at boot, before the watchdog was armed,
    # and left the board at the REPL for good
    err = tmp_path / "sim" / "network_error"
    err.parent.mkdir(parents=True, exist_ok=True)
    err.write_text("")
    node = NodeProc(runtime, broker, tmp_path, FAST, "drverr-" + runtime)
    try:
        node.wait_log("simulated driver error): next try in 1 s")  # (MicroPython: EIO: too)
        err.unlink()
        node.wait_log("online", timeout=15)
        assert node.proc.poll() is None and "Traceback" not in node.output, node.output
    finally:
        node.kill()


def test_a_driver_error_while_running_is_said_not_a_traceback(broker, runtime, tmp_path):
    # The Wi-Fi went and the driver raised OSError on the rejoin: the rejoin task died
    # with "Task exception wasn't retrieved" and a traceback, made again every second
    node = NodeProc(runtime, broker, tmp_path, FAST, "drverr2-" + runtime)
    sim = tmp_path / "sim"
    try:
        node.wait_log("online")
        sim.mkdir(parents=True, exist_ok=True)
        (sim / "network_error").write_text("")
        (sim / "network_down").write_text("")
        # said with the pause before the next try, which grows: a rejoin each second
        # said the same line each time
        node.wait_log("simulated driver error): next try in 4 s", timeout=15)
        assert node.count("network failed (") == 3, node.output  # 1 s, 2 s, 4 s
        (sim / "network_error").unlink()
        (sim / "network_down").unlink()
        node.wait_log("network back after", timeout=15)
        assert "Traceback" not in node.output and "Task exception" not in node.output, \
            node.output
        assert node.proc.poll() is None
    finally:
        node.kill()


def test_a_retained_command_is_not_run_at_every_boot(broker, runtime, tmp_path):
    # A request published with retain (by mistake, or by anyone allowed to publish
    # there) stays on the broker: the node's subscription got it at every boot and
    # every session loss, so a retained `reboot` put the node in a reboot loop.
    device = "retained-" + runtime
    peer = watch(broker, device)
    peer.subscribe("reply/" + device, qos=1)
    base = "fieldnode/v1/" + device
    peer.publish(base + "/cmd/reboot", b"{}", qos=1, retain=True, correlation_data=b"r",
                 response_topic="reply/" + device)
    node = NodeProc(runtime, broker, tmp_path, FAST, device)
    try:
        node.wait_log("online")
        peer.publish(base + "/cmd/ping", b"", qos=1, correlation_data=b"p",
                     response_topic="reply/" + device)
        ans = peer.wait_messages("reply/" + device, 1)
        assert [m.correlation_data for m in ans] == [b"p"], ans  # the ping only
        time.sleep(1)
        assert node.proc.poll() is None and "cmd reboot" not in node.output, node.output
    finally:
        node.kill()
        peer.publish(base + "/cmd/reboot", b"", qos=1, retain=True)  # empty: clears it
        peer.stop()


def test_after_a_dead_link_the_readings_carry_their_content_type_again(broker, runtime,
                                                                        tmp_path):
    # The link goes silently dead with a QoS 1 reading in flight; the node sees it at
    # the keep-alive and resumes its session, which resends those bytes as they were
    # [MQTT-4.4.0-1]: without the Content Type, sent on the old link only. That resend
    # completed after the new link had cleared "Content Type sent", and set it again:
    # no reading of the topic carried its Content Type on the new link.
    device = "deadlink-" + runtime
    peer = watch(broker, device)
    proxy = FaultProxy(broker.host, broker.port)
    cfg = dict(FAST, sensors={"temperature": {"interval_ms": 1000},
                              "humidity": {"interval_ms": 60000}})
    node = NodeProc(runtime, proxy, tmp_path, cfg, device)
    topic = node.base + "/state/temperature"
    try:
        node.wait_log("-> state/temperature #3")
        proxy.blackhole()
        node.wait_log("link down", timeout=30)  # a reading went into the dead link
        proxy.refuse(True)
        proxy.cut()
        proxy.pass_through()
        time.sleep(1)
        up_at = time.monotonic()
        proxy.refuse(False)
        node.wait_log("online", 2)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            new = [m for m in peer.on(topic) if m.at > up_at]
            if len(new) >= 3:
                break
            time.sleep(0.2)
        assert len(new) >= 3 and any(m.content_type == pl.CT_READING for m in new), \
            [(pl.decode(m.payload), m.content_type) for m in new]
        assert node.proc.poll() is None and "Traceback" not in node.output
    finally:
        node.kill()
        proxy.close()
        peer.stop()


def _after_offline(peer, start, device):
    # what the broker delivered after the node's first `offline` since index `start`
    # of the peer's log: nothing, or the Will's `offline` (anything of the node's, and
    # its answers on reply/<device>, counts; the peer's own requests do not)
    status = "fieldnode/v1/%s/status" % device
    got = [m for m in peer.messages[start:] if "/cmd/" not in m.topic]
    i = next((k for k, m in enumerate(got) if m.topic == status and m.payload == b"offline"),
             None)
    assert i is not None, got
    return [m for m in got[i + 1:] if (m.topic, m.payload) != (status, b"offline")]


# Ctrl-C on CPython only: with readings every 500 ms the PyPI unix port's Ctrl-C can
# land in an allocation (firmware_node.py RESTING), which a reboot never does
@pytest.mark.parametrize("runtime,stop", [("cpython", "reboot"), ("micropython", "reboot"),
                                          ("cpython", "ctrl-c")])
def test_nothing_but_offline_goes_out_once_the_node_stops(broker, runtime, tmp_path, stop):
    # A stop (Ctrl-C, `make run`'s end, a `reboot`) while readings and stats are due:
    # the readings, publisher and stats tasks went on during the goodbye, so a
    # subscriber saw state/* (retained!) and stats after `offline`, and the node logged
    # "stats refused: not connected" (2 of 4 `make run RUN_SECONDS=N` runs). The link
    # here is slow (300 ms each way), as a cellular one: `offline`'s ack takes 600 ms,
    # over a reading's interval (FAST: 500 ms), which made it happen at every stop.
    # A command that came during the goodbye was answered after `offline` too, and so
    # was a repeat of one answered before (the Responder replays its remembered
    # answer without asking the node).
    # One stop each: on this link each of those faults shows at the first stop (the
    # checks on the readings, the stats and the commands undone one at a time: each
    # caught by the first of 3 stops, in every case it touches, 2 tries of 2)
    device = "quiet-stop-%s-%s" % (stop, runtime)
    peer = watch(broker, device)
    proxy = FaultProxy(broker.host, broker.port)
    proxy.delay(300)
    try:
        node = NodeProc(runtime, proxy, tmp_path, FAST, device)
        try:
            node.wait_log("-> stats")  # readings and stats going out
            node.wait_log("-> state/temperature", 3)
            ask(peer, device, "ping", b"rep")  # answered, and remembered for a repeat
            if stop == "reboot":
                peer.publish(node.base + "/cmd/reboot", b"", qos=1, correlation_data=b"r",
                             response_topic="reply/" + device)
            else:
                os.killpg(node.proc.pid, signal.SIGINT)
            # pings until it is gone, new ones and repeats of the one answered: none of
            # those of the goodbye is answered
            for k in range(400):
                if node.proc.poll() is not None:
                    break
                peer.publish(node.base + "/cmd/ping", b"",
                             correlation_data=b"rep" if k % 2 else b"p%d" % k,
                             response_topic="reply/" + device)
                time.sleep(0.05)
            assert node.wait() == (3 if stop == "reboot" else 0), node.output
        finally:
            node.kill()
        assert node.base + "/status offline, disconnected" in node.output, node.output
        if stop == "ctrl-c":  # said at once (CPython said it after the whole goodbye)
            out = node.output
            assert out.index("stopping: offline, then disconnect") < out.index(
                "/status offline, disconnected"), out
        time.sleep(1)  # (what the proxy still held)
        late = _after_offline(peer, 0, device)
        assert late == [], "%r\n%s" % (late, node.output)
        assert "stats refused" not in node.output, node.output
    finally:
        proxy.close()
        peer.stop()


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_ctrl_c_in_a_reboots_delay_says_goodbye_and_does_not_reset(broker, runtime, tmp_path):
    # Ctrl-C within the 300 ms a `reboot` waits for its answer to go: the reboot then
    # called stop(), which returned at once (the goodbye was under way), and reset the
    # board in the middle of that goodbye (exit 3, no `offline` but the Will's), where
    # Ctrl-C leaves a board at its REPL. At rest (RESTING): Ctrl-C then lands between
    # allocations on the PyPI unix port too (firmware_node.py)
    device = "reboot-int-" + runtime
    peer = watch(broker, device)
    proxy = FaultProxy(broker.host, broker.port)
    try:
        node = NodeProc(runtime, proxy, tmp_path, dict(FAST, **RESTING), device)
        try:
            node.wait_log("online")
            proxy.delay(300)  # `offline`'s ack takes 600 ms: the reboot wakes meanwhile
            time.sleep(0.5)
            peer.publish(node.base + "/cmd/reboot", b"", qos=1, correlation_data=b"r",
                         response_topic="reply/" + device)
            node.wait_log("-> answer reboot", timeout=10)
            time.sleep(0.1)
            assert node.interrupt() == 0, node.output
        finally:
            node.kill()
        assert node.base + "/status offline, disconnected" in node.output, node.output
        assert "board: reset" not in node.output, node.output
    finally:
        proxy.close()
        peer.stop()


def _interrupt_at_rest(node):
    # Ctrl-C in a pause of 0.5 s or more between tries, so that it lands at rest, not
    # in a connect (the PyPI unix port: test_firmware_faults_broker.py)
    n = 1
    while True:
        node.wait_log("next try in ", n, timeout=30)
        last = [ln for ln in node.lines if "next try in " in ln][n - 1]
        if float(last.rsplit("next try in ", 1)[1].split()[0]) >= 0.5 or n == 8:
            break
        n += 1
    return node.interrupt()


def test_a_node_stopped_before_any_connection_claims_no_will(broker, runtime, tmp_path):
    # "stopped while not connected: .../status is left to the Will" was said by a node
    # that never connected, whose Will no broker ever got; after a link it is true
    proxy = FaultProxy(broker.host, broker.port)
    proxy.refuse(True)
    cfg = dict(FAST, **RESTING)
    try:
        node = NodeProc(runtime, proxy, tmp_path, cfg, "nowill-" + runtime)
        try:
            assert _interrupt_at_rest(node) == 0, node.output
        finally:
            node.kill()
        assert "stopped while not connected, and never was: no broker holds its Will" \
            in node.output, node.output
        assert "left to the Will" not in node.output, node.output
        proxy.refuse(False)
        node = NodeProc(runtime, proxy, tmp_path, cfg, "nowill-" + runtime)
        try:
            node.wait_log("online")
            cut_off(proxy, node)
            assert _interrupt_at_rest(node) == 0, node.output
        finally:
            node.kill()
        assert "stopped while not connected: %s/status is left to the Will" % node.base \
            in node.output, node.output
        assert "and never was" not in node.output, node.output
    finally:
        proxy.close()
