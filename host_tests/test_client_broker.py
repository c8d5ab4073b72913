"""The asyncio client against the test Mosquitto, on both runtimes: itself, a
paho-mqtt peer, retained messages, subscribe options, will. Refusals and reason
codes: test_client_refusals.py; enhanced authentication: test_client_auth.py; flow
(buffers, slots, cancels, handler errors): test_client_flow.py; abort and
disconnect: test_client_close.py."""

import time

import pytest

from paho_peer import PahoPeer
from runtimes import HOSTED, run

# Integration: also on the 32-bit builds (.mpy and frozen); qemu has no sockets.
pytestmark = pytest.mark.runtimes(HOSTED)

PROPS = {"user_properties": [["k1", "v1"], ["k2", "v2"], ["k1", "v3"]],
         "content_type": "text/plain", "payload_format_indicator": 1,
         "message_expiry_interval": 60}


def test_self_qos012_properties_handlers_unsubscribe(runtime, broker):
    res = run(runtime, "client_basic.py", broker.port, runtime)
    base = "basic/" + runtime
    assert res.record(step="connected")["session_present"] is False
    assert res.record(step="connected")["nodelay"] is True
    # is_connected and session come from __getattr__: the Client class has no property,
    # which would slow every attribute store and method call on it (docs/design.md)
    rec = res.record(step="connected")
    assert (rec["up"], rec["session"], rec["unknown"], rec["properties"]) == (True, True, False, [])
    assert res.record(step="subscribed")["granted"] == 2
    assert res.record(step="subscribed_list")["granted"] == [1, 1]
    assert res.record(step="published")["rcs"] == [None, 0, 0]
    got = [r for r in res.records if r.get("step") == "received"]
    assert [(r["topic"], r["payload"], r["qos"]) for r in got] == [
        (base + "/q/%d" % q, "payload-%d" % q, q) for q in (0, 1, 2)]
    for q, r in enumerate(got):
        for k, v in PROPS.items():
            if k == "message_expiry_interval":  # less the whole seconds it waited in the
                assert r[k] in (v - 1, v), (k, r[k])  # broker [MQTT-3.3.2-6]: a second
                continue  # boundary of Mosquitto's clock may fall between in and out
            assert r[k] == v, k
        assert r["correlation_data"] == "corr-%d" % q
        assert r["response_topic"] == base + "/reply"
        assert r["retain"] is False and r["dup"] is False
    assert res.record(step="no_subscribers")["rc"] == 0x10
    r = res.record(step="reserve")
    assert r["before"] < 632 <= r["after"]  # (doubled, or to the packet: txbuf.room())
    assert (r["ok"], r["rc"], r["kept"], r["over"]) == (True, 0x10, True, False)
    assert (r["most"], r["size"]) == (True, 2048)
    assert res.record(step="async_handler")["payload"] == "echo:ping"
    g = res.record(step="gather")
    assert g["payloads"] == list(range(20))
    assert g["rcs"] == [None if i % 3 == 0 else 0 for i in range(20)]
    assert res.record(step="unsubscribed") == {"step": "unsubscribed", "rc": 0, "after": 20}
    assert res.record(step="validation")["refused"] == ["a/+", "", "a/#"]
    assert res.record(step="disconnected") == {"step": "disconnected", "connected": False,
                                               "error": None}
    assert res.record(step="reconnected") == {"step": "reconnected", "payload": "one",
                                              "connected": True}
    assert "handler boom" in res.stderr + res.stdout
    assert "basic-%s" % runtime in broker.log()


def test_to_and_from_paho(runtime, broker):
    base = "paho/" + runtime
    with PahoPeer(broker, "peer-paho-" + runtime) as peer:
        peer.subscribe(base + "/ready", qos=1)
        peer.subscribe(base + "/out", qos=2)

        def send(_):
            for q in (0, 1, 2):
                peer.publish(base + "/in", b"from-paho-%d" % q, qos=q,
                             user_properties=[("x", "1"), ("y", "2"), ("x", "3")],
                             content_type="text/plain", correlation_data=b"\x00c%d" % q,
                             response_topic=base + "/back")

        peer.when(base + "/ready", send)
        res = run(runtime, "client_paho.py", broker.port, runtime)
        out = peer.wait_messages(base + "/out", 3)

    got = [r for r in res.records if r.get("step") == "received"]
    assert [(r["payload"], r["qos"]) for r in got] == [("from-paho-%d" % q, q) for q in (0, 1, 2)]
    for q, r in enumerate(got):
        assert r["user_properties"] == [["x", "1"], ["y", "2"], ["x", "3"]]
        assert r["content_type"] == "text/plain"
        assert r["correlation_data"] == "\x00c%d" % q
        assert r["response_topic"] == base + "/back"
        assert r["subscription_identifiers"] == [7]
    assert sorted(m.qos for m in out) == [0, 1, 2]
    for m in sorted(out, key=lambda m: m.qos):
        q = m.qos
        assert m.payload == b"\x00\x01binary-%d" % q
        assert m.user_properties == [("b", "2"), ("a", "1"), ("b", "3")]
        assert m.content_type == "application/x-fieldnode;v=1"
        assert m.correlation_data == b"\xff\x00corr-%d" % q
        assert m.response_topic == base + "/resp"
        assert m.payload_format_indicator == 0


