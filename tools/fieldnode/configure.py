"""`fieldnode config show|get|set|import|export --port P`: the device's config.json over serial.

Runs through mpremote's raw REPL on the board, with the firmware deployed:
the node's own view is read (config.load on the device: config.json, else its
last-good copy, else the defaults), every change is checked on the host with
the firmware's schema (firmware/config.py) before anything is sent (a `set`
value wrong whatever the board holds, before the port is even opened), and the
device writes it with the same module (config.save: temp file + rename, the
previous good file kept as the last-good copy). A bad value is refused with the
key named; the device's file is not touched. Secrets (wifi_password, password)
print as *** unless --show-secrets; a *** given back keeps the stored secret (refused,
nothing written, for a secret the board has none of). A board whose config.json is
there but invalid (the board reads its last-good copy or the defaults) refuses `set`
and an `import` that merges, which would write that copy over the file and lose its
other settings: fix the file, or replace it whole with `import` of a whole FILE.

    fieldnode config show --port /dev/ttyUSB0
    fieldnode config get keepalive --port /dev/ttyUSB0
    fieldnode config set keepalive=60 wifi_ssid=home sensors.temperature.interval_ms=5000 --port P
    fieldnode config export saved.json --port P      (import saved.json writes it back)
    fieldnode config import changes.json --port P    (only the keys to change)

export writes the whole config (every key, sensor settings included) to FILE
atomically: an existing FILE is replaced whole or left as it was. import is its
inverse: a FILE with every key becomes the board's config. A FILE lacking keys
(say {"keepalive": 60, "sensors": {"temperature": {"interval_ms": 5000}}}) is
merged: its keys are set (nested sensor settings one by one, like `config set`)
and every other key keeps its current value (--merge merges a whole FILE too).
The result is checked whole: a bad value or unknown key is refused, naming it,
and nothing is written (so is a FILE over 16384 bytes: the board takes a
config.json of up to 8192).

A value for a text key (wifi_ssid, wifi_password, username, ...) is taken as
written: wifi_password=12345678 is a string (`null` clears a key whose default is
null). Other values are JSON when they parse as JSON (60, true,
["mqtt://h:1883"]), else text. `get` prints text as it is and other values as
JSON; the text "null" prints as "null" (quoted), to tell it from null.
Reading or writing stops the running node (Ctrl-C); --reset soft-resets the
board afterwards so it boots again with the new config.
"""

import contextlib
import json
import math
import sys

from . import CliError, subparser
from .configfile import atomic_output, load_file
from .device import Device
from .firmware import module

_READ = """import json, board, config
_said = []
d = board.config_dir()
cfg, src = config.load(d, board.SENSORS, _said.append)
print(json.dumps([cfg, src, d, list(board.SENSORS), _said]))
"""
_SAVE = """import json, board, config
config.save(board.config_dir(), json.loads(%r.decode()), board.SENSORS)
print('saved')
"""


def parse_value(text, key=None):
    """The value of `KEY=TEXT`: for a config `key` whose schema type is a string
    (wifi_ssid, wifi_password, ...), TEXT as it is (a numeric Wi-Fi password stays a
    string), `null` only clearing a key whose default is null; else JSON when TEXT
    parses as JSON (60, true, ["mqtt://h:1883"]), else TEXT (NaN, Infinity and 1e999 too:
    Python's json reads them as numbers that are not JSON)."""
    if key is not None:
        schema = module("config")
        spec = schema.SCHEMA.get(key)
        if spec is not None and spec[0] == schema._STR:
            return None if text == "null" and spec[1] is None else text
    try:
        return json.loads(text, parse_constant=_not_json, parse_float=_finite)
    except (ValueError, RecursionError):    # (nested deeper than Python's parser goes)
        return text


def _not_json(name):
    # NaN, Infinity, -Infinity: Python's json takes them, but they are not JSON (RFC 8259
    # section 6), and json.dumps would send them as such: the node refuses the payload
    raise ValueError("%s is not a JSON number" % name)


