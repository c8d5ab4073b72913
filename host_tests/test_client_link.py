"""The client's link handling through the fault proxy: keep-alive, one write per
loop turn, dead-link detection, a reset connection."""

import pytest

from fault_proxy import FaultProxy
from paho_peer import PahoPeer
from runtimes import run


@pytest.fixture
def proxy(broker):
    p = FaultProxy(broker.host, broker.port, capture=True)
    yield p
    p.close()


def test_keepalive_batching_and_dead_link(runtime, broker, proxy):
    base = "link/" + runtime
    with PahoPeer(broker, "peer-link-" + runtime) as peer:
        peer.subscribe(base + "/ready", qos=0)
        peer.when(base + "/ready", lambda _: proxy.blackhole())
        res = run(runtime, "client_link.py", proxy.port, runtime)
    assert res.record(step="idle")["connected"] is True
    conn = proxy.all_connections()[0]
    types = [t for t, _ in conn.mqtt_packets("up")]
    assert types.count(12) >= 2, types                    # PINGREQs while idle
    assert res.record(step="batch")["writes"] == 1        # 10 publishes, one write
    up = conn.mqtt_packets("up")
    assert sum(1 for t, p in up if t == 3 and b"/batch" in p) == 10
    dead = res.record(step="dead")
    assert dead["error"] and "keep alive" in dead["error"], dead
    assert 500 <= dead["ms"] <= 4000, dead               # 1.5 x keepalive after last rx
    assert dead["connected"] is False and "keep alive" in dead["closed_error"]
    assert res.record(step="after")["error"]             # not connected any more


def test_reset_connection_fails_waiters(runtime, broker, proxy):
    base = "reset/" + runtime
    with PahoPeer(broker, "peer-reset-" + runtime) as peer:
        peer.subscribe(base + "/ready", qos=0)
        peer.when(base + "/ready", lambda _: proxy.cut())
        res = run(runtime, "client_reset.py", proxy.port, runtime)
    rec = res.record(step="cut")
    assert rec["error"] and "connection lost" in rec["error"], rec
    assert rec["connected"] is False
