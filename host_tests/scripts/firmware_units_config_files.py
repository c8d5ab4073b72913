"""Unit checks of firmware/config.py's files on this runtime: load() and save() with
missing, corrupt, half-written, lenient-JSON, skewed and unreadable config files,
FIFOs and devices, UTF-8 text and fsync before the rename; strictjson's BOM rule.
Files go in $FN_DIR. One JSON record per check (firmware_units_util.ok)."""

import json
import os

import config
import strictjson
from firmware_units_util import _n, ok

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

print(json.dumps({"done": _n[0]}))