def test_retained_and_subscribe_options(runtime, broker):
    base = "opts/" + runtime
    with PahoPeer(broker, "peer-opts-" + runtime) as peer:
        peer.publish(base + "/rh0", b"retained-0", qos=1, retain=True)
        peer.publish(base + "/rh2", b"retained-2", qos=1, retain=True)
        peer.subscribe(base + "/nl-ready", qos=1)
        peer.when(base + "/nl-ready", lambda _: peer.publish(base + "/nl", b"peer", qos=1))
        res = run(runtime, "client_options.py", broker.port, runtime)
        peer.clear_retained(base + "/rh0")
        peer.clear_retained(base + "/rh2")

    u = res.record(step="urls")
    assert u["urls"]["mqtt://h"] == ["mqtt", "h", 1883] and u["urls"]["mqtts://h"] == ["mqtts", "h", 8883]
    assert u["urls"]["h:1884"] == ["mqtt", "h", 1884]
    assert u["urls"]["mqtt://[::1]:1885/x"] == ["mqtt", "::1", 1885]
    # (a second colon: a host "h:1883" or an IPv6 address not in brackets; a port of
    # other digits than ASCII's, which CPython's int() took: "mqtt://h:\u0661\u0662" was 12)
    for bad in ("mqtt://", "mqtt://h:", "mqtt://h:abc", "mqtt://h:65536", "mqtt://h:0",
                "mqtt://[::1", "mqtt://[::1]x", "mqtt://h:1883:1", "mqtt://h::1883",
                "mqtt://a:b:c:1883", "mqtt://h:\u0661\u0662", "mqtt://h:\u00b2"):
        # (MicroPython's 32-bit builds write the URL's non-ASCII characters escaped)
        assert u["urls"][bad].startswith("bad URL 'mqtt") and u["urls"][bad].endswith(
            "': expected mqtt[s]://host[:port], port 1..65535"), (bad, u["urls"][bad])
    assert u["urls"]["ws://h"] == "unsupported URL scheme: ws"
    for bad in ("mqtt://a..b", "mqtt://.h", "mqtt://%s.h" % ("x" * 64)):  # labels 1..63
        assert u["urls"][bad] == "bad URL %r: a host name's labels are 1 to 63 " \
            "characters" % bad, u["urls"][bad]
    assert u["urls"]["mqtt://h."] == ["mqtt", "h.", 1883]  # (the root's empty label)
    assert u["unresolvable"].startswith("OSError: "), u["unresolvable"]
    assert u["refused"].startswith("bad URL 'mqtt://127.0.0.1:70000'") and u["connected"] is False
    own = res.record(step="retained_own")
    assert (own["payload"], own["retain"]) == ("kept", True)
    rh = res.record(step="retain_handling")
    assert [(m["payload"], m["retain"]) for m in rh["rh0"]] == [("retained-0", True)]
    assert [(m["payload"], m["retain"]) for m in rh["rh2"]] == [("live", False)]
    assert res.record(step="no_local")["payloads"] == ["peer"]
    take = res.record(step="takeover")
    # Mosquitto 2.0.11 closes the old connection without a DISCONNECT packet
    assert take["error"] and take["connected"] is False


def test_will_published_after_delay_when_socket_dies(runtime, broker):
    base = "will/" + runtime
    with PahoPeer(broker, "peer-will-" + runtime) as peer:
        peer.subscribe(base + "/status", qos=1)
        run(runtime, "client_will.py", broker.port, runtime)
        died = time.monotonic()
        online, will = peer.wait_messages(base + "/status", 2, timeout=15)
    assert online.payload == b"online"
    assert will.payload == b"offline" and will.content_type == "text/plain"
    # Will Delay Interval 2 s (Mosquitto checks about once a second)
    assert will.at - died >= 1.5, will.at - died
