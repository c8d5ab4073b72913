"""Unit checks of firmware/payload.py and firmware/config.py on this runtime
(no board, no broker). One JSON record per check."""

import json
import os
import sys

import config
import payload as pl

_n = [0]


def ok(name, cond, detail=""):
    _n[0] += 1
    print(json.dumps({"check": name, "ok": bool(cond), "detail": str(detail)}))


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
            "mqtt://h b", "mqtt://h?x", "mqtt://h#f"):
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

# load / save: missing, corrupt, half-written files
d = os.getenv("FN_DIR")
logs = []
cfg, src = config.load(d, None, logs.append)
ok("load_missing", src == "defaults" and cfg == config.validate({}), src)
config.save(d, {"keepalive": 40})
cfg, src = config.load(d)
ok("load_file", src == "file" and cfg["keepalive"] == 40, src)
config.save(d, config.merge(cfg, {"keepalive": 50}))
cfg, src = config.load(d)
ok("save_keeps_last_good", src == "file" and cfg["keepalive"] == 50
   and "config.last_good.json" in os.listdir(d))
with open(d + "/config.json", "w") as f:
    f.write('{"keepalive": 6')  # half-written
logs = []
cfg, src = config.load(d, None, logs.append)
ok("load_half_written", src == "last_good" and cfg["keepalive"] == 40 and logs, logs)
with open(d + "/config.json", "wb") as f:
    f.write(b'\xff\xfe{"keepalive": 6}')  # not UTF-8: the log says why (MicroPython: said nothing)
logs = []
cfg, src = config.load(d, None, logs.append)
ok("load_not_utf8", src == "last_good" and logs and not logs[0].endswith(": "), logs)
with open(d + "/config.json", "w") as f:
    f.write('{"keepalive": 1}')  # valid JSON, bad value
cfg, src = config.load(d)
ok("load_bad_value", src == "last_good", src)
# hand-edited, not JSON, but MicroPython's json.loads takes it: the backslash of an
# unknown escape dropped ("fieldnode\\v1" read as "fieldnodev1"), a trailing comma,
# a leading zero. Refused on every runtime, as CPython's parser does
for text, why in (('{"keepalive": 45, "topic_prefix": "fieldnode\\v1"}', "unknown escape"),
                  ('{"keepalive": 45,}', "at 17"), ('{"keepalive": 045}', "at 15")):
    with open(d + "/config.json", "w") as f:
        f.write(text)
    logs = []
    cfg, src = config.load(d, None, logs.append)
    ok("load_lenient_json_refused", src == "last_good" and cfg["keepalive"] == 40
       and logs and why in logs[0], (text, src, logs))
# a UTF-8 byte order mark, which Windows editors write: skipped (RFC 8259 8.1). It
# was "not JSON" ("expected a value at 0"), and a board booted on the defaults
with open(d + "/config.json", "wb") as f:
    f.write(b'\xef\xbb\xbf{"keepalive": 45, "device_id": "caf\xc3\xa9"}')
logs = []
cfg, src = config.load(d, None, logs.append)
ok("load_after_bom", src == "file" and cfg["keepalive"] == 45 and cfg["device_id"] == "caf\u00e9"
   and not logs, (src, logs))
with open(d + "/config.json", "w") as f:
    f.write('{"keepalive": 045}')  # (bad again, for the checks below)
import strictjson  # noqa: E402
for text, start in ((b'\xef\xbb\xbf {}', 3), (b'[1]', 0)):
    ok("strictjson_start", strictjson.check(text) == start, text)
for text in (b' \xef\xbb\xbf{}', b'\xef\xbb\xbf', b'\xef\xbb{}', b'["a"]\xef\xbb\xbf'):
    try:  # a BOM only at the very start, and a JSON text after it
        strictjson.check(text)
        ok("strictjson_bom_elsewhere", False, text)
    except ValueError:
        ok("strictjson_bom_elsewhere", True)
with open(d + "/config.last_good.json", "w") as f:
    f.write("\x00garbage")
cfg, src = config.load(d)
ok("load_both_bad", src == "defaults" and cfg == config.validate({}), src)
before = open(d + "/config.json").read()
try:
    config.save(d, {"keepalive": 0})
    ok("save_rejects", False)
except config.ConfigError:
    ok("save_rejects", open(d + "/config.json").read() == before)
# the app's clock across the wrap of ticks_ms (2**30 ms on 32-bit ports, about
# 12.4 days): uptime keeps counting and due times still compare right
import app  # noqa: E402
import keeper  # noqa: E402
from mqtt5._compat import ticks_add  # noqa: E402
from mqtt5 import MQTTError  # noqa: E402
from mqtt5.supervisor import CONNECTING, DOWN, UP  # noqa: E402
from mqtt5.reason_codes import rc_error  # noqa: E402


