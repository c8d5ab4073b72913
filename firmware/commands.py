"""Commands on <base>/cmd/<name>, answered with v5 request/response (docs/commands.md).

A request is a PUBLISH with a Response Topic and Correlation Data whose payload
is a JSON object of arguments (empty payload: no arguments). The answer goes to
the Response Topic with the same Correlation Data: a JSON object with ``rc``
(result code, below), ``msg`` (short text) and the command's data. A request
without a usable Response Topic (none, empty, with a wildcard, or the node's own
base or under it but for <base>/reply/...: the answer would land on its status,
readings or commands) is dropped and counted; a request (same command topic,
Response Topic and Correlation Data) seen among the last few (_REMEMBER) is answered
again with the same answer, not executed twice (mqtt5.Responder), unless that answer
was rc 5 (failed: a retry runs again).
"""

import asyncio
import gc
import json

import board
from app import VERSION
from mqtt5 import Responder
from mqtt5._compat import const, sleep_ms, ticks_add, ticks_diff, ticks_ms

_OK = const(0)
_MALFORMED = const(1)  # payload not UTF-8 JSON object
_UNKNOWN = const(2)  # no such command
_BAD_ARGS = const(3)  # unknown argument, wrong type or range
_TOO_LARGE = const(4)  # payload over _MAX_BYTES
_FAILED = const(5)  # valid, but it could not be done (e.g. the file system failed)

_MAX_BYTES = const(512)
_MAX_ANSWER = const(1792)  # at most, whatever the limits below leave
TX_SIZE = 2048  # the client's transmit buffer (main.py): the largest packet it sends
_TX_FREE = const(32)  # of which the session keeps this much free (mqtt5.outbound _RESERVE)
_OVERHEAD = const(48)  # a PUBLISH's bytes beside its payload, Response Topic and Correlation Data
_MIN_ROOM = const(64)  # less room for an answer: refused before it runs (rc 5); a
# command that changes something and whose answer is then over the room is answered
# "done" in fewer bytes than this, not rc 5 (it was done)
_CHANGES = ("set_config", "set_interval", "identify", "reboot")
_MAX_BUSY = const(4)  # requests answered at once
_MAX_WAITING = const(8)  # more wait their turn (a reconnect delivers an outage's backlog at once);
# beyond that they are dropped and counted (commands_dropped)
# answers kept for replay: up to ~1 KB each (get_config), so few on a 64 KiB heap
_REMEMBER = const(4)
# keys that take effect at once (set_config: the others only after a reboot);
# network_timeout_ms at the next network join (keeper.join() reads the config then)
_LIVE = ("sensors", "stats_interval_ms", "event_expiry_s", "broker_timeout_s",
         "network_timeout_ms")
# keys set_config refuses: whoever may publish commands could send the node, and its
# credentials, to a server of theirs (docs/commands.md); serial (fieldnode config) only
SERIAL_ONLY = ("brokers", "username", "password", "allow_plain_credentials", "tls_ca",
               "tls_cert", "tls_key", "tls_insecure", "wifi_ssid", "wifi_password")


class _Bad(Exception):
    pass


def _answer(rc, msg, data=None):
    d = {"rc": rc, "msg": msg}
    if data:
        d.update(data)
    return json.dumps(d)


def _args(a, allowed):
    for k in a:
        if k not in allowed:
            raise _Bad("unknown argument %r" % (k,))


def _int(a, key, lo, hi):
    v = a.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < lo or v > hi:
        raise _Bad("%s: expected an integer in %d..%d" % (key, lo, hi))
    return v


