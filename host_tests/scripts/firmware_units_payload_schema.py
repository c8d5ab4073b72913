"""Unit checks of firmware/payload.py (encode, decode, refused payloads) and of
firmware/config.py's schema (validate, merge, mask) on this runtime (no board, no
broker). One JSON record per check (firmware_units_util.ok)."""

import json
import sys

import config
import payload as pl
from firmware_units_util import _n, ok

buf = bytearray(pl.MAX_SIZE)
n = pl.encode_reading(buf, 7, 2137, -2)
ok("reading_len", n == 6, n)
d = pl.decode(buf[:n])
ok("reading_decode", d["seq"] == 7 and d["values"] == [(2137, -2)] and d["time"] is None, d)
n = pl.encode_reading(buf, 65537, -5, -1, 1234)
d = pl.decode(memoryview(buf)[:n])
ok("reading_late", d["seq"] == 1 and d["time"] == 1234 and d["values"] == [(-5, -1)], d)
n = pl.encode_reading(buf, 1, 100000, 0)
ok("reading_i32", pl.decode(buf[:n])["values"] == [(100000, 0)] and n == 8, n)
n = pl.encode_event(buf, 3, 99, pl.EV_HIGH, 2500, -2)
d = pl.decode(buf[:n])
ok("event", d["code"] == pl.EV_HIGH and d["time"] == 99 and d["values"] == [(2500, -2)], d)
ok("fixed", pl.fixed(2137, -2) == "21.37" and pl.fixed(-5, -2) == "-0.05"
   and pl.fixed(7, 1) == "70" and pl.fixed(-123, -1) == "-12.3", pl.fixed(-5, -2))
for name, bad in (("empty", b""), ("short", b"\x01\x00"), ("foreign", b"{\"t\": 1}"),
                  ("truncated_field", b"\x01\x00\x01\x16\x09"), ("bad_tag", b"\x01\x00\x01\xf0"),
                  # TIME and CODE are exactly 0x30 and 0x40 (docs/payload.md)
                  ("time_nibble", b"\x01\x00\x01\x3f\x00\x00\x00\x05\x16\x08\x59"),
                  ("code_nibble", b"\x01\x00\x01\x4a\x01")):
    try:
        pl.decode(bad)
        ok("decode_" + name, False, "no error")
    except pl.PayloadError as e:
        ok("decode_" + name, len(str(e)) > 10, e)

# config schema
ok("defaults", config.validate({}) == config.validate(config.DEFAULTS))
for bad, key in (({"keepalive": 1}, "keepalive"), ({"keepalive": "30"}, "keepalive"),
                 ({"bogus": 1}, "bogus"), ({"sensors": {"temperature": {"qos": 2}}}, "qos"),
                 ({"sensors": {"temperature": {"speed": 2}}}, "speed"),
                 ({"sensors": {"pressure": {}}}, "pressure"),
                 ({"brokers": ["http://x"]}, "brokers"), ({"device_id": "a/b"}, "device_id"),
                 ({"topic_prefix": "$SYS"}, "topic_prefix"),  # the broker's [MQTT-4.7.2-1]
                 ({"allow_plain_credentials": 1}, "allow_plain_credentials"),
                 ({"broker_timeout_s": 5}, "broker_timeout_s"),
                 ({"sensors": {"temperature": {"high": 10, "low": 20}}}, "low")):
    try:
        config.validate(bad, ("temperature", "humidity"))
        ok("reject_" + key, False, bad)
    except config.ConfigError as e:
        ok("reject_" + key, key in str(e), e)
# connect_timeout_s: whole seconds 5..120 (Client connect_timeout_ms), 30 by default:
# the library's 10 s cut off a CONNACK (on MicroPython a TLS handshake) on a slow link
got = config.DEFAULTS.get("connect_timeout_s")
ok("connect_timeout_default", got == 30 and config.validate({}).get("connect_timeout_s") == 30,
   got)
try:
    got = [config.validate({"connect_timeout_s": v})["connect_timeout_s"] for v in (5, 120)]
except config.ConfigError as e:
    got = e
ok("connect_timeout_ends", got == [5, 120], got)
for v, msg in ((4, "connect_timeout_s: 4 is out of range 5..120"),
               (121, "connect_timeout_s: 121 is out of range 5..120"),
               (0, "connect_timeout_s: 0 is out of range 5..120"),
               ("30", "connect_timeout_s: expected an integer, got '30'"),
               (30.5, "connect_timeout_s: expected an integer, got 30.5"),
               (True, "connect_timeout_s: expected an integer, got True"),
               (None, "connect_timeout_s: must not be null")):
    try:
        config.validate({"connect_timeout_s": v})
        ok("reject_connect_timeout %r" % (v,), False, v)
    except config.ConfigError as e:
        ok("reject_connect_timeout %r" % (v,), str(e) == msg, e)
# code points an MQTT string should not hold (spec 1.5.4): Mosquitto closes the link
# of a client id, topic or user name with one, so a node set so never connected again
for bad, key, cp in (({"device_id": "t2\x01x"}, "device_id", "U+0001"),
                     ({"topic_prefix": "fieldnode/v1\x7f"}, "topic_prefix", "U+007F"),
                     ({"topic_prefix": "fn\uffffv1"}, "topic_prefix", "U+FFFF"),
                     ({"topic_prefix": "fn/\ufdd0"}, "topic_prefix", "U+FDD0"),
                     ({"sensors": {"t\x85": {}}}, "sensors", "U+0085"),
                     ({"username": "node\x1b"}, "username", "U+001B"),
                     ({"device_id": "a\x00b"}, "device_id", "U+0000")):
    try:
        config.validate(bad)
        ok("reject_code_point " + cp, False, bad)
    except config.ConfigError as e:
        ok("reject_code_point " + cp, str(e).startswith(key + ": ") and cp in str(e), e)
