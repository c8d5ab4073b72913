"""The asyncio client against the test Mosquitto, on both runtimes: itself,
a paho-mqtt peer, retained messages, subscribe options, will, refused connect."""

import re
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
    for bad in ("mqtt://", "mqtt://h:", "mqtt://h:abc", "mqtt://h:65536", "mqtt://h:0",
                "mqtt://[::1", "mqtt://[::1]x"):
        assert u["urls"][bad] == "bad URL %r: expected mqtt[s]://host[:port], port 1..65535" % bad
    assert u["urls"]["ws://h"] == "unsupported URL scheme: ws"
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


@pytest.fixture
def auth_broker(broker_factory):
    return broker_factory(allow_anonymous=False)


def test_connect_refused_names_reason_code(runtime, auth_broker):
    from broker import free_port
    res = run(runtime, "client_refused.py", auth_broker.port, free_port())
    rec = res.record(step="refused")
    assert rec["error"] is not None and rec["connected"] is False
    assert "0x86" in rec["error"] or "0x87" in rec["error"], rec["error"]
    assert res.record(step="closed_port")["error"] == "OSError"


def test_server_disconnect_names_reason_code(runtime):
    from broker import free_port
    rec = run(runtime, "client_server_disconnect.py", free_port()).record(
        step="server_disconnect")
    assert rec["code"] == 0x8B and rec["connected"] is False
    assert "0x8B Server shutting down" in rec["error"]


def test_publish_failure_reason_code_raises(runtime, broker_factory, tmp_path):
    acl = tmp_path / "acl"
    acl.write_text("topic readwrite allowed/#\n")
    b = broker_factory(extra_config="acl_file %s" % acl)
    res = run(runtime, "client_denied.py", b.port, runtime)
    assert res.record(step="allowed")["rc"] == 0x10
    for q, ack in ((1, "PUBACK"), (2, "PUBREC")):
        rec = res.record(step="denied", qos=q)
        assert rec["code"] == 0x87 and rec["error"] == ack + " 0x87 Not authorized", rec
    # QoS 2 completes with the PUBCOMP's code (0x10 was in the PUBREC)
    assert res.record(step="still_connected") == {"step": "still_connected",
                                                  "connected": True, "rc": 0}


def test_a_control_character_in_a_string_is_refused_and_the_link_stays(runtime, broker):
    # Mosquitto closes the link of a client that sends one (Malformed UTF-8); a
    # supervised QoS 1 message with one went again at every reconnect, for good
    res = run(runtime, "client_refused_text.py", broker.port, runtime)
    for what, cp, at in (("topic", 1, 2), ("topic_c1", 0x85, 2), ("user_property", 0x7F, 0)):
        err = res.record(step="plain", what=what)["error"]
        assert err == ("U+%04X at character %d of an MQTT string: a control character or "
                       "non-character (spec 1.5.4)" % (cp, at)), (what, err)
    assert res.record(step="plain_after") == {"step": "plain_after", "connected": True,
                                              "rc": 0x10}
    assert "U+FFFF at character 2 of an MQTT string" in res.record(step="supervised")["error"]
    rec = res.record(step="supervised_after")
    assert rec["rc"] == 0x10 and rec["reconnects"] == 0 and rec["states"] == [1, 2], rec


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


def test_brokers_with_restrictive_limits(broker_factory, runtime):
    """message_size_limit: Mosquitto answers PUBACK/PUBREC 0x95 (the spec lists no
    0x95 there): that publish fails, the link stays (it was a Protocol Error, and
    the Supervisor resent the message into the same refusal at every reconnect).
    retain_available false: a queued retained message the server refuses is
    counted in queue drops, and a retained Will is a fatal CONNACK 0x9A."""
    size = broker_factory(extra_config="message_size_limit 100")
    noretain = broker_factory(extra_config="retain_available false")
    res = run(runtime, "client_limits.py", size.port, noretain.port, runtime)
    s = res.record(step="size")
    for big in (s["big1"], s["big2"]):
        assert big[0] == 0x95 and "0x95 Packet too large" in big[1], s
    assert s["small"] in (0, 0x10) and s["connects"] == 1 and s["up"], s
    r = res.record(step="noretain")
    assert r["drops"] == 2 and r["connects"] == 1 and r["up"], r  # the state and the birth
    assert r["now"][0] is None and "retain" in r["now"][1], r     # refused at the call
    w = res.record(step="will")
    assert w["state"] == 3 and "0x9A" in w["reason"] and w["attempts"] == 1, w  # STOPPED
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