class _Clock:
    tick = ticks_add(0, -500)  # 500 ms before the wrap (on MicroPython)
    up_s = 1


c = _Clock()
real = app.ticks_ms
app.ticks_ms = lambda: 300  # 800 ms later, after the wrap: no whole second yet
try:
    now = app.App.clock(c)
    ok("clock_wrap_uptime", c.up_s == 1 and now == 300 and c.tick == ticks_add(0, -500), c.up_s)
    app.ticks_ms = lambda: 600  # 1100 ms: a second counted, its 100 ms left over
    app.App.clock(c)
    ok("clock_wrap_second", c.up_s == 2 and c.tick == 500, (c.up_s, c.tick))
    before = ticks_add(0, -100)  # due before the wrap is sooner than 50 after it
    ok("clock_wrap_sooner", app._sooner(before, 50) == before and app._sooner(50, before) == before)
finally:
    app.ticks_ms = real

# the events task goes on past an error that is no MQTTError (a MemoryError on a
# full heap ended it: the rest waited for ever, uncounted); a lowered queue_count
# applies to the waiting list at once
import asyncio  # noqa: E402


class _Pub:
    def __init__(self):
        self.n = 0
        self.sent = []

    async def publish(self, topic, data, *args, **kw):  # (kw: topic_alias)
        self.n += 1
        if self.n == 1:
            raise MemoryError("memory allocation failed, allocating 248 bytes")
        self.sent.append(bytes(data))


class _Queue:  # (the Supervisor's offline queue: what event() reads of it)
    n = drops = 0


class _Sup:
    client = _Pub()
    queue = _Queue()
    state = app.UP


async def _events():
    sensors = app.board.SENSORS
    a = app.App(_Sup(), config.validate({}, sensors), "defaults", "unit")
    for _ in range(3):
        a.event("button", pl.EV_BUTTON)
    task = asyncio.create_task(a.events())
    for _ in range(20):
        await asyncio.sleep(0)
    ok("events_after_memoryerror", (a.events_sent, a.events_dropped, len(a.ev_wait))
       == (2, 1, 0) and not task.done(), (a.events_sent, a.events_dropped))
    task.cancel()
    a.cfg = config.validate({"queue_count": 2}, sensors)
    a.ev_fly[:] = [("x", 9, None, True)]  # one published, held: the rest wait
    a.ev_wait[:] = [("x", b"", i, a.tick, a.up_s) for i in range(10, 15)]
    a.event("button", pl.EV_BUTTON)
    ok("events_queue_count_lowered", [e[2] for e in a.ev_wait] == [14, a.ev_seq],
       [e[2] for e in a.ev_wait])

asyncio.run(_events())


# a lost session re-marks every sensor that has a reading, also one whose
# sequence number wrapped to 0; a sensor never read has nothing to send
class _SupLost:
    client = _Pub()
    queue = _Queue()
    session_present = False


async def _lost():
    a = app.App(_SupLost(), config.validate({}, app.board.SENSORS), "defaults", "unit")
    a.seq[0], a.value[0] = 0, 5  # read 65536 times
    a.link(app.UP, None)
    ok("lost_session_remarks_wrapped", list(a.dirty[:2]) == [1, 0], list(a.dirty))

asyncio.run(_lost())


# a link lost while the heap was full: the text of its reason met a MemoryError, which
# left the node `linked` (no broker_timeout_s reset) and its last_disconnect stale
class _NoText(Exception):
    def __str__(self):
        raise MemoryError("memory allocation failed, allocating 64 bytes")


async def _lost_on_a_full_heap():
    a = app.App(_SupLost(), config.validate({}, app.board.SENSORS), "defaults", "unit")
    a.link(app.UP, None)
    a.link(DOWN, _NoText())
    ok("a_link_lost_on_a_full_heap_is_unlinked", not a.linked and
       a.last_disconnect == "_NoText", (a.linked, a.last_disconnect))

asyncio.run(_lost_on_a_full_heap())


# identify and reboot in a burst: one blinker (extended to the latest end), one reboot
# task; each identify left a blink task (and a list entry) of its own: 300 of them
# ran a MicroPython node's heap out
async def _identify():
    import commands

    a = app.App(_SupLost(), config.validate({}, app.board.SENSORS), "defaults", "unit")
    c = commands.Commands(a, None)
    rc = [json.loads(c.cmd_identify({"seconds": 1 + i % 60}))["msg"] for i in range(300)]
    first = c.blinker
    longest = c.blink_end
    c.cmd_identify({"seconds": 2})  # ends sooner than the blinking: changes nothing
    same = c.blinker is first and c.blink_end == longest
    for _ in range(20):
        c.cmd_reboot({})
    ok("identify_one_blinker", same and rc[59] == "identifying for 60 s" and len(a.tasks) == 1,
       (same, len(a.tasks)))
    for t in a.tasks + [c.blinker]:
        t.cancel()
    await asyncio.sleep(0)

