"""`fieldnode cmd DEVICE NAME [key=value ...]`: send a command, print the device's answer.

MQTT v5 request/response: the arguments go as a JSON object to
<prefix>/DEVICE/cmd/NAME with a Response Topic (<prefix>/DEVICE/reply/<id>) and
Correlation Data; the node answers there with a JSON object holding `rc`
(0 = done), `msg` and the command's data, printed here as one JSON line. The
request carries a Message Expiry Interval of --timeout (rounded up to whole
seconds): one the broker holds for a node that is offline expires when the wait
ends, so a command given up on does not run when the node comes back.
Exit code 0 when rc is 0; 1 for an error answer, when the broker cannot be
reached within --timeout seconds, when it refuses the request (its PUBACK: an
ACL, say), or when no answer comes within --timeout seconds after that; a
closed stdout (`| head` that has exited) only cuts the printing: no message, the
answer's exit code. Values are JSON when they parse as JSON, else text; set_config
takes them as `fieldnode config set` does: a dotted key is a nested object
(sensors.temperature.high=2600), a text key's value is text as written:

    fieldnode cmd node-1 ping
    fieldnode cmd node-1 set_interval sensor=temperature interval_ms=5000
    fieldnode cmd node-1 set_config sensors.temperature.high=2600 stats_interval_ms=60000
    fieldnode cmd node-1 ping --url mqtts://broker:8883 --cafile ca.pem
"""

import json
import math
import os
import queue
import sys

from . import CliError, subparser
from . import mqtt, options
from .configure import dotted_set, parse_value

# the node's result codes (firmware/commands.py, docs/commands.md)
RC_NAMES = {1: "malformed request", 2: "unknown command", 3: "bad arguments",
            4: "request too large", 5: "failed"}


def request(url, prefix, device, name, args, timeout, tls=None):
    """Send one command; returns the answer (a dict, if the node keeps its word). The
    connection (with `tls`, from options.tls_context), then the answer, each get `timeout`
    seconds."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    inbox = queue.Queue()
    status = []
    corr = os.urandom(8)
    base = "%s/%s" % (prefix, device)
    reply = "%s/reply/%s" % (base, corr.hex())

    def on_message(client, userdata, msg):
        if msg.topic == base + "/status":
            status.append(msg.payload.decode(errors="replace"))
        elif getattr(msg.properties, "CorrelationData", None) == corr:
            inbox.put(msg.payload)

    def on_publish(client, userdata, mid, reason_code, properties):
        if reason_code.is_failure:  # (PUBACK 0x87 from an ACL, say: nothing to wait for)
            inbox.put(reason_code)

    client = mqtt.connect(url, on_message, timeout, tls)
    client.on_publish = on_publish
    try:
        mqtt.subscribe(client, [reply, base + "/status"], timeout)
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = reply
        props.CorrelationData = corr
        props.ContentType = "application/json"
        # not delivered by the time we give up: the broker drops it [MQTT-3.3.2-5], so a
        # node back from an outage does not run a command its sender saw fail
        props.MessageExpiryInterval = max(1, math.ceil(timeout))
        # UTF-8, not \u escapes: MicroPython's json.loads turns an escaped surrogate
        # pair (an emoji) into CESU-8, which the node refuses as text
        client.publish(base + "/cmd/" + name, json.dumps(args, ensure_ascii=False).encode(),
                       qos=1, properties=props)
        try:
            payload = inbox.get(timeout=timeout)
        except queue.Empty:
            state = status[-1] if status else None
            hint = ("its retained status is %r" % state if state
                    else "it never published a status on this broker")
            raise CliError("no answer from %s to %s within %gs (%s; a request not yet "
                           "delivered expires at the broker and does not run later)"
                           % (device, name, timeout, hint))
        if not isinstance(payload, bytes):     # the broker's PUBACK refused the request
            raise CliError("the broker refused the command (PUBACK 0x%02X %s) on %s/cmd/%s"
                           % (payload.value, payload, base, name))
    finally:
        mqtt.close(client)
    try:
        answer = json.loads(payload.decode())
    except (UnicodeError, ValueError, RecursionError):    # (nested deeper than Python goes)
        raise CliError("the answer is not JSON: %r" % payload[:80]) from None
    return answer


def check_args(args):
    """(the command's arguments as a dict, the TLS settings or None); a wrong argument (the
    broker URL, a device id, command name or prefix that cannot go in a topic, a bad
    key=value or --timeout, a TLS option that cannot work) is a CliError with exit code 2,
    raised before any connection."""
    options.check_url(args.url)
    options.check_topic_part("--prefix", args.prefix, slashes=True)
    options.check_topic_part("device id", args.device)
    options.check_topic_part("command name", args.name)
    options.check_seconds("--timeout", args.timeout)
    kwargs = {}
    config = args.name == "set_config"
    for item in args.args:
        key, eq, text = item.partition("=")
        if not eq or not key:
            raise CliError("expected key=value, got %r" % item, code=2)
        if config:  # as `config set` takes them: text keys as written, a.b.c nested
            kwargs = dotted_set(kwargs, key, parse_value(text, key))
        else:
            kwargs[key] = parse_value(text)
    try:  # sent as UTF-8 (request()): bytes that were not UTF-8 in argv cannot be
        json.dumps(kwargs, ensure_ascii=False).encode()
    except UnicodeError:
        raise CliError("arguments must be UTF-8 text", code=2) from None
    except RecursionError:
        raise CliError("arguments nested too deep", code=2) from None
    return kwargs, options.tls_context(args)


def run(args):
    kwargs, tls = check_args(args)
    answer = request(args.url, args.prefix, args.device, args.name, kwargs, args.timeout, tls)
    try:
        print(json.dumps(answer))
        sys.stdout.flush()
    except BrokenPipeError:     # (`| head` that has exited): the command ran and was
        # answered, only its printing was cut; the rest of it goes nowhere
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    rc = answer.get("rc") if isinstance(answer, dict) else None
    if rc != 0:
        raise CliError("%s answered rc %s (%s): %s" % (
            args.device, rc, RC_NAMES.get(rc, "error"),
            answer.get("msg") if isinstance(answer, dict) else answer))
    return 0


def add_parser(sub):
    p = subparser(sub, "cmd", __doc__)
    p.add_argument("device", metavar="DEVICE", help="the device id")
    p.add_argument("name", metavar="NAME", help="command name, e.g. ping, get_state, set_config")
    p.add_argument("args", nargs="*", default=[], metavar="key=value",
                   help="command arguments")  # (default: argparse would call it required)
    p.add_argument("--timeout", type=float, default=5.0, metavar="S",
                   help="seconds to wait for the broker to accept the connection, then "
                        "for the answer (default 5)")
    options.add_arguments(p)
    p.set_defaults(run=run)
