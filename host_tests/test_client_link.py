"""The client's link handling through the fault proxy: keep-alive, one write per
loop turn, dead-link detection, a reset connection."""

import socket

import pytest

from fault_proxy import FaultProxy
from paho_peer import PahoPeer
from runtimes import M32, M32_FROZEN, run


@pytest.fixture
def proxy(broker):
    p = FaultProxy(broker.host, broker.port, capture=True)
    yield p
    p.close()


def run_then_fault(runtime, broker, proxy, script, base, fault):
    """Run `script` through the proxy; `fault()` fires when it publishes <base>/ready."""
    with PahoPeer(broker, "peer-%s-%s" % (base, runtime)) as peer:
        peer.subscribe("%s/%s/ready" % (base, runtime), qos=0)
        peer.when("%s/%s/ready" % (base, runtime), lambda _: fault())
        return run(runtime, script, proxy.port, runtime)


def test_keepalive_batching_and_dead_link(runtime, broker, proxy):
    res = run_then_fault(runtime, broker, proxy, "client_link.py", "link", proxy.blackhole)
    assert res.record(step="idle")["connected"] is True
    conn = proxy.all_connections()[0]
    types = [t for t, _ in conn.mqtt_packets("up")]
    assert types.count(12) >= 2, types                    # PINGREQs while idle
    assert res.record(step="batch")["writes"] == 1        # 10 publishes, one write
    alone = res.record(step="alone")  # 20 awaited QoS 1: the caller writes, the writer
    assert alone["writes"] == 20 and alone["turns"] <= 2, alone  # wakes for pings only
    up = conn.mqtt_packets("up")
    assert sum(1 for t, p in up if t == 3 and b"/batch" in p) == 10
    dead = res.record(step="dead")
    assert dead["error"] and "keep alive" in dead["error"], dead
    assert 1000 <= dead["ms"] <= 6000, dead              # 1.5 x keepalive after last rx
    assert dead["connected"] is False and "keep alive" in dead["closed_error"]
    assert res.record(step="after")["error"]             # not connected any more


def test_reset_connection_fails_waiters(runtime, broker, proxy):
    res = run_then_fault(runtime, broker, proxy, "client_reset.py", "reset", proxy.cut)
    rec = res.record(step="cut")
    assert rec["error"] and "connection lost" in rec["error"], rec
    assert rec["connected"] is False


def test_a_failed_keepalive_task_ends_the_link(runtime, broker):
    rec = run(runtime, "client_ticker_error.py", broker.port, runtime).records[0]
    assert rec["closed"] is True and rec["connected"] is False, rec
    assert "no room for the tick" in rec["error"], rec


@pytest.mark.runtimes(("cpython", "micropython", M32, M32_FROZEN))
def test_signal_wakes_cancels_and_hands_back(runtime):
    rec = run(runtime, "compat_signal.py").records[0]
    assert rec["set_before"] is None
    assert rec["pulse"] == ["a", "b", "c"] and rec["next_pulse"] == "late"
    assert rec["cancelled"] is True and rec["woken_cancelled"] is True
    assert rec["timeout"] is True
    assert rec["after_cancel"] == ["after"]
    assert rec["rc"] == 0x10 and rec["home"] is True and rec["err"] == "refused"
    if runtime != "cpython":
        assert rec["bytes_per_wait"] < 1, rec   # asyncio's Event.wait(): 48 B (32-bit)


def test_a_tcp_connect_that_never_completes_times_out(runtime):
    # a listener whose backlog one connection fills: the next SYNs go unanswered
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(0)
    filler = socket.create_connection(lsn.getsockname(), timeout=5)
    try:
        rec = run(runtime, "connect_timeout.py", lsn.getsockname()[1], runtime).record()
    finally:
        filler.close()
        lsn.close()
    assert rec["error"] == "TimeoutError" and not rec["connected"], rec
    assert rec["text"] == "no TCP connection within 800 ms", rec  # (it said nothing)
    assert 800 <= rec["ms"] < 5000, rec       # connect_timeout_ms=800
    assert rec["turns"] >= 20, rec            # the loop ran meanwhile (10 ms sleeps)


def test_a_connack_that_never_comes_times_out_and_says_so(runtime):
    # the kernel completes the handshake for a listener that never accepts: the
    # CONNECT goes, and nothing answers it.  The error said nothing ("timed out" in the
    # node's log), so a broker that took the connection and hung read as a dead network
    lsn = socket.socket()
    lsn.bind(("127.0.0.1", 0))
    lsn.listen(4)
    try:
        rec = run(runtime, "connect_timeout.py", lsn.getsockname()[1], runtime).record()
    finally:
        lsn.close()
    assert rec["error"] == "TimeoutError" and not rec["connected"], rec
    assert rec["text"] == "no CONNACK within 800 ms", rec
    assert 800 <= rec["ms"] < 5000 and rec["turns"] >= 20, rec


@pytest.mark.parametrize("n", (2, 4))   # the writer's task; the connect timer's
def test_a_connect_whose_task_finds_no_heap_ends_its_link(runtime, broker, n):
    rec = run(runtime, "connect_task_fails.py", broker.port, "%s-%d" % (runtime, n), n).record()
    assert rec["first"] == "MemoryError" and rec["down"] is False, rec
    assert rec["second"] is None and rec["up"] is True, rec   # the next connect() works


def test_ended_within_wakes_after_its_time_or_when_the_link_ends(runtime, broker):
    # the Supervisor's hourly wake while a link is up (offline.until_closed)
    rec = run(runtime, "ended_within.py", broker.port, runtime).record()
    assert rec["live"] is False and 300 <= rec["live_ms"] < 3000, rec
    assert rec["ended"] is True and rec["ended_ms"] < 4000, rec   # not the 5 s
    assert rec["error"] == "None" and rec["again"] is True, rec    # a clean disconnect