def _finite(text):
    """A JSON number with a fraction or exponent, unless it overflows a float (1e999 would
    go out as Infinity)."""
    value = float(text)
    if math.isinf(value):
        raise ValueError("%s is out of range" % text)
    return value


def dotted_get(cfg, key):
    node = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise CliError("no config key %r" % key)
        node = node[part]
    return node


def dotted_set(cfg, key, value):
    """`cfg` with `key` (a.b.c for nested sensor settings) set to `value` (copies on the path)."""
    head, _, rest = key.partition(".")
    out = dict(cfg)
    if rest:
        out[head] = dotted_set(cfg.get(head) if isinstance(cfg.get(head), dict) else {}, rest, value)
    else:
        out[head] = value
    return out


def missing(cfg, obj, prefix=""):
    """The dotted keys of `cfg` that `obj` lacks (nested dicts compared key by key)."""
    out = []
    for k in sorted(cfg):
        if k not in obj:
            out.append(prefix + k)
        elif isinstance(cfg[k], dict) and isinstance(obj[k], dict):
            out += missing(cfg[k], obj[k], prefix + k + ".")
    return out


def read(dev, lenient=False, changing=None):
    """(full config, source, config dir, sensor names) as the node on `dev` sees them.
    A config file that is not UTF-8 text is a CliError saying so, unless `lenient`
    (`config import` of a whole file, which replaces it): then its bad bytes read as U+FFFD.
    `changing` ("config set", ...; or a function of the config read giving that, None for
    no such change): a change made on top of what the board holds, refused (CliError,
    nothing written) when its config.json is not UTF-8, or is there but invalid: the board
    reads its last-good copy or the defaults instead, and that plus the change written
    over the file would lose the file's other settings."""
    try:
        out = dev.exec(_READ)
    except CliError as e:
        if "ImportError" in str(e) or "no module named" in str(e):
            raise CliError("no Fieldnode firmware on the device (%s): run `fieldnode deploy` "
                           "first" % e) from None
        raise
    try:
        text, bad = out.decode(), None
    except UnicodeDecodeError as e:
        text, bad = out.decode("utf-8", "replace"), e
    # the last line, split at \n alone: MicroPython's JSON leaves U+0085, U+2028 and
    # U+2029 unescaped (a Wi-Fi name may hold one), where splitlines() would cut it
    line = text.strip().rsplit("\n", 1)[-1]
    try:
        cfg, source, cdir, sensors, said = json.loads(line)
    except ValueError:
        raise CliError("the board's answer is not what the firmware sends: %r"
                       % line[-200:]) from None
    if callable(changing):      # (`config import`: a FILE lacking keys is merged)
        changing = changing(cfg)
    if bad is not None and (changing or not lenient):
        raise CliError("the board's config file is not valid UTF-8 text (byte 0x%02x): replace "
                       "it with `fieldnode config import GOOD.json --port %s` (GOOD.json: a "
                       "`config export` or a file you wrote)"
                       % (bad.object[bad.start], dev.port))
    name = module("config").FILE
    invalid = "config: %s is invalid: " % name
    why = [line[len(invalid):] for line in said if line.startswith(invalid)]
    if changing and source != "file" and why:
        raise CliError(
            "refused, nothing written: the board's %s is invalid (%s), so the board reads %s "
            "instead, and this %s would write that plus the change over the file, losing its "
            "other settings. Fix that in the file (mpremote edit :%s), or replace the file "
            "whole: `fieldnode config export FILE --port %s`, complete FILE, then `fieldnode "
            "config import FILE --port %s`" % (
                name, why[0], "its last-good copy" if source == "last_good" else "the defaults",
                changing, _path(cdir, name), dev.port, dev.port))
    for line in said:   # why a file was passed over, a sensor setting ignored (config.load)
        if not line.startswith("config: no "):      # (a board never configured)
            print("fieldnode config: the board says: %s" % line, file=sys.stderr)
    return cfg, source, cdir, sensors


def _path(cdir, name):
    return cdir.rstrip("/") + "/" + name


