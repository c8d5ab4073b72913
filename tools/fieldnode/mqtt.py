"""A paho-mqtt v5 connection to the broker for monitor and cmd, with one-line errors."""

import math
import os
import threading
import uuid
from urllib.parse import urlsplit

from . import CliError
from .firmware import module

DEFAULT_URL = "mqtt://127.0.0.1:1883"
PREFIX = "fieldnode/v1"
PORTS = {"mqtt": 1883, "mqtts": 8883}


def add_arguments(parser):
    parser.add_argument("--url", default=os.getenv("FIELDNODE_BROKER") or DEFAULT_URL,
                        help="broker URL, mqtt://host[:port] or mqtts:// for TLS (system CAs, "
                             "or $SSL_CERT_FILE) (default $FIELDNODE_BROKER or %s)" % DEFAULT_URL)
    parser.add_argument("--prefix", default=PREFIX, help="topic prefix (default %s)" % PREFIX)


def check_url(url):
    """(urlsplit parts, port) of a broker URL; anything but mqtt[s]://host[:port] with a
    port in 1..65535 is a wrong argument (CliError, exit code 2)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:          # not a number, or above 65535
        port = 0
    if parts.scheme not in PORTS or not parts.hostname or port == 0:
        raise CliError("broker URL must look like mqtt://host[:port] or mqtts://host[:port] "
                       "(port 1-65535), got %r" % url, code=2)
    return parts, port or PORTS[parts.scheme]


def check_topic_part(what, value, slashes=False):
    """`value` must go in a topic, by the firmware's rule for device_id and topic_prefix
    (config.topic_part), and not be empty; else a CliError, exit code 2."""
    if not value:
        raise CliError("%s must not be empty" % what, code=2)
    try:
        module("config").topic_part(what, value, slashes)
    except ValueError as e:
        raise CliError(str(e), code=2) from None


def check_seconds(option, value):
    """`value` of a seconds option (None: not given) must be positive and finite; else a
    CliError, exit code 2."""
    if value is not None and not 0 < value < math.inf:
        raise CliError("%s must be positive and finite" % option, code=2)


def connect(url, on_message=None, timeout=5.0):
    """A connected paho v5 client running its network loop in a thread; mqtts:// is TLS
    with the system's CA certificates (or $SSL_CERT_FILE)."""
    import paho.mqtt.client as paho

    parts, port = check_url(url)
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5,
                         client_id="fieldnode-cli-" + uuid.uuid4().hex[:8])
    if parts.scheme == "mqtts":
        client.tls_set()
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
        client.connect(parts.hostname, port, keepalive=30)
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