class Commands:
    """The command handlers of one node; `start()` subscribes <base>/cmd/+."""

    def __init__(self, app, stop):
        self.app = app
        self.stop = stop  # async callable: offline, disconnect (reboot uses it)
        self.done = 0
        self.errors = 0
        self.reported = 0  # dropped requests already in the log
        self.blink_end = 0  # ticks when identify's blinking ends
        self.blinker = None  # its task (one, however many identify requests)
        self.rebooting = False
        self.rc = _OK  # of the last answer (handle())
        self.saved = None  # the config the request being handled saved, if it did
        self.responder = Responder(app.sup, app.base + "/cmd/+", self.handle, qos=1,
                                   remember=_REMEMBER, max_busy=_MAX_BUSY,
                                   max_waiting=_MAX_WAITING, keep=self.keep,
                                   # over _MAX_BYTES: rc 4, from a copy cut to 513 B
                                   max_payload=_MAX_BYTES,
                                   content_type="application/json", payload_format_indicator=1,
                                   topic_alias=False)

    async def start(self):
        await self.responder.start()

    def dropped(self):
        r = self.responder
        return r.ignored + r.busy + r.failed

    def report(self):
        """Log the requests repeated since the last report, and the requests dropped
        since boot when that count changed: a line each at most (a repeat is answered by
        the Responder, which does not call handle())."""
        r = self.responder
        if r.repeated:  # (the Responder's own: handle() never sees them) counted afresh
            print("node: <- %d repeated cmd: answered as before, not run again" % r.repeated)
            r.repeated = 0
        n = self.dropped()
        if n != self.reported:
            self.reported = n
            print("node: commands dropped since boot: %d without a usable Response Topic, "
                  "%d beyond %d at once and %d waiting or for want of heap, %d answers not "
                  "sent (refused by the broker, no room even for rc 5, or no heap for it)"
                  % (r.ignored, r.busy, _MAX_BUSY, _MAX_WAITING, r.failed))

    def keep(self, answer):
        """Whether the Responder replays `answer` to a retry: not rc 5 (the file system
        or the heap failed, the answer did not fit): a retry runs again."""
        return self.rc != _FAILED

    def handle(self, msg):
        """Run one request; returns the answer (JSON text), or None (no answer) for a
        Response Topic under the node's base but not its reply/, and while stopping.
        Never raises."""
        self.saved = None  # the config this request saved (_save)
        rt, b = msg.response_topic, self.app.base
        if rt.startswith(b) and rt[len(b):len(b) + 1] in ("", "/") and not rt.startswith(
                "/reply/", len(b)):  # <base> or under it, but for <base>/reply/... (where
            # fieldnode cmd asks): its answer would be the node's own status, reading,
            self.responder.ignored += 1  # stats or command: not run, dropped like
            return None  # a request without a Response Topic
        name = msg.topic[msg.topic.rfind("/") + 1:]
        data = msg.payload
        print("node: <- cmd %s (%d B)" % (name, len(data)))
        if self.app.stopping:  # no answer after `offline` (main.py stop()), and not run:
            print("node: not run: stopping")  # a retry later runs it
            return None
        try:
            # the answer's PUBLISH must fit the transmit buffer and the broker's Maximum
            # Packet Size [MQTT-3.2.2-15]; at QoS 1 its topic and payload, the offline
            # queue's max_bytes (a supervised QoS 1 publish goes through it)
            rt = len((msg.response_topic or "").encode())
            room = _OVERHEAD + rt + len(msg.correlation_data or b"")
            top = min(_MAX_ANSWER, TX_SIZE - _TX_FREE - room)
            if msg.qos:
                top = min(top, self.app.sup.queue.max_bytes - rt)
            mps = self.app.client.session.server_max_packet_size
            if mps:
                top = min(top, mps - room)
            if top < _MIN_ROOM:  # known before it runs: nothing done, and said so
                rc, out = _FAILED, _answer(_FAILED, "no room for an answer: %d bytes"
                                           % max(top, 0))
            elif len(data) > _MAX_BYTES:
                rc, out = _TOO_LARGE, _answer(_TOO_LARGE, "payload over %d bytes" % _MAX_BYTES)
            else:
                rc, out = self._run(name, data)
            # bytes, not characters: MicroPython's JSON keeps non-ASCII text as UTF-8
            n = len(out) if len(out) * 4 <= top else len(out.encode())
            if n > top >= _MIN_ROOM:  # (under that: "no room" goes as it is, or not at all)
                if rc == _OK and name in _CHANGES:  # it was done: rc 5 would say not
                    out = _answer(_OK, "done; its answer of %d bytes is over %d" % (n, top))
                else:  # nothing changed: a retry with more room may get it
                    rc, out = _FAILED, _answer(_FAILED, "answer of %d bytes is over %d"
                                              % (n, max(top, 0)))
        except MemoryError:  # a full or fragmented heap: answer small, keep running
            gc.collect()
            rc, out = _FAILED, '{"rc": %d, "msg": "out of memory"}' % _FAILED
            if self.saved is not None:  # but config.json changed: rc 5 would say not
                rc, out = _OK, '{"rc": 0, "msg": "saved; out of memory after it"}'
                try:
                    self.app.apply(self.saved)  # (again, if that is what ran out)
                except MemoryError:
                    out = '{"rc": 0, "msg": "saved; out of memory: reboot to apply"}'
        if rc:
            self.errors += 1
        else:
            self.done += 1
        self.rc = rc
        # two writes, not one formatted copy of a (maybe long) answer
        print("node: -> answer %s:" % name, out)
        return out

    def _run(self, name, data):
        try:
            a = {}
            if len(data):
                data = bytes(data)
                from mqtt5.wire import utf8_ok  # (the client's: RFC 3629, which
                # MicroPython's decode() does not hold to: overlongs, surrogates)

                if b"\0" not in data and not utf8_ok(data):  # (a 0 byte: not JSON)
                    raise UnicodeError
                import strictjson  # json.loads alone takes what is not JSON (MicroPython)

                a = json.loads(data[strictjson.check(data):].decode())  # (after a BOM)
        except UnicodeError:
            return _MALFORMED, _answer(_MALFORMED, "payload is not UTF-8 text")
        except ValueError as e:
            return _MALFORMED, _answer(_MALFORMED, "payload is not JSON: %s" % e)
        if not isinstance(a, dict):
            return _MALFORMED, _answer(_MALFORMED, "payload is not a JSON object")
        fn = getattr(self, "cmd_" + name, None) if name.isalpha() or "_" in name else None
        if fn is None:
            return _UNKNOWN, _answer(_UNKNOWN, "unknown command %r" % name)
        try:
            return _OK, fn(a)
        except _Bad as e:
            return _BAD_ARGS, _answer(_BAD_ARGS, str(e))
        except ValueError as e:  # config.ConfigError names the key
            return _BAD_ARGS, _answer(_BAD_ARGS, str(e))
        except MemoryError:  # handle()'s: collect, and answer without allocating
            raise
        except Exception as e:  # the node keeps running
            if self.saved is not None:  # after config.json changed: not rc 5 (not done)
                return _OK, _answer(_OK, "saved; then failed: %r" % (e,))
            return _FAILED, _answer(_FAILED, "failed: %r" % (e,))

    # ---- the commands ----------------------------------------------------------------
    def cmd_ping(self, a):
        _args(a, ())
        return _answer(_OK, "pong", {"fw": VERSION, "uptime_s": self.app.uptime_s()})

    def cmd_get_state(self, a):
        _args(a, ())
        app = self.app
        sensors = {}
        for i in range(len(app.names)):
            unit, exp = board.SENSORS[app.names[i]]
            sensors[app.names[i]] = {"value": app.value[i], "exp": exp, "unit": unit,
                                     "seq": app.seq[i], "interval_ms": app.scfg[i]["interval_ms"]}
        return _answer(_OK, "ok", {"sensors": sensors, "stats": app.stats()})

    def cmd_set_interval(self, a):
        _args(a, ("sensor", "interval_ms"))
        name = a.get("sensor")
        if not isinstance(name, str):
            raise _Bad("sensor: expected one of %s or 'stats'" % ", ".join(sorted(board.SENSORS)))
        iv = _int(a, "interval_ms", 500 if name == "stats" else 200, 86400000)
        cfg = self.app.cfg
        if name == "stats":
            change = {"stats_interval_ms": iv}
        elif name in board.SENSORS:
            sens = dict(cfg["sensors"])
            s = dict(cfg["sensors"][name])
            s["interval_ms"] = iv
            sens[name] = s
            change = {"sensors": sens}
        else:
            raise _Bad("sensor: expected one of %s or 'stats'" % ", ".join(sorted(board.SENSORS)))
        self._save(change)
        return _answer(_OK, "interval of %s is %d ms" % (name, iv))

    def cmd_get_config(self, a):
        _args(a, ())
        import config
        return _answer(_OK, "ok", {"config": config.mask(self.app.cfg),
                                  "source": self.app.config_source})

    def cmd_set_config(self, a):
        if not a:
            raise _Bad("no keys to set")
        for k in a:
            if k in SERIAL_ONLY:
                raise _Bad("%s: set over serial only (fieldnode config set), so that commands "
                           "cannot send the node or its credentials elsewhere" % k)
        new = self._save(a)
        # every key saved with a value other than the one running since boot (from this
        # request or an earlier one); a key set back to its running value waits for nothing
        boot = self.app.booted
        uid = board.unique_id  # (device_id null: the board's id, the one running if so)
        later = sorted(k for k in new if k not in _LIVE and new[k] != boot[k] and not (
            k == "device_id" and (new[k] or uid()) == (boot[k] or uid())))
        return _answer(_OK, "saved" + (", reboot to apply: " + ", ".join(later) if later else ""),
                       {"reboot_needed": later})

    def cmd_identify(self, a):
        _args(a, ("seconds",))
        s = _int(a, "seconds", 1, 60) if "seconds" in a else 5
        print("node: IDENTIFY: this is %s (blinking the LED for %d s)" % (self.app.base, s))
        end = ticks_add(ticks_ms(), s * 1000)
        if self.blinker is None or self.blinker.done():
            self.blink_end = end
            self.blinker = asyncio.create_task(self._blink())
        elif ticks_diff(end, self.blink_end) > 0:  # one blinker, however many requests
            self.blink_end = end
        return _answer(_OK, "identifying for %d s" % s)

    def cmd_reboot(self, a):
        _args(a, ())
        if not self.rebooting:  # (a burst of reboots: one)
            self.rebooting = True
            self.app.tasks.append(asyncio.create_task(self._reboot()))
        return _answer(_OK, "rebooting")

    # ---- helpers ---------------------------------------------------------------------
    def _save(self, changes):
        # the current config with `changes`, validated first: a bad value raises
        # ConfigError and nothing is written (config.py: loaded by main at boot). The
        # running config from config.json unchanged (its own values sent again, a
        # retry): nothing written, answered as saved (no flash wear per request)
        import config
        app = self.app
        cfg = config.validate(config.merge(app.cfg, changes), board.SENSORS)
        if cfg == app.cfg and app.config_source == "file":
            return cfg
        cfg = config.save(board.config_dir(), cfg, board.SENSORS)
        self.saved = cfg  # (from here on it is done, whatever runs out: handle())
        self.app.config_source = "file"
        self.app.apply(cfg)
        return cfg

    async def _blink(self):
        on = True
        while ticks_diff(self.blink_end, ticks_ms()) > 0:
            board.led(on)
            on = not on
            await sleep_ms(250)
        board.led(False)

    async def _reboot(self):
        await sleep_ms(300)  # the answer goes out first
        if self.app.stopping:  # a stop under way (Ctrl-C) wins: its goodbye, then the
            return  # REPL, not a reset in the middle of it
        await self.stop()
        board.reset()
