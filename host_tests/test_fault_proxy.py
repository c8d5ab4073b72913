"""The fault proxy against the real Mosquitto, with paho-mqtt as the client:
pass-through (and byte counts), cut (RST), disconnect, blackhole, delay, refuse,
close."""

import socket
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from fault_proxy import FaultProxy
from mqtt_split import split_mqtt

CONNECT_V311 = bytes.fromhex("101000044d5154540402003c0004") + b"raw1"


@pytest.fixture
def proxy(broker):
    p = FaultProxy(broker.host, broker.port, capture=True)
    yield p
    p.close()


class Peer:
    """A paho client (MQTT v5, own network thread) recording what happens."""

    def __init__(self, name, port):
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name,
                             protocol=mqtt.MQTTv5)
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.disconnect_rc = None
        self.messages = []
        self.got = threading.Event()
        self.c.on_connect = lambda c, u, f, rc, p: self.connected.set()
        self.c.on_message = self._on_message
        self.c.on_disconnect = self._on_disconnect
        self.c.connect("127.0.0.1", port, keepalive=60)
        self.c.loop_start()

    def _on_message(self, c, u, m):
        self.messages.append((m.topic, m.payload, time.monotonic()))
        self.got.set()

    def _on_disconnect(self, c, u, flags, rc, props):
        self.disconnect_rc = rc
        self.disconnected.set()

    def close(self):
        try:
            self.c.disconnect()
        finally:
            self.c.loop_stop()


@pytest.fixture
def peers():
    made = []

    def make(name, port, wait=True):
        p = Peer(name, port)
        made.append(p)
        if wait:
            assert p.connected.wait(5), "no CONNACK through the proxy"
        return p

    yield make
    for p in made:
        p.close()


def roundtrip(peer, topic, payload, qos=1, timeout=5):
    peer.got.clear()
    t0 = time.monotonic()
    info = peer.c.publish(topic, payload, qos=qos)
    assert peer.got.wait(timeout), "message did not come back"
    info.wait_for_publish(timeout)
    return peer.messages[-1][2] - t0


def subscribe(peer, topic):
    done = threading.Event()
    peer.c.on_subscribe = lambda *a: done.set()
    peer.c.subscribe(topic, qos=1)
    assert done.wait(5)


def test_pass_through_counts_and_captures(proxy, peers, broker):
    p = peers("fp-pass", proxy.port)
    subscribe(p, "fp/pass")
    roundtrip(p, "fp/pass", b"0123456789abcdef")
    [conn] = proxy.connections()
    assert conn.alive and conn.bytes_up > 0 and conn.bytes_down > 0
    assert conn.bytes_up == len(conn.up) and conn.bytes_down == len(conn.down)
    types_up = [t for t, _ in conn.mqtt_packets("up")]
    assert types_up[:2] == [1, 8]          # CONNECT, SUBSCRIBE
    publishes = [pkt for t, pkt in conn.mqtt_packets("up") if t == 3]
    # v5 QoS 1 PUBLISH: 2 fixed header + 2+7 topic + 2 packet id + 1 props + 16 payload
    assert [len(pkt) for pkt in publishes] == [30]
    assert 3 in [t for t, _ in conn.mqtt_packets("down")]   # the message came back
    assert proxy.bytes_up() == conn.bytes_up


def test_cut_resets_both_sides(proxy, peers, broker):
    p = peers("fp-cut", proxy.port)
    subscribe(p, "fp/cut")
    [conn] = proxy.connections()
    assert proxy.cut() == 1
    assert p.disconnected.wait(5) and p.disconnect_rc != 0
    assert not conn.alive and conn.close_reason == "cut"
    # the broker saw the socket fail, not a DISCONNECT packet
    broker.wait_log("Client fp-cut closed its connection")
    assert "Client fp-cut disconnected" not in broker.log()


def test_cut_is_an_rst_not_a_fin(proxy):
    s = socket.create_connection(("127.0.0.1", proxy.port))
    s.sendall(CONNECT_V311)
    s.settimeout(5)
    assert s.recv(4)[0] == 0x20             # CONNACK through the proxy
    proxy.wait_connections(1)
    proxy.cut()
    with pytest.raises(ConnectionResetError):
        data = s.recv(10)
        # a FIN would read b"" here; an RST raises
        raise AssertionError("read %r instead of a reset" % data)
    s.close()


def test_disconnect_sends_the_reason_then_a_fin_and_the_broker_sees_the_close(
        proxy, peers, broker):
    p = peers("fp-disc", proxy.port)
    [conn] = proxy.connections()
    assert proxy.disconnect(conn, 0x8E)
    assert p.disconnected.wait(5)
    assert p.disconnect_rc == 0x8E, p.disconnect_rc   # paho read the DISCONNECT
    proxy.wait_closed(conn)
    assert conn.close_reason == "closed"              # FIN both ways, not a cut
    broker.wait_log("Client fp-disc closed its connection")
    assert not proxy.disconnect(conn, 0x8E)           # closed: nothing to do