def test_abort_closes_at_once_and_the_broker_publishes_the_will(runtime, broker):
    """firmware/main.py reached into the client's transport (client._t) to close the
    socket after a second Ctrl-C: abort() is that close, public and whole (waiters woken,
    tasks stopped, is_connected False)."""
    res = run(runtime, "client_abort.py", broker.port, runtime)
    rec = res.record(step="in_loop")
    assert rec == {"step": "in_loop", "first": True, "second": False, "connected": False,
                   "error": "aborted", "publish": rec["publish"], "will": "offline"}
    assert rec["publish"] in ("MQTTError", "OSError"), rec
    rec = res.record(step="outside")
    assert rec["will"] == "offline" and rec["retain"] is True and rec["connected"] is False
    # MicroPython: the link outlived asyncio.run and abort() closed it
    assert (rec["opened"], rec["first"]) == ((True, True) if runtime.startswith("micropython")
                                             else (False, False)), rec


def test_server_disconnect_then_reset_keeps_its_reason(runtime):
    # The broker sends DISCONNECT 0x97 and resets the connection; the client's next
    # write fails (ECONNRESET) before its reader ran. The reason still ends the link.
    # CPython's asyncio transport closes the socket on a failed write, with the
    # DISCONNECT unread: the link ends with the reset there (README), checked as such.
    from rogue_broker import RogueBroker
    rogue = RogueBroker("disconnect_reset")
    try:
        rec = run(runtime, "client_disconnect_reset.py", rogue.port).record(step="closed")
    finally:
        rogue.close()
    assert rec["connected"] is False
    if runtime == "cpython":
        assert rec["code"] is None and "Errno 104" in rec["error"], rec
        return
    assert rec["code"] == 0x97 and "DISCONNECT 0x97 Quota exceeded" in rec["error"], rec


@pytest.mark.parametrize("calls", ["once", "twice"])
def test_disconnect_right_after_publishes_delivers_them_and_no_will(runtime, broker, calls):
    tag = "q" + runtime.replace("-", "") + calls
    with PahoPeer(broker, "dq-peer-" + tag) as peer:
        peer.subscribe("dq/%s/#" % tag, qos=1)
        rec = run(runtime, "client_disconnect_queued.py", broker.port, tag,
                  calls).record(step="done")
        assert rec["closed"] == "None" and set(rec["errors"]) <= {"disconnected"}, rec
        got = peer.wait_messages("dq/%s/m" % tag, rec["n"])
        assert sorted(int(m.payload) for m in got) == list(range(rec["n"]))
        time.sleep(0.5)  # a Will (delay 0) would be out by now
        assert peer.on("dq/%s/will" % tag) == []
        # the broker read a DISCONNECT, not a reset
        assert "Client dq-%s disconnected." % tag in broker.log(), broker.log()[-2000:]


def test_disconnect_from_a_server_that_never_closes_still_closes(runtime):
    from rogue_broker import RogueBroker
    rogue = RogueBroker("deaf")
    try:
        rec = run(runtime, "client_disconnect_deaf.py", rogue.port).record(step="deaf")
        time.sleep(0.3)
        conns = list(rogue.conns)
    finally:
        rogue.close()
    assert 1900 <= rec["waited_ms"] < 4000, rec  # the 2 s wait for the server's close
    assert rec["cancelled"] and rec["closed"] == "None" and rec["open"] is False, rec
    assert rec["during"] == "disconnect() under way", rec
    assert len(conns) == 3
    for c in conns:  # each got a DISCONNECT, then the client's close
        assert bytes(c.rx[:2]) == b"\xe0\x00" and c.closed_at is not None, (c.rx, c.closed_at)


