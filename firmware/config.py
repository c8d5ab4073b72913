"""The node's configuration: one schema, shared by the firmware and host tools.

    cfg = validate({"keepalive": 30})   # full dict, defaults filled in; ConfigError
    cfg, source = load(dir)             # source: "file", "last_good" or "defaults"
    save(dir, cfg)                      # atomic: temp file + rename, keeps last good
    mask(cfg)                           # a copy with the secrets replaced by "***"

`config.json` may hold any subset of the keys; the rest take their defaults.
Unknown keys, wrong types and out-of-range values raise ConfigError naming the
key. No board import: host tools use this module under CPython (broker URLs are
checked by the library's own mqtt5.transport.parse_url). docs/config.md lists
every key.
"""

import json
import os
import sys

from mqtt5._compat import const

FILE = "config.json"
LAST_GOOD = "config.last_good.json"
_TMP = const("config.json.tmp")
MASK = "***"
SECRETS = ("wifi_password", "password")

# const(): the schema's tuples below are then constants, kept in flash when frozen
_INT = const(0)
_STR = const(1)
_BOOL = const(2)

# key: (kind, default, min, max)   (min/max: value range, or string length range)
SCHEMA = {
    "device_id": (_STR, None, 1, 64),
    "wifi_ssid": (_STR, "", 0, 32),
    "wifi_password": (_STR, "", 0, 64),
    "brokers": (None, [], 0, 4),  # list of mqtt:// or mqtts:// URLs
    "username": (_STR, None, 0, 64),
    "password": (_STR, None, 0, 64),
    "allow_plain_credentials": (_BOOL, False, 0, 1),
    "tls_ca": (_STR, None, 1, 128),
    "tls_cert": (_STR, None, 1, 128),
    "tls_key": (_STR, None, 1, 128),
    "tls_insecure": (_BOOL, False, 0, 1),
    "keepalive": (_INT, 30, 5, 3600),
    "ack_timeout_s": (_INT, 60, 0, 3600),  # 0: wait for acks for good
    # a connect's DNS and TCP, then its CONNACK (MicroPython: TLS's handshake too);
    # 30 s, not the library's 10: a cellular link's round trips and handshake take longer
    "connect_timeout_s": (_INT, 30, 5, 120),
    "session_expiry": (_INT, 3600, 0, 0xFFFFFFFF),
    "will_delay": (_INT, 5, 0, 86400),
    "topic_prefix": (_STR, "fieldnode/v1", 1, 64),
    "sensors": (None, {}, 0, 16),  # name -> SENSOR keys (their count: the board's list)
    "stats_interval_ms": (_INT, 60000, 500, 86400000),
    "event_expiry_s": (_INT, 3600, 1, 0xFFFFFFFF),
    "queue_count": (_INT, 32, 1, 256),
    "queue_bytes": (_INT, 8192, 256, 65536),
    "fatal_backoff_s": (_INT, 3600, 1, 86400),
    "network_timeout_ms": (_INT, 20000, 1000, 120000),
    "watchdog_ms": (_INT, 30000, 0, 600000),  # 0: no watchdog, else at least _WDT_MIN
    "broker_timeout_s": (_INT, 0, 0, 604800),  # 0: never, else at least _BROKER_MIN
}
# per sensor; high/low in the sensor's fixed-point steps (board SENSORS)
SENSOR = {
    "interval_ms": (_INT, 10000, 200, 86400000),
    "qos": (_INT, 1, 0, 1),
    "high": (_INT, None, -2147483648, 2147483647),
    "low": (_INT, None, -2147483648, 2147483647),
    "hysteresis": (_INT, 0, 0, 2147483647),
}
DEFAULTS = {k: v[1] for k, v in SCHEMA.items()}
_WDT_MIN = const(1000)  # the node feeds its watchdog at most every 100 ms, checking its tasks
_BROKER_MIN = const(10)  # s: a reset for want of a broker, no sooner than a connect can fail
_MAX_FILE = const(8192)  # bytes of config.json read at most


class ConfigError(ValueError):
    """An invalid configuration; the message names the key."""


