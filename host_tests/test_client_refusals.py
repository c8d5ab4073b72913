"""The asyncio client against brokers that refuse, on both runtimes: a refused
connect and the server's DISCONNECT name their reason codes, as do a refused
publish, a broker's limits (message size, no retain) and a reset after a
DISCONNECT; a string with a control character is refused before it goes out."""

import pytest

from runtimes import HOSTED, run

# Integration: also on the 32-bit builds (.mpy and frozen); qemu has no sockets.
pytestmark = pytest.mark.runtimes(HOSTED)


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