def _auth_server(record):
    # A scripted v5 server speaking enhanced authentication with method "demo":
    # CONNECT (with the method and data "hello") -> AUTH 0x18 "challenge" -> the
    # client's AUTH 0x18 -> CONNACK; then AUTH 0x19 (re-authentication) -> AUTH 0x00;
    # PUBLISH QoS 1 -> PUBACK; DISCONNECT. What came is kept in `record` (type, bytes).
    import socket
    import threading

    def method_props(data=None):
        p = b"\x15\x00\x04demo"
        if data is not None:
            p += b"\x16" + len(data).to_bytes(2, "big") + data
        return bytes([len(p)]) + p

    def read(s):
        h = s.recv(1)
        if not h:
            return None
        n = mult = 0
        while True:
            b = s.recv(1)[0]
            n += (b & 0x7F) << mult
            mult += 7
            if not b & 0x80:
                break
        body = b""
        while len(body) < n:
            body += s.recv(n - len(body))
        record.append((h[0] >> 4, body))
        return h[0] >> 4, body

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        s, _ = srv.accept()
        s.settimeout(10)
        try:
            read(s)  # CONNECT
            body = b"\x18" + method_props(b"challenge")
            s.sendall(bytes([0xF0, len(body)]) + body)
            read(s)  # AUTH 0x18 response
            body = b"\x00\x00" + method_props()
            s.sendall(bytes([0x20, len(body)]) + body)
            while True:
                p = read(s)
                if p is None or p[0] == 14:  # closed, DISCONNECT
                    return
                if p[0] == 15:  # AUTH 0x19: re-authentication, accepted
                    body = b"\x00" + method_props()
                    s.sendall(bytes([0xF0, len(body)]) + body)
                elif p[0] == 3:  # PUBLISH QoS 1 (topic "auth/t"): PUBACK
                    s.sendall(b"\x40\x02" + p[1][8:10])
        except OSError:
            pass
        finally:
            s.close()
            srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv.getsockname()[1]


def test_enhanced_authentication_and_reauthentication_through_the_client(runtime):
    got = []
    port = _auth_server(got)
    rec = run(runtime, "client_auth.py", port, timeout=30).record(step="done")
    assert rec["lone"] == "ValueError" and rec["challenges"] == ["challenge"], rec
    assert rec["rc"] == 0 and rec["connected"] is True, rec
    kinds = [k for k, _ in got]
    assert kinds[:4] == [1, 15, 15, 3], kinds  # CONNECT, AUTH, AUTH 0x19, PUBLISH
    assert b"\x15\x00\x04demo" in got[0][1] and b"hello" in got[0][1]  # [MQTT-4.12.0-5]
    assert got[1][1][0] == 0x18 and b"response" in got[1][1]
    assert got[2][1][0] == 0x19 and b"hello" in got[2][1]  # start() again


def test_a_publish_that_waits_keeps_a_copy_of_a_payload_changed_meanwhile(runtime, broker):
    res = run(runtime, "client_payload_reuse.py", broker.port, runtime.replace("-", ""),
              timeout=90)
    for mode in ("plain", "sup"):
        r = res.record(step=mode)
        assert r["buf"] == ["reading-%d" % i for i in range(5)], r
        assert r["forwarded"] == 40 and r["wrong"] == 0, r


def test_a_resumed_session_with_a_full_in_flight_table_makes_new_calls_wait(runtime, broker):
    rec = run(runtime, "client_resume_full.py", broker.port, runtime.replace("-", ""),
              timeout=60).record(step="resumed")
    assert rec["lost"] == ["MQTTError", "MQTTError"] and rec["present"] is True, rec
    assert rec["publishes"] == [0x10, 0x10, 0x10] and rec["subscribe"] == 1, rec