asyncio.run(_identify())


# a handler that runs out of heap: handle()'s answer, made without allocating after a
# collect (the catch-all of _run() had answered it, formatting the error on a full heap)
class _NS:
    pass


def _app_commands():
    # an App on a lost link and its Commands, for a handler run directly
    import commands

    a = app.App(_SupLost(), config.validate({}, app.board.SENSORS), "defaults", "unit")
    a.client = _NS()
    a.client.session = _NS()
    a.client.session.server_max_packet_size = 0
    return a, commands.Commands(a, None)


def _oom():
    a, c = _app_commands()

    def boom(args):
        raise MemoryError("memory allocation failed, allocating 680 bytes")

    c.cmd_boom = boom
    m = _NS()
    m.topic, m.payload, m.qos, m.response_topic, m.correlation_data = (
        "fieldnode/v1/unit/cmd/boom", b"{}", 0, "r/1", b"c1")
    out = c.handle(m)
    ok("handler_out_of_memory", json.loads(out) == {"rc": 5, "msg": "out of memory"}
       and c.errors == 1, out)

_oom()


# a set_config that saved config.json and then ran out of heap: answered rc 5 "out of
# memory", as if nothing had changed, though the file had (and a retry ran it again)
def _oom_after_save():
    import board

    a, c = _app_commands()
    real = a.apply
    fails = [1]

    def apply(cfg):  # the heap runs out once (then: applied on the second try), or always
        if fails[0]:
            fails[0] -= 1
            raise MemoryError("memory allocation failed, allocating 96 bytes")
        real(cfg)

    a.apply = apply
    got = []
    for n, ka in ((1, 45), (2, 46)):
        fails[0] = n
        m = _NS()
        m.topic, m.payload, m.qos, m.response_topic, m.correlation_data = (
            "fieldnode/v1/unit/cmd/set_config", b'{"keepalive": %d}' % ka, 0, "r/1", b"c%d" % n)
        out = json.loads(c.handle(m))
        saved, src = config.load(board.config_dir())
        got.append((out, saved["keepalive"], src, a.cfg["keepalive"], c.keep(None)))
    ok("set_config_oom_after_save", got[0] == ({"rc": 0, "msg": "saved; out of memory after it"},
                                               45, "file", 45, True)
       and got[1][0] == {"rc": 0, "msg": "saved; out of memory: reboot to apply"}
       and got[1][1:3] == (46, "file") and got[1][4] and c.errors == 0, got)

_oom_after_save()
ok("why_timeout", app.why(asyncio.TimeoutError()) == "timed out", app.why(asyncio.TimeoutError()))


# a config naming a sensor the board (or a new firmware) no longer has was thrown
# away whole, and the node booted on the defaults: no Wi-Fi, no broker
d2 = d + "/skew"
os.mkdir(d2)
with open(d2 + "/config.json", "w") as f:
    f.write('{"wifi_ssid": "home", "keepalive": 45, "sensors": {"pressure": {"qos": 1}, '
            '"temperature": {"high": 3000}, "a/b": {}, "": {}}}')
logs = []
gone = []
cfg, src = config.load(d2, ("temperature", "humidity"), logs.append, gone)
ok("load_drops_unknown_sensor", src == "file" and cfg["wifi_ssid"] == "home"
   and cfg["keepalive"] == 45 and sorted(cfg["sensors"]) == ["humidity", "temperature"]
   and cfg["sensors"]["temperature"]["high"] == 3000 and len(logs) == 3
   and any("'pressure' is not on this board" in m for m in logs), (src, logs))
# the names whose retained readings the node clears: those that can be a topic level
ok("load_names_the_gone_sensors", gone == ["pressure"], gone)
gone = []
with open(d2 + "/config.json", "w") as f:  # a file passed over gives no names
    f.write('{"keepalive": 1, "sensors": {"pressure": {}}}')
config.load(d2, ("temperature", "humidity"), None, gone)
ok("load_names_none_of_a_bad_file", gone == [], gone)
try:
    config.save(d2, {"sensors": {"pressure": {}}}, ("temperature", "humidity"))
    ok("save_refuses_unknown_sensor", False)
except config.ConfigError as e:
    ok("save_refuses_unknown_sensor", "pressure" in str(e), e)

