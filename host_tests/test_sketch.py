"""bench/sketch/lean5, the sizing sketch of issue 11's frugal core: it must really work
and really check what it receives, or its heap figures (bench/sketch/measure.py) would
say nothing about what a rewritten core would cost."""

import os
import subprocess
import sys

import pytest

from runtimes import ROOT, command

SKETCH = os.path.join(ROOT, "bench", "sketch")
sys.path[:0] = [SKETCH, os.path.join(ROOT, "lib")]

from lean5 import codec  # noqa: E402
from lean5.session import CONNACK, MESSAGE, PUBACK, Session  # noqa: E402
from mqtt5.errors import ProtocolError  # noqa: E402


@pytest.mark.runtimes(("cpython", "micropython"))
def test_round_trip_against_mosquitto(runtime, broker):
    # QoS 0 and 1 to itself through the broker, then 4.5 s of silence with a 2 s
    # keep-alive: Mosquitto drops a client silent for 1.5 periods, so staying up
    # means PINGREQs went out and their PINGRESPs were taken
    argv, env = command(runtime, os.path.join(SKETCH, "workload.py"), "check", broker.port)
    extra = SKETCH + os.pathsep + os.path.join(ROOT, "bench", "workloads")
    key = "PYTHONPATH" if runtime == "cpython" else "MICROPYPATH"
    env[key] = env[key] + (os.pathsep if runtime == "cpython" else ":") + extra
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '{"subscribed": 1, "puback": 0, "got": 2, "alive": true}' in proc.stdout, proc.stdout


def _connected(**kw):
    s = Session("t", **kw)
    s.connect(0)
    _feed(s, b"\x20\x03\x00\x00\x00")
    assert s.next_event() == CONNACK and s.connected
    return s


def _feed(s, data):
    buf = s.recv_buffer()
    buf[:len(data)] = data
    s.received(len(data))


def _refused(s, data):
    _feed(s, data)
    with pytest.raises(ProtocolError) as e:
        while s.next_event():
            pass
    return e.value.reason_code


def test_connect_carries_our_limits():
    s = Session("node-1", keepalive=30, session_expiry=60, max_packet_size=512)
    pkt = bytes(s.connect(0))
    assert pkt[:12] == b"\x10\x20\x00\x04MQTT\x05\x02\x00\x1e"  # v5, clean start, 30 s
    # Maximum Packet Size 512, Receive Maximum 16, Session Expiry 60 s
    assert pkt[12:26] == b"\x0d\x27\x00\x00\x02\x00\x21\x00\x10\x11\x00\x00\x00\x3c"
    assert pkt[26:] == b"\x00\x06node-1"


def test_publish_and_puback_free_the_quota():
    s = _connected()
    s.quota = 1
    pkt = bytes(s.publish("a/b", b"xy", 1, False, 0))
    assert pkt == b"\x32\x0a\x00\x03a/b\x00\x01\x00xy"
    assert s.quota == 0 and 1 in s.inflight
    _feed(s, b"\x40\x02\x00\x01")
    assert s.next_event() == PUBACK and s.rc == 0 and s.quota == 1 and not s.inflight


def test_message_in_two_pieces():
    s = _connected()
    pkt = b"\x32\x0b\x00\x03a/b\x00\x07\x00hi!"
    _feed(s, pkt[:5])
    assert s.next_event() == 0
    _feed(s, pkt[5:])
    assert s.next_event() == MESSAGE
    assert (s.topic, bytes(s.payload), s.qos, s.pid) == ("a/b", b"hi!", 1, 7)
    assert bytes(s.ack(s.pid, 0)) == b"\x40\x02\x00\x07"


@pytest.mark.parametrize("data, code", [
    (b"\x36\x06\x00\x01a\x00\x01\x00", 0x81),             # QoS 3 [MQTT-3.3.1-4]
    (b"\x38\x04\x00\x01a\x00", 0x81),                     # DUP at QoS 0 [MQTT-3.3.1-2]
    (b"\x40\x02\x00\x09", 0x82),                          # PUBACK for no such id
    (b"\x30\x05\x00\x02\xc0\x80\x00", 0x81),              # overlong UTF-8 [MQTT-1.5.4-1]
    (b"\x30\x04\x00\x01+\x00", 0x82),                     # wildcard in a topic name
    (b"\x30\x08\x00\x01a\x04\x01\x00\x01\x01", 0x82),     # a property twice
    (b"\x30\x06\x00\x01a\x02\x24\x01", 0x82),             # Maximum QoS in a PUBLISH
    (b"\x30\x07\x00\x01a\x03\x23\x00\x01", 0x94),         # a Topic Alias we never allowed
    (b"\x50\x02\x00\x01", 0x82),                          # PUBREC: no QoS 2 sent
    (b"\x30\xff\xff\xff\xff\x01", 0x81),                  # length over 4 bytes
])
def test_malformed_input_is_refused_with_its_reason_code(data, code):
    assert _refused(_connected(), data) == code


def test_inbound_qos1_over_our_receive_maximum_is_0x93():
    s = _connected(receive_maximum=2)
    for pid in (1, 2):
        _feed(s, b"\x32\x06\x00\x01a\x00%c\x00" % pid)
        assert s.next_event() == MESSAGE
    s.ack(1, 0)   # one acknowledged: one more may come
    _feed(s, b"\x32\x06\x00\x01a\x00\x03\x00")
    assert s.next_event() == MESSAGE
    assert _refused(s, b"\x32\x06\x00\x01a\x00\x04\x00") == 0x93


def test_packet_over_our_maximum_is_0x95():
    assert _refused(_connected(max_packet_size=64), b"\x30\x41") == 0x95


def test_filter_and_topic_rules():
    assert codec.filter_ok("a/+/b") and codec.filter_ok("#") and codec.filter_ok("a/#")
    assert not codec.filter_ok("a/#/b") and not codec.filter_ok("a+") and not codec.filter_ok("")
    assert codec.topic_ok("a/b") and not codec.topic_ok("a/#") and not codec.topic_ok("")


@pytest.mark.parametrize("present, first", [(1, 0x3A), (0, 0x32)])
def test_in_flight_qos1_goes_again_after_a_reconnect(present, first):
    # resumed session: DUP set [MQTT-4.4.0-1]; new session: a new message, same id
    s = _connected(clean_start=False, session_expiry=60)
    s.publish("a", b"x", 1, False, 0)
    s.connect(1)   # the link was lost; in flight stays
    _feed(s, b"\x20\x03%c\x00\x00" % present)
    assert s.next_event() == CONNACK and s.present == bool(present)
    assert bytes(s.resend(1, 2)) == bytes((first,)) + b"\x07\x00\x01a\x00\x01\x00x"
    assert s.quota == 65535 - 1