def write(dev, cfg, sensors):
    """Validate `cfg` on the host (ConfigError -> CliError, nothing sent), then save it on the device."""
    schema = module("config")
    try:
        cfg = schema.validate(cfg, sensors)
    except schema.ConfigError as e:
        raise CliError("refused, nothing written: %s" % e) from None
    # UTF-8 text, not \u escapes: MicroPython's json.loads makes an escaped surrogate pair
    # (an emoji) CESU-8; a bytes literal carries the UTF-8 bytes exactly
    dev.exec(_SAVE % json.dumps(cfg, ensure_ascii=False).encode())
    return cfg


def check_masked(cfg, changes, where):
    """A CliError (nothing written) when `changes` give a secret as *** (which keeps the
    stored one: what `config export` writes) and the board has none stored: the secret
    would stay empty without a word."""
    schema = module("config")
    lost = [k for k in schema.SECRETS if changes.get(k) == schema.MASK and not cfg.get(k)]
    if lost:
        raise CliError("refused, nothing written: %s gives %s as %s (keep the stored value), "
                       "and the board has no %s stored: give %s (\"\" for none)" % (
                           where, " and ".join(lost), schema.MASK, " or ".join(lost),
                           "its value" if len(lost) == 1 else "their values"))


def show(cfg, secrets, out=None):
    out = out or sys.stdout
    schema = module("config")
    json.dump(cfg if secrets else schema.mask(cfg), out, indent=2, sort_keys=True,
              ensure_ascii=False)  # the text itself, as the node stores it
    out.write("\n")


def run(args):
    schema = module("config")
    # the local file first: a bad one is refused before the running node is stopped
    obj = load_file(args.items[0]) if args.action == "import" else None
    with contextlib.ExitStack() as stack:
        out = sys.stdout
        if args.action == "export" and args.items:
            out = stack.enter_context(atomic_output(args.items[0], args.show_secrets))
        dev = stack.enter_context(Device(args.port))
        cfg, source, cdir, sensors = read(dev, obj is not None, _changing(args, obj))
        if args.action == "show":
            print("# %s/%s (from %s)" % (cdir.rstrip("/"), schema.FILE, source),  # (board: "/")
                  file=sys.stderr)
            show(cfg, args.show_secrets)
        elif args.action == "get":
            for key in args.items or ():
                value = dotted_get(cfg, key)
                if key in schema.SECRETS and value and not args.show_secrets:
                    value = schema.MASK
                # text as it is, but the text "null" quoted: it is not the null value
                print(value if isinstance(value, str) and value != "null" else json.dumps(value))
        elif args.action == "set":
            check_masked(cfg, dict(args.changes), "`config set`")
            new = cfg
            for key, value in args.changes:
                new = dotted_set(new, key, value)
            new = write(dev, schema.merge(cfg, new), sensors)
            changed = sorted(k for k in new if new[k] != cfg[k])
            print("config: saved %s (changed: %s)" % (schema.FILE, ", ".join(changed) or "nothing"))
        elif args.action == "import":
            # the file's keys over the current config: all of them (the file replaces it),
            # or some (merged: the others keep their values), the result validated whole;
            # a *** secret keeps the stored one (and there must be one)
            check_masked(cfg, obj, args.items[0])
            write(dev, schema.merge(cfg, obj), sensors)  # sensor settings key by key
            print("config: %s %s into %s" % ("merged" if args.merge or missing(cfg, obj)
                                             else "imported", args.items[0], schema.FILE))
        else:  # export
            show(cfg, args.show_secrets, out)
        if args.reset:
            dev.soft_reset()
            print("config: soft reset, the node boots with this config", file=sys.stderr)
        elif args.action in ("set", "import"):
            print("config: the node applies it at its next boot (--reset does it now)",
                  file=sys.stderr)
    if out is not sys.stdout:   # renamed into place when the block above ended
        print("config: exported to %s%s" % (args.items[0], "" if args.show_secrets
                                             else " (secrets masked)"))
    return 0


def _changing(args, obj):
    """What `read` calls the change `args` make on top of the board's config: `set`, and an
    `import` of a FILE (`obj`) that lacks keys of it, or any FILE with --merge (None: an
    import of a whole FILE, which replaces the config)."""
    if args.action == "set":
        return "config set"
    if args.merge:
        return "config import --merge"
    if obj is None:
        return None
    return lambda cfg: "config import of a file lacking keys" if missing(cfg, obj) else None