# a config.json that is there but unreadable (a folder) is said so, not "no config.json"
d3 = d + "/unreadable"
os.mkdir(d3)
os.mkdir(d3 + "/config.json")
logs = []
cfg, src = config.load(d3, None, logs.append)
ok("load_says_unreadable", src == "defaults" and len(logs) == 1
   and logs[0].startswith("config: config.json unreadable: "), logs)
# save() writes UTF-8 text: CPython's json.dumps wrote \u escapes (12 bytes an emoji, a
# surrogate pair, which MicroPython reads as CESU-8 and load() now refuses)
d4 = d + "/utf8"
os.mkdir(d4)
smile = b"\xf0\x9f\x98\x80".decode()
config.save(d4, {"wifi_ssid": smile + " Home"})
with open(d4 + "/config.json", "rb") as f:
    raw = f.read()
cfg, src = config.load(d4)
ok("save_writes_utf8", b"\\u" not in raw and b"\xf0\x9f\x98\x80 Home" in raw and src == "file"
   and cfg["wifi_ssid"] == smile + " Home", (raw[:80], src))
with open(d4 + "/config.json", "wb") as f:  # what CPython's json.dump writes by default
    f.write(b'{"wifi_ssid": "\\ud83d\\ude00 Home", "keepalive": 45}')
logs = []
cfg, src = config.load(d4, None, logs.append)
ok("load_refuses_escaped_surrogates", src == "defaults" and cfg["keepalive"] != 45
   and "escaped surrogate (use UTF-8)" in logs[0], (src, logs))
if hasattr(os, "symlink"):  # a device read without end: the read is bounded
    os.remove(d4 + "/config.json")
    os.symlink("/dev/zero", d4 + "/config.json")
    logs = []
    cfg, src = config.load(d4, None, logs.append)
    ok("load_bounds_a_device", src == "defaults" and "not a file" in logs[0], logs)

# a FIFO as config.json: open() blocked until a writer came (the node hung at boot); it
# is not a file, said so, and the last-good copy is read (save() replaces the FIFO)
d5 = d + "/fifo"
os.mkdir(d5)
config.save(d5, {"keepalive": 44})
config.save(d5, {"keepalive": 45})
os.remove(d5 + "/config.json")
if hasattr(os, "mkfifo"):
    os.mkfifo(d5 + "/config.json")
else:  # (MicroPython's unix port)
    os.system("mkfifo " + d5 + "/config.json")
logs = []
cfg, src = config.load(d5, None, logs.append)
ok("load_skips_a_fifo", src == "last_good" and cfg["keepalive"] == 44 and len(logs) == 1
   and logs[0].startswith("config: config.json unreadable: not a file"), (src, logs))
config.save(d5, {"keepalive": 46})
cfg, src = config.load(d5)
ok("save_over_a_fifo", src == "file" and cfg["keepalive"] == 46, src)
# the temp file on the disk before the rename (CPython's flush() leaves it in the OS
# cache: a power cut after the rename could leave an empty config.json)
if hasattr(os, "fsync"):
    calls = []

    class _OsSpy:
        def __getattr__(self, name):
            return getattr(os, name)

        def fsync(self, fd):
            calls.append("fsync")
            os.fsync(fd)

        def rename(self, a, b):
            calls.append("rename " + a[a.rfind("/") + 1:])
            os.rename(a, b)

    config.os = _OsSpy()
    try:
        config.save(d5, {"keepalive": 47})
    finally:
        config.os = os
    ok("save_fsyncs_before_rename", calls == ["fsync", "rename config.json",
                                              "rename config.json.tmp"], calls)

# readings and events, from an audit of the app's logic
SENSORS = app.board.SENSORS  # temperature (index 1 when sorted), humidity (0)
T, H = sorted(SENSORS).index("temperature"), sorted(SENSORS).index("humidity")


def _app(cfg=None):
    return app.App(_SupLost(), config.validate(cfg or {}, SENSORS), "defaults", "unit")


# a driver raising a bare Exception (a bad CRC in common DHT/SHT drivers) ended the
# readings task: no readings, and the watchdog reset the board
a = _app()
real_read = app.board.read_sensor
try:
    app.board.read_sensor = lambda name: (_ for _ in ()).throw(RuntimeError("checksum"))
    a._read(T, 0)
    ok("sensor_any_error_counted", a.sensor_errors == 1 and a.seq[T] == 0, a.sensor_errors)
    app.board.read_sensor = lambda name: (_ for _ in ()).throw(MemoryError())
    try:
        a._read(T, 0)
        ok("sensor_memoryerror_raised", False)
    except MemoryError:
        ok("sensor_memoryerror_raised", True)
    # sequence numbers run 1..65535: 0 stays "no reading yet" (get_state)
    app.board.read_sensor = lambda name: 5
    a.seq[T] = 65535
    a._read(T, 0)
    a.ev_seq = 65535
    a.event("button", pl.EV_BUTTON)
    ok("seq_wraps_to_1", a.seq[T] == 1 and a.ev_seq == 1, (a.seq[T], a.ev_seq))