def _check(key, spec, v):
    kind, _, lo, hi = spec
    if v is None:
        if spec[1] is None:
            return None
        raise ConfigError("%s: must not be null" % key)
    if kind == _BOOL:
        if v is not True and v is not False:
            raise ConfigError("%s: expected true or false, got %r" % (key, v))
    elif kind == _INT:
        if not isinstance(v, int) or isinstance(v, bool):
            raise ConfigError("%s: expected an integer, got %r" % (key, v))
        if v < lo or v > hi:
            raise ConfigError("%s: %d is out of range %d..%d" % (key, v, lo, hi))
    else:
        if not isinstance(v, str):
            raise ConfigError("%s: expected a string" % key)
        if len(v) < lo or len(v) > hi:
            raise ConfigError("%s: length %d is out of range %d..%d" % (key, len(v), lo, hi))
        from mqtt5.wire import utf8_ok  # the client's own test of an MQTT string

        try:
            ok = utf8_ok(v.encode())
        except UnicodeError:  # a lone surrogate (CPython): no UTF-8 for the device
            ok = False
        if not ok:  # also a surrogate pair that MicroPython's json.loads made CESU-8
            raise ConfigError("%s: not valid text (UTF-8, without U+0000)" % key)
    return v


def topic_part(key, v, slashes):
    """ConfigError unless `v` can go in a topic: no wildcard, no / unless `slashes`,
    and `mqtt_text` (the host CLI checks its arguments with this too)."""
    for c in "+#" if slashes else "+#/":
        if c in v:
            raise ConfigError("%s: %r must not contain %r" % (key, v, c))
    mqtt_text(key, v)


def mqtt_text(key, v):
    """ConfigError if `v` holds a code point an MQTT string should not (spec 1.5.4:
    controls, non-characters; the client refuses to send them): a broker may take
    it as malformed (Mosquitto closes the link), and a node whose client id or
    topics hold one could never connect."""
    from mqtt5.wire import to_utf8

    try:
        to_utf8(v)
    except ValueError as e:
        raise ConfigError("%s: %r: %s" % (key, v, e))


def _sensor(name, obj):
    if not isinstance(obj, dict):
        raise ConfigError("sensors.%s: expected an object" % name)
    out = {}
    for k in obj:
        if k not in SENSOR:
            raise ConfigError("sensors.%s: unknown key %r (known: %s)"
                              % (name, k, ", ".join(sorted(SENSOR))))
    for k, spec in SENSOR.items():
        out[k] = _check("sensors.%s.%s" % (name, k), spec, obj.get(k, spec[1]))
    if out["high"] is not None and out["low"] is not None and out["low"] >= out["high"]:
        raise ConfigError("sensors.%s: low must be below high" % name)
    return out