got = config.validate({"device_id": "k\u00fcche-\u00a0\U0001f321", "username": "J\u00fcrgen",
                       "topic_prefix": "fn/\ufffd/v1"})  # the rest of Unicode goes
ok("accept_code_points", got["device_id"] == "k\u00fcche-\u00a0\U0001f321", got["device_id"])
# broker URLs the client could not connect to are refused when set, naming the URL
for url in ("mqtt://", "mqtt://h:", "mqtt://h:99999", "mqtt://h:abc", "mqtt://:1883",
            "mqtts://[::1", "mqtt://[::1]x", "mqtt://h/path", "mqtt://h:1883/x",
            "mqtt://h b", "mqtt://h?x", "mqtt://h#f", "mqtt://broker:1883:1",
            "mqtt://a:b:c:1883", "mqtt://m\u00fcller.local:1883", "mqtt://h\u00b2:1883",
            "mqtt://\u212aelvin"):  # (ASCII on every runtime: CPython's isalpha() took "\u00fc")
    try:
        config.validate({"brokers": ["mqtt://ok.example:1883", url]})
        ok("reject_broker " + url, False, url)
    except config.ConfigError as e:
        ok("reject_broker " + url, str(e).startswith("brokers: ") and repr(url) in str(e), e)
for url in ("mqtt://node:Pw-4242@127.0.0.1:1883", "mqtt://node:Pw-4242@127.0.0.1",
            "mqtt://node:Pw/4242@127.0.0.1:1883", "mqtt://node:47/Pw-4242@h:1883"):
    try:  # credentials in a URL: refused, and the password not echoed (log, answers)
        config.validate({"brokers": [url]})
        ok("reject_userinfo", False, url)
    except config.ConfigError as e:
        ok("reject_userinfo", "credentials do not go in the URL" in str(e)
           and "Pw-4242" not in str(e), e)
if sys.implementation.name == "cpython":  # a MicroPython str holds no lone surrogate
    try:
        config.validate({"wifi_ssid": "\ud800"})
        ok("reject_surrogate", False)
    except config.ConfigError as e:
        ok("reject_surrogate", "wifi_ssid" in str(e), e)
# strings the broker would refuse (U+0000 in a user name) or no UTF-8 at all: an
# escaped emoji that MicroPython's json.loads turns into CESU-8 ("\\ud83d\\ude00")
for key, text in (("username", '"a\\u0000b"'), ("username", '"\\ud83d\\ude00"'),
                  ("wifi_ssid", '"x\\u0000"')):
    value = json.loads(text)
    if value == "\U0001f600":  # CPython: a real emoji, valid text
        ok("accept_emoji", config.validate({key: value})[key] == value)
        continue
    try:
        config.validate({key: value})
        ok("reject_text " + text, False, value)
    except config.ConfigError as e:
        ok("reject_text " + text, str(e).startswith(key + ": not valid text"), e)
ok("accept_text", config.validate({"username": "n\u00f6de-\u6e29"})["username"] == "n\u00f6de-\u6e29")
# the watchdog is off (0) or long enough for the node's 100 ms feeding
for wdt, good in ((0, True), (1, False), (999, False), (1000, True)):
    try:
        ok("watchdog_%d" % wdt, config.validate({"watchdog_ms": wdt})["watchdog_ms"] == wdt and good)
    except config.ConfigError as e:
        ok("watchdog_%d" % wdt, not good and "watchdog_ms: 0 (none) or 1000..600000" in str(e), e)
# set_config merges sensor settings sensor by sensor, key by key
cur = config.validate({"sensors": {"temperature": {"interval_ms": 2000, "hysteresis": 50},
                                   "humidity": {"interval_ms": 2500}}})
new = config.validate(config.merge(cur, {"sensors": {"temperature": {"high": 2600}}}))
ok("merge_sensor_keys", new["sensors"]["temperature"] == dict(
    cur["sensors"]["temperature"], high=2600)
   and new["sensors"]["humidity"] == cur["sensors"]["humidity"], new["sensors"])
ok("broker_urls_kept", config.validate({"brokers": [
    "mqtt://h", "mqtt://h:8884", "mqtt://[::1]:1884/"]})["brokers"][2] == "mqtt://[::1]:1884/")
ok("tls_brokers_kept", config.validate({"brokers": ["mqtts://h", "mqtts://g:8884"],
                                        "tls_ca": "/ca.pem"})["brokers"][1] == "mqtts://g:8884")
# a TLS node never falls back to plain TCP, and needs a CA (boards have no CA store)
for bad, key in (({"brokers": ["mqtts://h", "mqtt://g"], "tls_ca": "/ca.pem"}, "brokers: all"),
                 ({"brokers": ["mqtts://h"]}, "tls_ca: mqtts:// brokers need")):
    try:
        config.validate(bad)
        ok("reject_" + key, False, bad)
    except config.ConfigError as e:
        ok("reject_" + key, str(e).startswith(key), e)
m = config.mask(config.validate({"password": "s3cret", "wifi_password": "w1fi"}))
ok("mask", m["password"] == config.MASK and m["wifi_password"] == config.MASK
   and "s3cret" not in json.dumps(m), m)
merged = config.merge(config.validate({"password": "s3cret"}), {"password": config.MASK})
ok("merge_keeps_masked_secret", merged["password"] == "s3cret")

print(json.dumps({"done": _n[0]}))