finally:
    app.board.read_sensor = real_read

# at boot the level of a sensor with thresholds is reported, normal included: a
# `_high` sent before a reboot was never cleared when the value was back meanwhile
def _events_made(a):  # published (awaiting their ack) or waiting, oldest first
    return [e[0] for e in a.ev_fly] + [e[0] for e in a.ev_wait]


a = _app({"sensors": {"temperature": {"high": 3000}}})
a._threshold(T, 2000)
a._threshold(H, 500)
a._threshold(T, 2100)
ok("boot_level_reported", _events_made(a) == ["temperature_normal"], _events_made(a))
a = _app({"sensors": {"temperature": {"low": 1000}}})
a._threshold(T, 900)
ok("boot_level_low", _events_made(a) == ["temperature_low"], _events_made(a))

# sensors are published in turn: one read faster than its acks come kept the rest
# waiting for ever
a = _app()
order = []
for _ in range(4):
    a.dirty[T] = a.dirty[H] = 1
    order.append(a._next_dirty())
ok("publish_in_turn", sorted(order[:2]) == [0, 1] and order[2:] == order[:2], order)

# new thresholds are checked against a reading taken at once, not at the next
# interval (up to a day away)
DAY = {"interval_ms": 86400000}
a = _app({"sensors": {"temperature": DAY, "humidity": DAY}})
a.due[T] = a.due[H] = ticks_add(app.ticks_ms(), 86400000)
a.apply(config.validate({"sensors": {"temperature": dict(DAY, high=1), "humidity": DAY}},
                        SENSORS))
ok("threshold_change_reads_now", app.ticks_diff(a.due[T], app.ticks_ms()) <= 0
   and app.ticks_diff(a.due[H], app.ticks_ms()) > 60000, (a.due, app.ticks_ms()))


