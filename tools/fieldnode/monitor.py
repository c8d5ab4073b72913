"""`fieldnode monitor [--device ID] [--json]`: watch the nodes' topics live.

Subscribes to <prefix>/<device or +>/# (paho-mqtt, MQTT v5) and prints one
line per message: status, state readings and events (binary payloads decoded
with the firmware's schema, firmware/payload.py), stats, commands and their
answers. --json prints JSON lines instead. Retained messages (the last status
and reading of each sensor) come first, marked `(retained)`. Stop with Ctrl-C,
or after --count N messages or --duration S seconds. Over TLS, with a client
certificate:

    fieldnode monitor --url mqtts://broker --cafile ca.pem --cert me.pem --key me.key
"""

import json
import math
import queue
import sys
import time

from . import CliError, subparser
from . import mqtt, options
from .firmware import module

_TEXT_KINDS = ("status",)
_JSON_KINDS = ("stats", "cmd", "reply")


# JSON nested deeper than this is shown as undecodable (the node's own nests 3 deep; much
# deeper, Python's json.loads and json.dumps raise RecursionError)
MAX_DEPTH = 100


def _float(text):
    """A JSON number with a fraction or exponent; one too large for a float (1e999) as its
    text: json.dumps would print it as Infinity, which is not JSON."""
    value = float(text)
    return text if math.isinf(value) else value