def validate(obj, sensors=None):
    """The full config (defaults filled in) from a dict holding any subset of the
    keys; ConfigError naming the key otherwise. `sensors`: the board's sensor
    names, to reject unknown ones and fill in the others (None: any name)."""
    if not isinstance(obj, dict):
        raise ConfigError("config: expected a JSON object")
    for k in obj:
        if k not in SCHEMA:
            raise ConfigError("unknown key %r" % (k,))
    out = {}
    for k, spec in SCHEMA.items():
        v = obj.get(k, spec[1])
        if spec[0] is not None:
            out[k] = _check(k, spec, v)
    urls = obj.get("brokers", [])
    if not isinstance(urls, list) or len(urls) > 4:
        raise ConfigError("brokers: expected a list of at most 4 URLs")
    for u in urls:
        if not isinstance(u, str) or not (u.startswith("mqtt://") or u.startswith("mqtts://")) \
                or len(u) > 128:
            raise ConfigError("brokers: %r is not an mqtt:// or mqtts:// URL" % (u,))
        from mqtt5.transport import parse_url  # the client's own reading of a URL

        try:
            parse_url(u)
        except ValueError as e:
            raise ConfigError("brokers: %s" % e)
        for c in u[u.find("://") + 3:].rstrip("/"):  # (after: no password echoed)
            # (a path, a query or a space the library would drop or try to resolve)
            if not ("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c in ".-_:[]"):
                # (ASCII on every runtime: CPython's isalpha() takes "ü", MicroPython's not)
                raise ConfigError("brokers: %r: %r has no place in scheme://host[:port]"
                                  % (u, c))
    out["brokers"] = list(urls)
    sens = obj.get("sensors", {})
    if not isinstance(sens, dict):
        raise ConfigError("sensors: expected an object of sensor name -> settings")
    out["sensors"] = {}
    for name in sens:
        if sensors is not None and name not in sensors:
            raise ConfigError("sensors: unknown sensor %r (this board has: %s)"
                              % (name, ", ".join(sorted(sensors))))
        topic_part("sensors", name, False)
        out["sensors"][name] = _sensor(name, sens[name])
    for name in sensors or ():  # the board's sensors not named: their defaults
        if name not in out["sensors"]:
            out["sensors"][name] = _sensor(name, {})
    if out["device_id"] is not None:
        topic_part("device_id", out["device_id"], False)
    topic_part("topic_prefix", out["topic_prefix"], True)
    if out["username"] is not None:  # (CONNECT's User Name: a string, as the client id)
        mqtt_text("username", out["username"])
    if out["topic_prefix"].startswith("$"):  # the broker's own topics [MQTT-4.7.2-1]
        raise ConfigError("topic_prefix: %r must not start with '$' (topics starting with $ "
                          "are the broker's)" % out["topic_prefix"])
    if (out["tls_cert"] is None) != (out["tls_key"] is None):
        raise ConfigError("tls_cert and tls_key: give both or neither")
    if 0 < out["watchdog_ms"] < _WDT_MIN:
        raise ConfigError("watchdog_ms: 0 (none) or %d..600000, got %d"
                          % (_WDT_MIN, out["watchdog_ms"]))
    if 0 < out["broker_timeout_s"] < _BROKER_MIN:
        raise ConfigError("broker_timeout_s: 0 (never) or %d..604800, got %d"
                          % (_BROKER_MIN, out["broker_timeout_s"]))
    if out["tls_insecure"] and out["tls_ca"] is not None:
        raise ConfigError("tls_insecure: set it, or tls_ca, not both")
    tls = [u.startswith("mqtts://") for u in urls]
    if True in tls and False in tls:  # the supervisor refuses such a list
        raise ConfigError("brokers: all mqtt:// or all mqtts:// (a TLS node must not "
                          "fall back to plain TCP)")
    if True in tls and out["tls_ca"] is None and not out["tls_insecure"]:
        raise ConfigError("tls_ca: mqtts:// brokers need the CA file their certificates "
                          "chain to (a path on the device), or tls_insecure")
    return out


def sensor(cfg, name):
    """The settings of sensor `name` (its defaults when the config names none)."""
    s = cfg["sensors"].get(name)
    return s if s is not None else {k: v[1] for k, v in SENSOR.items()}


def mask(cfg):
    """A copy of `cfg` with every set secret replaced by MASK (for answers and logs)."""
    out = dict(cfg)
    for k in SECRETS:
        if out.get(k):
            out[k] = MASK
    return out


def merge(cfg, changes):
    """`cfg` with `changes` applied: a secret given as MASK keeps its value, and
    sensor settings are merged sensor by sensor, key by key; the result is
    validated by the caller."""
    out = dict(cfg)
    for k in changes:
        v = changes[k]
        if k in SECRETS and v == MASK:
            continue
        cur = out.get(k)
        if k == "sensors" and isinstance(v, dict) and isinstance(cur, dict):
            v = _merged(cur, v)
        out[k] = v
    return out


def _merged(cur, new):
    out = dict(cur)
    for name in new:
        old = out.get(name)
        if isinstance(old, dict) and isinstance(new[name], dict):
            old = dict(old)
            old.update(new[name])
            out[name] = old
        else:
            out[name] = new[name]
    return out


def _path(d, name):
    return d + ("" if d.endswith("/") else "/") + name


def _read(path, sensors, log=None, gone=None):
    st = os.stat(path)
    if st[0] & 0o170000 != 0o100000:  # S_IFMT is not S_IFREG: a folder, a device, or a
        raise OSError("not a file (mode 0o%o)" % st[0])  # FIFO, whose open() would block
    n = st[6]
    if n > _MAX_FILE:  # a valid config is a few hundred bytes: not worth the heap
        raise ConfigError("%d bytes, over %d" % (n, _MAX_FILE))
    with open(path, "rb") as f:
        # the size stat() gave, and a byte more (read(k) takes k bytes of heap first,
        # so not the cap): a file that grows meanwhile is not read without end
        data = f.read(n + 1 if n else 16)
    if len(data) > n:
        raise ConfigError("changed while read")
    text = data.decode()  # UnicodeError: not UTF-8 text
    # MicroPython's json.loads alone takes what is not JSON: a hand-edited
    # "fieldnode\v1" would run as "fieldnodev1" (CPython refuses it). The checker
    # goes again after a boot's check (2.3 KB of heap as .mpy on 32-bit ports) and
    # comes back with the first command payload
    had = "strictjson" in sys.modules
    import strictjson

    try:
        bom = strictjson.check(data)  # (a BOM an editor wrote: skipped)
    finally:
        if not had:
            del sys.modules["strictjson"]
    obj = json.loads(text[1:] if bom else text)
    sens = obj.get("sensors") if isinstance(obj, dict) else None
    dropped = []
    if sensors is not None and isinstance(sens, dict):
        for name in [k for k in sens if k not in sensors]:
            # a sensor this board (or firmware) no longer has: its settings go, the
            # rest (Wi-Fi, brokers) still holds. save() and set_config stay strict
            del sens[name]
            if log:
                log("config: sensor %r is not on this board (it has %s): its settings "
                    "are ignored" % (name, ", ".join(sorted(sensors))))
            try:
                topic_part("sensors", name, False)  # a name that can be a topic level
                if name:
                    dropped.append(name)
            except ConfigError:
                pass
    cfg = validate(obj, sensors)
    if gone is not None:  # (only the names of the file that is used)
        gone += dropped[:16]
    return cfg


def load(d, sensors=None, log=None, gone=None):
    """(cfg, source): config.json if valid, else its last-good copy, else the
    defaults; `log(msg)` hears why a file was passed over. `gone`, a list, gets
    the names of sensors the file used names and the board does not have (up to
    16 that can be a topic level)."""
    for name, source in ((FILE, "file"), (LAST_GOOD, "last_good")):
        try:
            return _read(_path(d, name), sensors, log, gone), source
        except OSError as e:
            if log and name == FILE:  # (ENOENT: none; else there but unreadable)
                log("config: no %s in %s" % (name, d) if e.args and e.args[0] == 2 else
                    "config: %s unreadable: %s" % (name, e))
        except Exception as e:  # bad JSON, not UTF-8, a bad value; nested too deep
            if log:  # (RuntimeError, MemoryError); MicroPython's UnicodeError has no text
                log("config: %s is invalid: %s" % (
                    name, str(e) or ("not UTF-8 text" if isinstance(e, UnicodeError)
                                     else type(e).__name__)))
    return validate({}, sensors), "defaults"


def save(d, cfg, sensors=None):
    """Validate and write `cfg` atomically: temp file, flush (fsync), rename over
    config.json; the previous valid config.json becomes the last-good copy.
    Raises ConfigError (nothing written) for an invalid config."""
    cfg = validate(cfg, sensors)
    try:  # UTF-8 text, as MicroPython's dumps() writes (CPython's default: \u escapes,
        text = json.dumps(cfg, ensure_ascii=False)  # 12 bytes an emoji, and surrogate
    except TypeError:  # pairs, which load() refuses). MicroPython: no such argument
        text = json.dumps(cfg)
    tmp = _path(d, _TMP)  # (under load()'s 8192 bytes: the schema's limits hold it)
    with open(tmp, "wb") as f:
        f.write(text.encode())
        f.flush()  # (MicroPython: its unix port fsyncs here, a VFS commits at close)
        sync = getattr(os, "fsync", None)  # CPython: on the disk before the rename, or
        if sync:  # a power cut can leave an empty or partial config.json after it
            sync(f.fileno())
    cur = _path(d, FILE)
    try:
        _read(cur, sensors)  # keep the current file only if it is good
        _replace(cur, _path(d, LAST_GOOD))
    except Exception:  # (as load() sees it)
        pass
    _replace(tmp, cur)
    return cfg


def _replace(src, dst):
    # os.rename replaces dst on POSIX; some littlefs/FAT ports refuse: remove first
    try:
        os.rename(src, dst)
    except OSError:
        os.remove(dst)
        os.rename(src, dst)