# the readings task on a simulated clock: readings keep their schedule when the
# loop wakes late (they drifted by each wake's delay), and a start days after the
# App was made (the network took that long) reads at once (due times looked days
# ahead once ticks_diff wrapped)
async def _readings(start_after_ms, late_ms, run_ms):
    clock = [ticks_add(0, -5000)]

    async def sleep(ms):
        clock[0] = ticks_add(clock[0], ms + late_ms)
        await asyncio.sleep(0)

    real = app.ticks_ms, app.sleep_ms
    app.ticks_ms = lambda: clock[0]
    app.sleep_ms = sleep
    try:
        a = _app({"sensors": {"temperature": {"interval_ms": 1000},
                              "humidity": {"interval_ms": 86400000}}})
        for _ in range(start_after_ms // 300000):  # main.network(): the clock on each try
            clock[0] = ticks_add(clock[0], 300000)
            a.clock()
        t0 = clock[0]
        task = asyncio.create_task(a.readings())
        while app.ticks_diff(clock[0], t0) < run_ms:
            await asyncio.sleep(0)
        task.cancel()
    finally:
        app.ticks_ms, app.sleep_ms = real
    return a, a.up_s


# a stats message the heap could not hold was skipped without a word (the bench's
# node at 48 KiB: no stats, nothing in the log)
# the stats JSON is written into a buffer made at boot (json.dumps grew one block to
# the whole text, which a fragmented heap lacked: the stats were skipped for good), and
# its log line printed in pieces cut between UTF-8 characters
class _Counts:
    reconnects = drops = expired = 3


a = _app()
a.sup.stats = a.sup.queue = _Counts()
a.last_disconnect = "\u00e9" * 60 + "\u20ac"  # 2-byte characters across the 64 B cuts
text = a.stats_json()
printed = []
app.print = lambda *args, end="\n": printed.append(" ".join(args) + end)
try:
    app._say("node: -> stats ", text)
finally:
    del app.print
line = "".join(printed)
got = json.loads(str(text, "utf-8"))
want = a.stats()
for k in ("uptime_s", "mem_free"):  # (they move between the two calls)
    got.pop(k)
    want.pop(k)
ok("stats_json_in_its_buffer_and_said_whole",
   got == want and isinstance(text, memoryview) and line.endswith("\n")
   and json.loads(line[len("node: -> stats "):]) == json.loads(str(text, "utf-8"))
   and line.startswith("node: -> stats {") and len(printed) > 3, (line, got, want))
# the heap full while the line is printed (the stats went out): the line says so and
# ends, where the MemoryError reached stats_task, which said they were skipped
printed = []


def _full_third(*args, end="\n"):
    if len(printed) == 2:
        printed.append(None)
        raise MemoryError
    printed.append(" ".join(args) + end)


app.print = _full_third
try:
    app._say("node: -> stats ", text)
    escaped = None
except MemoryError as e:
    escaped = e
finally:
    del app.print
ok("stats_line_cut_short_by_a_full_heap_says_so", escaped is None
   and "".join(p for p in printed if p).endswith("... (not shown: heap full)\n"), printed)


async def _stats_heap_full():
    a = _app()
    said = []
    a.stats = lambda: (_ for _ in ()).throw(MemoryError())
    a.sup.state = app.UP
    app.print = lambda *args: said.append(" ".join(str(x) for x in args))
    try:
        task = asyncio.create_task(a.stats_task())
        for _ in range(5):
            await asyncio.sleep(0)
        task.cancel()
    finally:
        del app.print
    return said

# with watchdog_ms 0 a vital task that ended went unsaid: the node ran on half dead
async def _keeper_no_watchdog():
    a = _app({"watchdog_ms": 0})
    said = []

    async def short(s):
        await asyncio.sleep(s)

    dead = asyncio.create_task(short(0))
    alive = asyncio.create_task(short(60))
    await asyncio.sleep(0)
    app.print = lambda *args: said.append(" ".join(str(x) for x in args))
    real_sleep = keeper.sleep_ms
    keeper.sleep_ms = lambda ms: asyncio.sleep(0)  # keeper turns without waiting a second
    try:
        task = asyncio.create_task(keeper.run(a, (("readings", dead), ("supervisor", alive))))
        for _ in range(10):
            await asyncio.sleep(0)
        task.cancel()
        alive.cancel()
    finally:
        del app.print
        keeper.sleep_ms = real_sleep
    return said

# the keeper's turns: a loss is said the moment the board reports it (the first line
# came when a join had failed, network_timeout_ms later), and a clock that NTP did not
# set is tried again apart from it (esp32/rp2: network_ok() read False for that, so a
# loss the driver mended by itself in the meantime went uncounted, and a line at the
# loss would have come every 5 minutes on a board without NTP)
async def _keeper_network():
    a = _app({"watchdog_ms": 0})
    said, ups, net = [], [], {"ok": True, "due": False, "tries": 0}

    async def network_up(ssid, password, timeout_ms):
        ups.append(("up, clock due" if net["ok"] else "lost", len(said)))
        net["due"] = False  # (tried: the next try is minutes away)
        if not net["ok"]:
            raise OSError("driver error")
        return False

    async def turns(n=12):
        for _ in range(n):
            await asyncio.sleep(0)

    b = app.board
    real = keeper.sleep_ms, b.network_up, b.network_ok, b.clock_due
    keeper.sleep_ms = lambda ms: asyncio.sleep(0)  # keeper turns without waiting a second
    b.network_up, b.network_ok, b.clock_due = network_up, lambda: net["ok"], lambda: net["due"]
    app.print = lambda *args: said.append(" ".join(str(x) for x in args))
    alive = asyncio.create_task(turns(10 ** 6))
    task = asyncio.create_task(keeper.run(a, (("readings", alive),)))
    try:
        await turns()  # up, the clock set: nothing to do
        net["due"] = True
        await turns()  # the clock due: one try, nothing said
        net["ok"] = False
        await turns()  # lost: said once, joins tried
        ups[2:] = []
        net["ok"] = True
        await turns()
    finally:
        task.cancel()
        alive.cancel()
        del app.print
        keeper.sleep_ms, b.network_up, b.network_ok, b.clock_due = real
    return said, ups, a

# a lost Wi-Fi: the rejoin's pause grows as at boot (it was the same line each second),
# and ends as soon as the driver rejoins by itself: a pause of minutes left as it was
# held up the join after the next loss
async def _rejoin_pauses(back_after_ms, fails=99, lost=True):
    a = _app()
    said, slept, tries = [], [0], [0]

    async def sleep(ms):
        slept[0] += ms

    async def network_up(ssid, password, timeout_ms):
        tries[0] += 1
        if tries[0] > fails:
            return False  # connected: the driver rejoined by itself
        raise OSError("driver error")

    real = keeper.sleep_ms, app.board.network_up, app.board.network_ok
    keeper.sleep_ms, app.board.network_up = sleep, network_up
    app.board.network_ok = lambda: slept[0] >= back_after_ms or tries[0] > fails
    app.print = lambda *args: said.append(" ".join(str(x) for x in args))
    if lost:  # (not lost: only the clock was due for another try)
        a.lost_at = (a.clock(), a.up_s)
    try:
        await keeper._rejoin(a)
    finally:
        keeper.sleep_ms, app.board.network_up, app.board.network_ok = real
        del app.print
    return a, said, slept[0], tries[0]


# a heap that kept ending links (fragmented: no block for a packet the node must send
# or take) left the node cycling through links for ever; after 5 in a row the keeper
# resets the board, and a link lost any other way starts the count again
class _Stats:
    last_up_ms = 0


async def _keeper_heap_losses(reasons, span_ms=61000):
    # reasons: errors the links ended with, or a number: a link that lasted that long
    a = _app({"watchdog_ms": 0})
    a.sup.stats = _Stats()
    said, resets = [], []
    for r in reasons:
        if isinstance(r, int):
            keeper.on_state(a, UP, None)
            a.link(UP, None)
            a.sup.stats.last_up_ms = r
            continue
        keeper.on_state(a, DOWN, r)
        a.link(DOWN, r)
    if a.heap_since is not None:  # the run began span_ms ago
        a.heap_since = (ticks_add(a.heap_since[0], -span_ms), a.heap_since[1])
    async def later():
        await asyncio.sleep(60)

    alive = asyncio.create_task(later())
    app.print = lambda *args: said.append(" ".join(str(x) for x in args))
    real = keeper.sleep_ms, app.board.reset
    keeper.sleep_ms = lambda ms: asyncio.sleep(0)
    app.board.reset = lambda: resets.append(a.heap_losses)
    try:
        task = asyncio.create_task(keeper.run(a, (("readings", alive),)))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        task.cancel()
        alive.cancel()
    finally:
        del app.print
        keeper.sleep_ms, app.board.reset = real
    return said[:1], resets[:1]

# the broker's DNS lookup at each connect blocks the loop, and nothing fed the
# watchdog meanwhile (rp2: ~7 s per silent DNS server, its watchdog 8.4 s at most)
a = _app()
covered = []
for st in (CONNECTING, UP, CONNECTING, DOWN):
    keeper.on_state(a, st, None if st != DOWN else OSError(104))
    covered.append(app.board._wdt[3] != 0)
ok("connect_covers_the_watchdog", covered == [True, False, True, False], covered)

HEAP = [MemoryError("memory allocation failed, allocating 2048 bytes"),
        MQTTError("connection lost: heap full: memory allocation failed, allocating 1536 bytes")]
said, resets = asyncio.run(_keeper_heap_losses(HEAP * 2 + HEAP[:1]))
ok("keeper_resets_after_5_links_ended_by_a_full_heap", resets == [5] and said == [
   "node: 5 links in a row ended by a full heap in 61 s: reset"], (said, resets))
said, resets = asyncio.run(_keeper_heap_losses(HEAP * 3, span_ms=50000))
ok("keeper_rides_out_a_heap_full_for_a_moment", resets == [] and said == [], (said, resets))
said, resets = asyncio.run(_keeper_heap_losses(HEAP * 2 + [OSError(104)] + HEAP * 2))
ok("keeper_heap_losses_counted_in_a_row", resets == [] and said == [], (said, resets))
said, resets = asyncio.run(_keeper_heap_losses(HEAP * 2 + [60000] + HEAP * 2))
ok("keeper_heap_losses_restart_after_a_lasting_link", resets == [] and said == [],
   (said, resets))
said, resets = asyncio.run(_keeper_heap_losses(HEAP * 2 + [50000] + HEAP[:1]))
ok("keeper_heap_losses_go_on_after_a_short_link", resets == [5], (said, resets))

# a reading refused with 0x97 (the broker's quota, a full offline queue) waited for
# the sensor's next reading, up to a day away; it is sent again after _RETRY_MS
class _Quota:
    connects = 1  # (as Supervisor.stats: the link was not lost meanwhile)

    def __init__(self):
        self.n = 0

    async def publish(self, topic, data, *args, **kw):  # (kw: topic_alias)
        self.n += 1
        if self.n == 1:
            raise rc_error("PUBACK", 0x97)


async def _quota_retry():
    a = _app()
    a.client = a.sup.stats = _Quota()
    a.sup.state = app.UP
    said = []
    app.print = lambda *args: said.append(" ".join(str(x) for x in args))
    real_sleep = app.sleep_ms
    app.sleep_ms = lambda ms: asyncio.sleep(0)
    try:
        a.seq[T], a.value[T], a.taken[T], a.dirty[T] = 1, 2000, app.ticks_ms(), 1
        task = asyncio.create_task(a.publisher())
        a.wake.set()
        for _ in range(20):
            await asyncio.sleep(0)
        task.cancel()
    finally:
        del app.print
        app.sleep_ms = real_sleep
    return a, said

a, said = asyncio.run(_quota_retry())
ok("reading_refused_for_now_is_sent_again", a.client.n == 2 and a.readings_sent == 1
   and a.dirty[T] == 0 and "refused: PUBACK 0x97 Quota exceeded" in said[0], (a.client.n, said))
said = asyncio.run(_keeper_no_watchdog())
ok("keeper_no_watchdog_says_a_task_ended",
   said == ["node: task ended: readings (watchdog_ms 0: nothing resets the node)"], said)
a, said, slept, tries = asyncio.run(_rejoin_pauses(13000))
ok("keeper_rejoin_pause_grows_and_ends_when_the_network_is_back",
   said[:4] == ["node: network failed (driver error): next try in %d s" % s for s in (1, 2, 4, 8)]
   and said[4].startswith("node: network back after ") and len(said) == 5
   and (slept, tries) == (13000, 4) and a.lost_at is None and a.rejoins == 1, (said, slept))
a, said, slept, tries = asyncio.run(_rejoin_pauses(10 ** 9, fails=2))
ok("keeper_rejoin_joined_after_failures_is_counted",
   len(said) == 3 and said[2].startswith("node: network back after ")
   and tries == 3 and a.lost_at is None and a.rejoins == 1, (said, tries))
a, said, slept, tries = asyncio.run(_rejoin_pauses(10 ** 9, fails=0, lost=False))
ok("keeper_rejoin_for_the_clock_says_nothing",
   said == [] and tries == 1 and a.lost_at is None and a.rejoins == 0, (said, tries))
said, ups, a = asyncio.run(_keeper_network())
ok("keeper_network_lost_said_at_once_and_clock_tried_apart",
   ups == [("up, clock due", 0), ("lost", 1)] and said[0] == "node: network lost: joining again"
   and said.count(said[0]) == 1 and said[1].startswith("node: network failed (driver error)")
   and said[-1].startswith("node: network back after ") and a.rejoins == 1
   and a.lost_at is None, (said, ups, a.rejoins))
said = asyncio.run(_stats_heap_full())
ok("stats_heap_full_said", said[:1] == ["node: stats skipped: heap full"], said)


# the stats task's turns: every 100 ms while no birth of this link is said (before the
# link, and until the birth's ack), then a second apart. `online` was logged on the
# next 1 s turn, up to a second after the ack (and a Ctrl-C a second after `online`
# met make run's reading due 2 s after boot: test_run_local.py)
async def _stats_turns():
    a = _app()
    a.stats_due = ticks_add(app.ticks_ms(), 600000)  # no stats message in this test

    class _Birth:
        rc = err = None

    a.sup.queue = _Queue()
    a.sup.queue.outcome = None  # (mqtt5.offline: the birth's Signal, once it is sent)
    a.sup.state = app.UP
    slept, said = [], []

    async def sleep(ms):
        slept.append(ms)
        await asyncio.sleep(0)

    async def turns(n=3):
        del slept[:]
        for _ in range(n):
            await asyncio.sleep(0)
        return list(slept)

    real = app.sleep_ms
    app.sleep_ms = sleep
    app.print = lambda *args: said.append(" ".join(str(x) for x in args))
    task = asyncio.create_task(a.stats_task())
    try:
        down = await turns()
        a.link(app.UP, None)
        up = await turns()
        a.sup.queue.outcome = birth = _Birth()
        up_unsaid = await turns()  # sent, its ack not in
        birth.rc = 0
        acked = await turns()
        a.link(DOWN, OSError(104))
        lost = await turns()
    finally:
        task.cancel()
        app.sleep_ms = real
        del app.print
    return down, up, up_unsaid, acked, lost, said


down, up, up_unsaid, acked, lost, said = asyncio.run(_stats_turns())
ok("stats_turns_fast_until_the_birth_is_said",
   down and up and up_unsaid and max(down + up + up_unsaid + lost) == 100
   and acked[1:] and min(acked[1:]) == 1000 and said == ["node: %s online" % _app().status_topic]
   and lost and max(lost) == 100, (down, up, up_unsaid, acked, lost, said))
a, up = asyncio.run(_readings(0, 50, 60000))  # each wake 50 ms late: 58 when drifting
ok("readings_keep_schedule", a.seq[T] == 60, a.seq[T])
a, up = asyncio.run(_readings(7 * 86400000, 0, 2000))
ok("readings_start_after_a_week", a.seq[T] >= 2 and a.seq[H] == 1
   and up >= 7 * 86400, (a.seq, up))

print(json.dumps({"done": _n[0]}))