def check_args(args):
    n = len(args.items or ())
    want = {"show": (0, 0), "get": (1, 99), "set": (1, 99), "import": (1, 1), "export": (0, 1)}
    lo, hi = want[args.action]
    if not lo <= n <= hi:
        what = {"get": "KEY ...", "set": "KEY=VALUE ...", "import": "FILE", "export": "[FILE]",
                "show": "no arguments"}[args.action]
        raise CliError("config %s takes %s" % (args.action, what), code=2)
    if args.merge and args.action != "import":
        raise CliError("--merge goes with config import", code=2)
    args.changes = []
    if args.action == "get":    # a key no board has: said before the node is stopped
        for key in args.items:
            why = unknown_key(key)
            if why is not None:
                raise CliError("no config key %r%s" % (key, why and ": " + why), code=2)
    if args.action == "set":    # checked before the port is opened (and the node stopped)
        for item in args.items:
            key, eq, text = item.partition("=")
            if not eq or not key:
                raise CliError("expected KEY=VALUE, got %r" % item, code=2)
            value = parse_value(text, key)
            try:
                precheck(key, value)
            except module("config").ConfigError as e:
                raise CliError("refused, nothing written: %s" % e, code=2) from None
            args.changes.append((key, value))
    return run(args)


def unknown_key(key):
    """None if `key` is one a board can have (a sensor's name aside: the board's); else why
    not ("" for a key not in the schema), the whole dotted key checked, as `set` does."""
    schema = module("config")
    parts = key.split(".")
    if parts[0] not in schema.SCHEMA or "" in parts:    # (sensors..x, a trailing dot)
        return ""
    if len(parts) > 1 and parts[0] != "sensors":
        return "%s is not an object" % parts[0]
    if len(parts) > 2 and parts[2] not in schema.SENSOR:
        return "%s has no key %r (known: %s)" % (".".join(parts[:2]), parts[2],
                                                 ", ".join(sorted(schema.SENSOR)))
    if len(parts) > 3:
        return "%s is not an object" % ".".join(parts[:3])
    return None


# the keys a value is checked against with the others: only on the merged config
_CROSS = ("brokers", "sensors", "tls_ca", "tls_cert", "tls_key", "tls_insecure")


def precheck(key, value):
    """ConfigError for a `config set` item refused whatever the board's config holds
    (unknown key, wrong type, out of range, bad URL or topic part), so a typo neither
    opens the port nor stops the running node. Sensor names and the checks across
    keys need the board's config: write() makes them."""
    schema = module("config")
    head, _, rest = key.partition(".")
    spec = schema.SCHEMA.get(head)
    if spec is None:
        raise schema.ConfigError("unknown key %r" % (head,))
    if head == "sensors":  # any sensor name: the board's are checked by write()
        name, _, sub = rest.partition(".")
        schema.validate({"sensors": value if not rest else {name: {sub: value} if sub else value}})
    elif rest:
        raise schema.ConfigError("%s is not an object: no key %r in it" % (head, rest))
    elif head == "brokers":  # with TLS allowed: whether the board has a CA is not known here
        schema.validate({"brokers": value, "tls_insecure": True})
    elif head in _CROSS:
        schema._check(head, spec, value)
    else:  # every other key at its default: an error can only be this key's
        schema.validate({head: value})


def add_parser(sub):
    p = subparser(sub, "config", __doc__)
    p.add_argument("action", choices=("show", "get", "set", "import", "export"))
    p.add_argument("items", nargs="*", default=[], metavar="ARG",
                   help="KEY, KEY=VALUE or FILE")
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyUSB0")
    p.add_argument("--show-secrets", action="store_true", help="print secrets in clear")
    p.add_argument("--reset", action="store_true", help="soft-reset the board afterwards")
    p.add_argument("--merge", action="store_true",
                   help="import: merge even a FILE with every key onto the current config (a "
                        "FILE lacking keys is merged without it)")
    p.set_defaults(run=check_args)
