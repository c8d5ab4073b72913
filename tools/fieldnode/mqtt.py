"""A paho-mqtt v5 connection to the broker for monitor and cmd, with one-line errors."""

import os
import threading
import uuid
from urllib.parse import urlsplit

from . import CliError

DEFAULT_URL = "mqtt://127.0.0.1:1883"
PREFIX = "fieldnode/v1"


def add_arguments(parser):
    parser.add_argument("--url", default=os.getenv("FIELDNODE_BROKER") or DEFAULT_URL,
                        help="broker URL (default $FIELDNODE_BROKER or %s)" % DEFAULT_URL)
    parser.add_argument("--prefix", default=PREFIX, help="topic prefix (default %s)" % PREFIX)


def connect(url, on_message=None, timeout=5.0):
    """A connected paho v5 client running its network loop in a thread."""
    import paho.mqtt.client as paho

    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise CliError("broker URL must look like mqtt://host[:port], got %r" % url)
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5,
                         client_id="fieldnode-cli-" + uuid.uuid4().hex[:8])
    if parts.username:
        client.username_pw_set(parts.username, parts.password)
    done = threading.Event()
    result = []

    def on_connect(c, userdata, flags, reason_code, properties):
        result.append(reason_code)
        done.set()

    client.on_connect = on_connect
    if on_message:
        client.on_message = on_message
    try:
        client.connect(parts.hostname, parts.port or 1883, keepalive=30)
    except OSError as e:
        raise CliError("no broker at %s: %s" % (url, e.strerror or e)) from None
    client.loop_start()
    if not done.wait(timeout):
        client.loop_stop()
        raise CliError("no broker at %s: no CONNACK within %gs" % (url, timeout))
    if result[0].is_failure:
        client.loop_stop()
        raise CliError("broker at %s refused the connection: %s" % (url, result[0]))
    return client


def subscribe(client, topics, timeout=5.0):
    """Subscribe (QoS 1) and wait for the SUBACK, so nothing published after it is missed."""
    done = threading.Event()
    client.on_subscribe = lambda *a: done.set()
    client.subscribe([(t, 1) for t in topics])
    if not done.wait(timeout):
        raise CliError("the broker did not acknowledge the subscription")


def close(client):
    client.disconnect()
    client.loop_stop()
