"""The asyncio client's flow against the test Mosquitto, on both runtimes:
backpressure with small buffers and few slots, slots freed by dropped, cancelled
and unawaited publishes, callers cancelled after their packet went out, a failing
handler's tracebacks, a payload changed while its publish waits, a resumed
session with a full in-flight table, and publishes that wait for a slot kept in call
order."""

import re

import pytest

from runtimes import HOSTED, run

# Integration: also on the 32-bit builds (.mpy and frozen); qemu has no sockets.
pytestmark = pytest.mark.runtimes(HOSTED)


def test_backpressure_small_buffers_few_slots(runtime, broker):
    res = run(runtime, "client_burst.py", broker.port, runtime)
    rec = res.record(step="burst")
    assert rec["rcs_ok"] is True
    assert rec["received"] == list(range(60)) and rec["sizes"] == [198]
    rec = res.record(step="burst0")  # QoS 0 waiting for room when the link goes
    assert rec["outcomes"] == [None] + ["not connected: aborted"] * 3, rec


def test_dropped_or_cancelled_qos1_publishes_free_their_slots(runtime, broker):
    # publish() queues a QoS 1 message itself when a slot is free; the slot frees
    # itself at the PUBACK even if nobody awaits (client_slots.py, two slots)
    res = run(runtime, "client_slots.py", broker.port, runtime)
    rec = res.record(step="slots")
    assert rec["rcs"] == [0] * 5
    assert rec["topics"] == (["/after"] * 5 + ["/cancelled", "/dropped"] + ["/q0"] * 3
                             + ["/unawaited"]), rec
    assert "never awaited" not in res.stderr, res.stderr  # (CPython's RuntimeWarning)
    assert rec["done"] == [None, None], rec
    # made on demand: max_inflight=2 (beside connect()'s), all free again, nothing in flight
    assert (rec["slots"], rec["slots_free"], rec["waiting"]) == (2, 2, 0), rec


def test_callers_cancelled_after_their_packet_went_out(broker, runtime):
    """A cancelled subscribe/publish whose packet is out keeps its slot until the ack
    (then it frees itself): the next caller waits for the slot instead of failing
    with 'no free in-flight slot', a supervised one does not get another message's
    outcome, and nothing leaks (client_cancel.py). A handler raising CancelledError
    is a handler error; disconnect() while connect() opens its socket wins."""
    res = run(runtime, "client_cancel.py", broker.port, runtime)
    p = res.record(step="plain")
    assert p["sub_cancelled"] and p["pub_cancelled"], p  # the cancels hit in flight
    assert (p["after_sub"], p["after_pub"]) == (0, 0), p
    assert p["topics"] == ["/p/a", "/p/b", "/p/c", "/p/d"], p  # the cancelled one went out
    assert p["free"] and p["npub"] == 0, p
    s = res.record(step="supervised")
    assert s["x_cancelled"] and (s["a"], s["y"]) == (0, 0), s
    assert s["topics"] == ["/s/a", "/s/x", "/s/y"] and s["free"] and s["npub"] == 0, s
    h = res.record(step="handler")
    assert (h["first"], h["again"], h["connected"], h["reader_alive"]) == (0, 0, True, True), h
    assert "mqtt5: handler error" in res.stdout
    o = res.record(step="opening")
    assert o["connect"] == "MQTTError: disconnected" and not o["connected"], o
    res.record(step="done")


def test_a_failing_handler_prints_one_traceback_a_second(broker, runtime):
    # a traceback per message held up the reader (on a board, ~15 ms of UART each):
    # one a second at most, each shown counting those left out since the last
    res = run(runtime, "client_handler_errors.py", broker.port, runtime)
    end = res.record(step="end")
    assert end["calls"] == 31 and end["connected"], end
    burst, later = res.stdout.split("-- burst done")  # (CPython: tracebacks on stderr)
    tracebacks = res.stdout + res.stderr
    assert "bad message 0" in tracebacks and "bad message last" in tracebacks, tracebacks
    shown = res.stdout.count("mqtt5: handler error")
    assert tracebacks.count("ValueError: bad message") == shown, tracebacks
    assert burst.count("mqtt5: handler error") < 5, burst  # 30 in about 0.1 s
    assert later.count("mqtt5: handler error") == 1, later
    left_out = [int(n) for n in re.findall(r"handler error \((\d+) more since the last shown\)",
                                           res.stdout)]
    assert left_out and shown + sum(left_out) == 31, res.stdout


def test_a_publish_that_waits_keeps_a_copy_of_a_payload_changed_meanwhile(runtime, broker):
    res = run(runtime, "client_payload_reuse.py", broker.port, runtime.replace("-", ""),
              timeout=90)
    for mode in ("plain", "sup"):
        r = res.record(step=mode)
        assert r["buf"] == ["reading-%d" % i for i in range(5)], r
        assert r["forwarded"] == 40 and r["wrong"] == 0, r
    # sent again after the cut as it was at the call: the broker had it once already,
    # and delivers the DUP again (QoS 1), with the same payload
    r = res.record(step="resend")
    assert r["present"] is True and r["got"] == ["reading-1"] * len(r["got"]) and \
        1 <= len(r["got"]) <= 2, r


@pytest.mark.runtimes(("cpython", "micropython"))
def test_a_qos0_publish_behind_a_resend_backlog_waits_for_an_ack(runtime):
    # (a fake broker in the script: Session Present 1, Receive Maximum 1, acks held)
    r = run(runtime, "client_q0_backlog.py").record(step="q0")
    assert r["waited"] and r["turns"] <= 5, r  # it spun: thousands of writer turns
    assert r["done"] and r["backlog"] == 0, r  # the acks came: it went


def test_a_resumed_session_with_a_full_in_flight_table_makes_new_calls_wait(runtime, broker):
    rec = run(runtime, "client_resume_full.py", broker.port, runtime.replace("-", ""),
              timeout=60).record(step="resumed")
    assert rec["lost"] == ["MQTTError", "MQTTError"] and rec["present"] is True, rec
    assert rec["publishes"] == [0x10, 0x10, 0x10] and rec["subscribe"] == 1, rec


def test_publishes_that_wait_for_a_slot_go_out_in_call_order(runtime, broker):
    # A woken waiter that found no slot went back to the end of the wait, and a new call
    # could take a slot freed just then: of 300 publishes to one topic with 2 slots, up
    # to 16 arrived out of call order (README: "wait for one in call order")
    rec = run(runtime, "client_call_order.py", broker.port, runtime.replace("-", ""),
              timeout=60).record(step="order")
    for kind in ("plain", "supervised"):
        assert rec[kind] == list(range(200)), (kind, rec[kind])