def test_drop_loses_only_the_packets_of_those_types(proxy, peers):
    p = peers("fp-drop", proxy.port)
    subscribe(p, "fp/drop")
    proxy.drop({4})  # PUBACK
    p.got.clear()
    info = p.c.publish("fp/drop", b"acked, not told", qos=1)
    assert p.got.wait(5), "the message itself crossed"  # a PUBLISH from the broker
    [conn] = proxy.connections()
    end = time.monotonic() + 5
    while not conn.dropped and time.monotonic() < end:  # (the PUBACK may come after)
        time.sleep(0.02)
    assert conn.dropped == 1
    time.sleep(0.2)
    assert not info.is_published()  # its PUBACK did not cross
    downs = [t for t, _ in conn.mqtt_packets("down")]
    assert downs.count(4) == 1  # captured as the broker sent it
    proxy.drop()
    info = p.c.publish("fp/drop", b"acked", qos=1)
    info.wait_for_publish(5)
    assert info.is_published() and conn.dropped == 1


def test_cut_one_connection_leaves_the_others(proxy, peers):
    a = peers("fp-cut-a", proxy.port)
    b = peers("fp-cut-b", proxy.port)
    first, second = proxy.wait_connections(2)
    assert proxy.cut(first) == 1
    assert a.disconnected.wait(5)
    assert not first.alive and second.alive
    subscribe(b, "fp/cut-one")
    roundtrip(b, "fp/cut-one", b"still here")
    assert not b.disconnected.is_set()


def test_blackhole_holds_traffic_until_pass_through(proxy, peers):
    p = peers("fp-hole", proxy.port)
    subscribe(p, "fp/hole")
    [conn] = proxy.connections()
    up_before = conn.bytes_up
    proxy.blackhole()
    p.got.clear()
    info = p.c.publish("fp/hole", b"held", qos=1)
    assert not p.got.wait(0.5), "message crossed a blackholed link"
    assert not info.is_published()
    assert conn.alive and conn.bytes_up == up_before    # nothing read, socket open
    assert not p.disconnected.is_set()
    # a new connection is accepted by the kernel but gets no CONNACK
    late = peers("fp-hole-late", proxy.port, wait=False)
    assert not late.connected.wait(0.5)
    proxy.pass_through()
    assert p.got.wait(5) and p.messages[-1][1] == b"held"
    info.wait_for_publish(5)
    assert late.connected.wait(5)
    assert len(proxy.connections()) == 2


@pytest.mark.parametrize("direction", ["up", "down"])
def test_blackhole_one_direction(proxy, peers, direction):
    p = peers("fp-hole-" + direction, proxy.port)
    subscribe(p, "fp/hole1")
    [conn] = proxy.connections()
    up, down = conn.bytes_up, conn.bytes_down
    proxy.blackhole(direction)
    assert proxy.mode == "blackhole " + direction
    p.got.clear()
    info = p.c.publish("fp/hole1", b"one way", qos=1)
    assert not p.got.wait(0.5)
    if direction == "down":     # the broker got it; its PUBACK and the copy are held
        assert conn.bytes_up > up and conn.bytes_down == down
    else:                       # nothing left the client side of the proxy
        assert conn.bytes_up == up
    assert not info.is_published()
    proxy.pass_through()
    assert proxy.mode == "pass"
    assert p.got.wait(5) and p.messages[-1][1] == b"one way"
    info.wait_for_publish(5)


def test_delay_adds_latency_each_way(proxy, peers):
    p = peers("fp-delay", proxy.port)
    subscribe(p, "fp/delay")
    fast = min(roundtrip(p, "fp/delay", b"x") for _ in range(3))
    proxy.delay(150)
    slow = roundtrip(p, "fp/delay", b"y")
    # publish goes up (150 ms), the copy comes down (150 ms)
    assert slow >= 0.29 and slow < 3, slow
    proxy.pass_through()
    # the delay gone: under the delayed round trip's least (the best of three, as a
    # loaded machine may stall one)
    assert min(roundtrip(p, "fp/delay", b"z") for _ in range(3)) < 0.29, fast


def test_refuse_resets_new_connections(proxy):
    proxy.refuse(True)
    s = socket.create_connection(("127.0.0.1", proxy.port))
    s.settimeout(5)
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        s.sendall(CONNECT_V311)
        s.recv(4)
        s.recv(4)
    s.close()
    proxy.refuse(False)
    s = socket.create_connection(("127.0.0.1", proxy.port))
    s.settimeout(5)
    s.sendall(CONNECT_V311)
    assert s.recv(4)[0] == 0x20
    s.close()


def test_close_ends_everything(broker):
    proxy = FaultProxy(broker.host, broker.port)
    s = socket.create_connection(("127.0.0.1", proxy.port))
    s.sendall(CONNECT_V311)
    s.settimeout(5)
    assert s.recv(4)[0] == 0x20
    proxy.close()
    with pytest.raises(ConnectionResetError):
        if s.recv(10) == b"":
            raise AssertionError("FIN instead of RST")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1)
    s.close()


def test_split_mqtt():
    stream = bytes([0x30, 3, 0, 1, 0x61]) + bytes([0xC0, 0]) + bytes([0x30, 0x80, 0x01]) \
        + b"\0" * 128 + bytes([0x40, 2, 0])
    pkts = split_mqtt(stream)
    assert [(t, len(b)) for t, b in pkts] == [(3, 5), (12, 2), (3, 131)]   # tail incomplete
