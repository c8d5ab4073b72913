"""A paho-mqtt (MQTT v5) peer for integration tests, running in the pytest process.

    with PahoPeer(broker, "peer-1") as peer:
        peer.subscribe("t/#", qos=2)
        peer.when("t/ready", lambda m: peer.publish("t/in", b"x", qos=1))
        run(runtime, "client_x.py", broker.port)        # blocking is fine: paho has its thread
        msgs = peer.wait_messages("t/out", 3)

Received messages are kept as `Received` records (payload bytes and the v5
properties as plain Python values, `.at` the monotonic arrival time).
"""

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions


class Received:
    def __init__(self, msg):
        p = getattr(msg, "properties", None)
        self.topic = msg.topic
        self.payload = bytes(msg.payload)
        self.qos = msg.qos
        self.retain = bool(msg.retain)
        self.at = time.monotonic()
        self.user_properties = list(getattr(p, "UserProperty", []) or [])
        self.content_type = getattr(p, "ContentType", None)
        self.correlation_data = getattr(p, "CorrelationData", None)
        self.response_topic = getattr(p, "ResponseTopic", None)
        self.payload_format_indicator = getattr(p, "PayloadFormatIndicator", None)
        self.message_expiry_interval = getattr(p, "MessageExpiryInterval", None)

    def __repr__(self):
        return "<Received %s %r qos=%d retain=%s>" % (self.topic, self.payload, self.qos, self.retain)


class PahoPeer:
    """One connected paho-mqtt v5 client with a message log and topic triggers."""

    def __init__(self, broker, client_id="paho-peer", timeout=10):
        self.broker = broker
        self.timeout = timeout
        self.messages = []
        self._cond = threading.Condition()
        self._triggers = {}
        self._connected = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                        protocol=mqtt.MQTTv5)
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        self.client = c

    # ---- lifecycle ----
    def start(self):
        self.client.connect(self.broker.host, self.broker.port, keepalive=30)
        self.client.loop_start()
        if not self._connected.wait(self.timeout):
            raise AssertionError("paho peer did not connect")
        return self

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self._connected.set()

    def _on_message(self, client, userdata, msg):
        rec = Received(msg)
        with self._cond:
            self.messages.append(rec)
            self._cond.notify_all()
        fn = self._triggers.get(msg.topic)
        if fn is not None:  # own thread: fn may publish and wait for the ack
            threading.Thread(target=fn, args=(rec,), daemon=True).start()

    # ---- actions ----
    def subscribe(self, topic, qos=1, no_local=False, retain_handling=0):
        opts = SubscribeOptions(qos=qos, noLocal=no_local, retainHandling=retain_handling)
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.subscribe(topic, options=opts)
        if not done.wait(self.timeout):
            raise AssertionError("paho peer: no SUBACK for " + topic)

    def publish(self, topic, payload, qos=0, retain=False, user_properties=None,
                content_type=None, correlation_data=None, response_topic=None):
        props = Properties(PacketTypes.PUBLISH)
        for k, v in user_properties or ():
            props.UserProperty = (k, v)
        if content_type is not None:
            props.ContentType = content_type
        if correlation_data is not None:
            props.CorrelationData = correlation_data
        if response_topic is not None:
            props.ResponseTopic = response_topic
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if qos:
            info.wait_for_publish(self.timeout)
        return info

    def clear_retained(self, topic):
        self.publish(topic, b"", qos=1, retain=True)

    def when(self, topic, fn):
        """Call fn(received) (in a new thread) whenever a message arrives on `topic`
        (subscribe to it first)."""
        self._triggers[topic] = fn

    # ---- inspection ----
    def on(self, topic):
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def wait_messages(self, topic, count, timeout=None):
        """The first `count` messages on `topic`; AssertionError after the timeout."""
        end = time.monotonic() + (timeout or self.timeout)
        with self._cond:
            while True:
                got = [m for m in self.messages if m.topic == topic]
                if len(got) >= count:
                    return got[:count]
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError("paho peer: %d/%d messages on %s; all: %r" % (
                        len(got), count, topic, self.messages))
                self._cond.wait(left)
