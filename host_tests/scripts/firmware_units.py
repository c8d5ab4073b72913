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
                 ({"sensors": {"temperature": {"high": 10, "low": 20}}}, "low")):
    try:
        config.validate(bad, ("temperature", "humidity"))
        ok("reject_" + key, False, bad)
    except config.ConfigError as e:
        ok("reject_" + key, key in str(e), e)
# broker URLs the client could not connect to are refused when set, naming the URL
for url in ("mqtt://", "mqtt://h:", "mqtt://h:99999", "mqtt://h:abc", "mqtt://:1883",
            "mqtts://[::1", "mqtt://[::1]x"):
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
    "mqtt://h", "mqtt://h:8884", "mqtt://[::1]:1884/x"]})["brokers"][2] == "mqtt://[::1]:1884/x")
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
from mqtt5._compat import ticks_add  # noqa: E402


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

    async def publish(self, topic, data, *args):
        self.n += 1
        if self.n == 1:
            raise MemoryError("memory allocation failed, allocating 248 bytes")
        self.sent.append(bytes(data))


class _Sup:
    client = _Pub()


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
    a.ev_wait[:] = [("x", b"", i, a.tick, a.up_s) for i in range(10, 15)]
    a.event("button", pl.EV_BUTTON)
    ok("events_queue_count_lowered", [e[2] for e in a.ev_wait] == [14, a.ev_seq],
       [e[2] for e in a.ev_wait])

asyncio.run(_events())


# a lost session re-marks every sensor that has a reading, also one whose
# sequence number wrapped to 0; a sensor never read has nothing to send
class _SupLost:
    client = _Pub()
    session_present = False


async def _lost():
    a = app.App(_SupLost(), config.validate({}, app.board.SENSORS), "defaults", "unit")
    a.seq[0], a.value[0] = 0, 5  # read 65536 times
    a.link(app.UP, None)
    ok("lost_session_remarks_wrapped", list(a.dirty[:2]) == [1, 0], list(a.dirty))

asyncio.run(_lost())


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
ok("why_timeout", app.why(asyncio.TimeoutError()) == "timed out", app.why(asyncio.TimeoutError()))

print(json.dumps({"done": _n[0]}))
