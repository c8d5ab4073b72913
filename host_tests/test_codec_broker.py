"""Real-broker bytes (both runtimes): packets our codec encodes are accepted
by Mosquitto, and what Mosquitto sends back (CONNACK with properties, SUBACK,
PUBLISH with properties and Subscription Identifier, PUBACK, PUBREC, PUBREL,
PUBCOMP, PINGRESP, UNSUBACK) decodes correctly. On CPython the captured raw
bytes are also checked against paho-mqtt's decoders."""

from paho.mqtt import _packet
from paho.mqtt.client import MQTTv5

import pytest

from runtimes import HOSTED, run

# Integration: also on the 32-bit builds (.mpy and frozen); qemu has no sockets.
pytestmark = pytest.mark.runtimes(HOSTED)

PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 3, 4, 5, 6, 7


def test_broker_bytes_decode(runtime, broker):
    cid = "codec-" + runtime
    res = run(runtime, "codec_broker.py", broker.port, cid)
    recs = [r for r in res.records if "rx" in r]
    assert res.records[-1] == {"done": True}
    connack = recs[0]
    assert connack["rx"] == 2 and connack["reason_code"] == 0
    assert connack["session_present"] is False
    props = dict(connack["props"])
    assert 0x21 in props or 0x22 in props or 0x24 in props  # Mosquitto advertises limits
    suback = recs[1]
    assert suback["rx"] == 9 and suback["packet_id"] == 1 and suback["reason_codes"] == [2, 1]
    pubs = [r for r in recs if r["rx"] == PUBLISH]
    topic = "codec/" + cid + "/\u00e9t\u00e9"
    q1 = pubs[0]
    assert q1["topic"] == topic and q1["qos"] == 1 and q1["payload"] == "0100ff7061796c6f6164"
    p = dict(q1["props"])
    assert p[0x0B] == [7]                       # Subscription Identifier from SUBSCRIBE
    assert p[0x03] == "fn/reading;v=1" and p[0x09] == "000102"
    assert p[0x08] == "codec/" + cid + "/reply" and p[0x01] == 0
    assert p[0x26] == [["a", "1"], ["a", "2"]]  # order kept
    assert 0 < p[0x02] <= 300                    # expiry counts down
    q2 = pubs[1]
    assert q2["qos"] == 2 and q2["payload"] == "7132" and dict(q2["props"])[0x26] == [["k", "v"]]
    types = [r["rx"] for r in recs]
    for t in (PUBACK, PUBREC, PUBREL, PUBCOMP, 13, 11):
        assert t in types
    unsuback = [r for r in recs if r["rx"] == 11][0]
    assert unsuback["reason_codes"] == [0, 0x11]  # second filter had no subscription
    if runtime == "cpython":
        _paho_agrees(recs)


def _paho_agrees(recs):
    dec = {2: _packet.decode_connack, 3: _packet.decode_publish, 4: _packet.decode_puback,
           5: _packet.decode_pubrec, 6: _packet.decode_pubrel, 7: _packet.decode_pubcomp,
           9: _packet.decode_suback, 11: _packet.decode_unsuback}
    for r in recs:
        if r["rx"] not in dec:
            continue
        raw = bytes.fromhex(r["hex"])
        n = 2 if raw[1] < 128 else 3
        got = dec[r["rx"]](raw[0], raw[n:], MQTTv5)
        if r["rx"] == PUBLISH:
            assert got.topic.decode() == r["topic"] and bytes(got.payload).hex() == r["payload"]
        elif r["rx"] in (9, 11):
            assert [c.value for c in got.reason_codes] == r["reason_codes"]
        elif r["rx"] == 2:
            assert got.reason.value == r["reason_code"]
        else:
            assert got.mid == r["packet_id"]