def _depth(value):
    """How deep `value` (lists and dicts) nests, counted without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        v, d = todo.pop()
        if isinstance(v, (list, dict)):
            deepest = max(deepest, d)
            todo += [(x, d + 1) for x in (v.values() if isinstance(v, dict) else v)]
    return deepest


def decode(topic, payload, prefix, content_type=None):
    """A dict describing one message: device, kind, name and the decoded payload."""
    pl = module("payload")
    rest = topic[len(prefix) + 1:] if topic.startswith(prefix + "/") else topic
    parts = rest.split("/", 2)
    rec = {"device": parts[0], "kind": parts[1] if len(parts) > 1 else "",
           "name": parts[2] if len(parts) > 2 else "", "topic": topic}
    kind = rec["kind"]
    if kind == "state" and not payload:  # a retained reading removed (docs/payload.md)
        rec["payload"] = None
        rec["cleared"] = True
        return rec
    if content_type in (pl.CT_READING, pl.CT_EVENT) or kind in ("state", "event"):
        # repeats travel as bare topic aliases without a Content Type: the kind says the schema
        try:
            d = pl.decode(payload)
            d["values"] = [[v, e, pl.fixed(v, e)] for v, e in d["values"]]
            rec["payload"] = d
            rec["binary"] = True
        except pl.PayloadError as e:
            rec["error"] = str(e)
            rec["payload"] = payload.hex()
        return rec
    try:
        text = payload.decode()
    except UnicodeError:
        rec["payload"] = payload.hex()
        return rec
    if kind in _JSON_KINDS and text:
        try:
            # NaN, Infinity and 1e999 (Python's json takes them) as text: --json prints JSON;
            # a byte order mark first, which the node skips (a request it runs: masked too)
            rec["payload"] = json.loads(text[text.startswith("\ufeff"):], parse_constant=str,
                                        parse_float=_float)
            if _depth(rec["payload"]) > MAX_DEPTH:
                raise RecursionError
        except ValueError:
            pass
        except RecursionError:  # [[[[...: shown as it came, and the monitor goes on
            rec["error"] = "JSON nested over %d deep" % MAX_DEPTH
            rec["payload"] = text
            return rec
        else:  # a password in a set_config request: *** (as the node shows it)
            if isinstance(rec["payload"], dict):
                rec["payload"] = module("config").mask(rec["payload"])
            return rec
    rec["payload"] = text
    return rec


def line(rec, stamp, retained, extra=""):
    """The readable, aligned form of a decoded message."""
    p = rec["payload"]
    if "error" in rec:
        body = "undecodable (%s): %s" % (rec["error"], p)
    elif rec.get("cleared"):
        body = "cleared (no reading)"
    elif rec.get("binary"):
        pl = module("payload")
        bits = ["#%d" % p["seq"]]
        if p["code"] is not None:
            bits.append(pl.EVENT_NAMES.get(p["code"], "code %d" % p["code"]))
        bits += [v[2] for v in p["values"]]
        if p["time"] is not None:
            bits.append("t=%ds" % p["time"])
        body = " ".join(bits)
    elif isinstance(p, (dict, list)):
        body = json.dumps(p, separators=(",", ":"))
    else:
        body = p
    what = rec["kind"] + ("/" + rec["name"] if rec["name"] else "")
    return printable("%s  %-16s %-24s %s%s%s" % (
        time.strftime("%H:%M:%S", time.localtime(stamp)) + ".%03d" % (stamp % 1 * 1000),
        rec["device"], what, body, extra, "  (retained)" if retained else ""))


def printable(text):
    """`text` with its control characters as \\xNN: whoever may publish under the
    prefix must not move the terminal's cursor, colour it, or forge a line; and lone
    surrogates (a JSON string's escaped "\\ud800") as \\uNNNN, which no terminal can
    be written."""
    return "".join(c if " " <= c < "\x7f" or "\x9f" < c < "\ud800" or c > "\udfff"
                   else "\\x%02x" % ord(c) if c < "\u0100" else "\\u%04x" % ord(c)
                   for c in text)


def check_args(args):
    """The TLS settings (None for mqtt://). A wrong argument (the broker URL, a --device or
    --prefix that cannot go in a topic filter, --count, --duration, a TLS option that
    cannot work) is a CliError with exit code 2, raised before any connection."""
    options.check_url(args.url)
    options.check_topic_part("--prefix", args.prefix, slashes=True)
    if args.device is not None:
        options.check_topic_part("--device", args.device)
    options.check_seconds("--duration", args.duration, None)
    if args.count is not None and args.count < 1:
        raise CliError("--count must be a positive number of messages", code=2)
    return options.tls_context(args)


def _reconnect(lost, url, on_message, tls, topic, deadline):
    # A lost connection: connect and subscribe again, 1 s apart at first, then up to
    # 30 s, saying so on stderr; the messages in between are not seen (a note says it).
    # Returns the new client, or the lost one (closed) when --duration ran out first.
    mqtt.close(lost)
    print("monitor: lost the connection to %s; reconnecting (messages meanwhile are not "
          "shown)" % options.shown(url), file=sys.stderr)
    pause = 1.0
    while deadline is None or time.monotonic() < deadline:
        left = 5.0 if deadline is None else min(5.0, max(0.1, deadline - time.monotonic()))
        client = None
        try:
            client = mqtt.connect(url, on_message, left, tls)
            mqtt.subscribe(client, [topic], left)
        except CliError as e:
            if client is not None:  # connected, but the subscription failed
                mqtt.close(client)
            print("monitor: %s; next try in %gs" % (e, pause), file=sys.stderr)
            time.sleep(pause if deadline is None else
                       max(0.0, min(pause, deadline - time.monotonic())))
            pause = min(pause * 2, 30.0)
            continue
        print("monitor: reconnected, %s on %s" % (topic, options.shown(url)), file=sys.stderr)
        return client
    return lost


def run(args):
    tls = check_args(args)
    inbox = queue.Queue()

    def on_message(client, userdata, msg):
        inbox.put((time.time(), msg))

    topic = "%s/%s/#" % (args.prefix, args.device or "+")
    client = mqtt.connect(args.url, on_message, tls=tls)
    try:
        mqtt.subscribe(client, [topic])
        print("monitor: %s on %s (Ctrl-C to stop)" % (topic, options.shown(args.url)),
              file=sys.stderr)
        sys.stderr.flush()
        seen = 0
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while args.count is None or seen < args.count:
            wait = 0.2 if deadline is None else deadline - time.monotonic()
            if wait <= 0:
                break
            if not client.is_connected():  # the broker went: say so, and come back
                client = _reconnect(client, args.url, on_message, tls, topic, deadline)
                continue
            try:
                stamp, msg = inbox.get(timeout=min(wait, 0.2))
            except queue.Empty:
                continue
            props = msg.properties
            ct = getattr(props, "ContentType", None)
            rec = decode(msg.topic, msg.payload, args.prefix, ct)
            corr = getattr(props, "CorrelationData", None)
            if args.json:
                rec.update(time=round(stamp, 3), retained=bool(msg.retain), qos=msg.qos)
                if ct:
                    rec["content_type"] = ct
                if corr:
                    rec["correlation"] = corr.hex()
                print(json.dumps(rec))
            else:
                print(line(rec, stamp, msg.retain, "  [corr %s]" % corr.hex() if corr else ""))
            sys.stdout.flush()
            seen += 1
    finally:
        mqtt.close(client)
    return 0


def add_parser(sub):
    p = subparser(sub, "monitor", __doc__)
    p.add_argument("--device", metavar="ID", help="only this device (default: all)")
    p.add_argument("--json", action="store_true",
                   help="JSON lines instead of aligned text (NaN, Infinity and numbers too "
                        "large for a float in a payload, which are not JSON, print as strings: "
                        "\"NaN\", \"1e999\")")
    p.add_argument("--count", type=int, metavar="N", help="stop after N messages")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    options.add_arguments(p)
    p.set_defaults(run=run)
