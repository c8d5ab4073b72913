"""The node's tasks: readings, events and stats (the watchdog and last-resort resets:
keeper.py; the birth `online`: the Supervisor's, first on every link, main.py). One
`App` per node, on a connected-or-not mqtt5 Supervisor; topics <prefix>/<device_id>/...

- readings: each sensor on its own interval; the newest per sensor waits (`dirty`)
  for the link: an outage coalesces into one reading per sensor. Retained, binary
  (payload.py), QoS from config; Content Type with a topic's first publish on each
  connection, then bare aliases; all again after the broker lost our session;
- events: button presses, threshold crossings (hysteresis); QoS 1, in order, up to
  _EV_FLY awaiting their PUBACK while up (one while down), Message Expiry from when
  they happened; at most `queue_count` wait besides (the oldest dropped first), one
  stale past `event_expiry_s` is dropped, never sent late;
- stats (JSON) on their own interval while up; the birth's ack or refusal is logged.
"""

import asyncio
import gc
import json

import board
import payload as pl
from mqtt5 import MQTTError
from mqtt5._compat import Signal, const, sleep_ms, ticks_add, ticks_diff, ticks_ms
from mqtt5.supervisor import UP

VERSION = "0.1.0"  # the firmware's (boot log, stats, ping); pyproject.toml's is the same
# the stats PUBLISH less its topic, at most: ~360 B of JSON after boot, ~500 with an
# 80-character last_disconnect and long counts, the content type, the headers
STATS_ROOM = const(560)
_TEXT = const(512)  # the stats JSON's buffer (~500 B at most, as above)
_POLL_MS = const(100)  # button and due-time polling
_RETRY_MS = const(5000)  # a reading refused for now (0x97) is sent again after this
_NORMAL = const(0)
_HIGH = const(1)
_LOW = const(2)
_UNKNOWN = const(3)  # before a sensor's first reading: its level is reported, normal included
# events published and awaiting their PUBACK at once while up: a round trip carries
# this many (one at a time, a 4 s round trip passed 15 a minute). Each holds a waiter
# slot of the client's 16 (max_inflight): with the birth's, a reading's, 4 command
# answers', main.py's two (a state cleared, `offline`) and the one the Supervisor keeps,
# 3 stay free
_EV_FLY = const(4)
_INT32_MIN = const(-2147483648)  # the range a reading payload can carry (docs/payload.md)
_INT32_MAX = const(2147483647)


def log(msg):
    print("node: " + msg)


def why(e):
    """An exception as a reason in logs and stats: its text, else what it is (a timeout)."""
    return str(e) or ("timed out" if isinstance(e, asyncio.TimeoutError) else type(e).__name__)


class App:
    """The application state and tasks of one node (see module doc)."""

    def __init__(self, sup, cfg, source, device_id):
        # stopping: main.py's stop() has begun: nothing but `offline` goes out from now
        # on (the tasks publish no more; the keeper: a vital task's end is no failure).
        # Set here, not first at stop(): a new attribute then may grow this instance's
        # dict (47 attributes fill it: the next size is a 472-byte block on 32-bit),
        # which a heap run full or cut up may lack at goodbye
        self.stopping = False
        self.sup, self.client, self.config_source = sup, sup.client, source
        self.base = cfg["topic_prefix"] + "/" + device_id
        self.status_topic = self.base + "/status"
        names = self.names = sorted(board.SENSORS)
        n = len(names)
        self.cfg = self.booted = cfg  # booted: what keys applied at boot run with
        self.scfg = [cfg["sensors"][s] for s in names]  # per sensor settings
        self.topics = [self.base + "/state/" + s for s in names]
        self.seq = [0] * n
        self.value = [None] * n  # None: no reading yet
        # times: ticks_ms, by ticks_diff; past its reach (6.2 days, 32-bit) the uptime
        self.taken = [0] * n  # ticks of the newest reading
        self.taken_s = [0] * n  # and its uptime_s
        self.dirty = bytearray(n)  # a reading waits to be published
        self.ct_sent = bytearray(n)  # Content Type sent on this connection
        self.level = bytearray([_UNKNOWN] * n)  # threshold state: _NORMAL / _HIGH / _LOW
        self.mv = memoryview(bytearray(pl.MAX_SIZE))  # a reading's payload
        self.ev_seq, self.last_pub = 0, -1  # last_pub: the sensor published last
        self.tick = ticks_ms()  # the tick the uptime is counted up to
        self.up_s = 0  # uptime in whole seconds (a small int for 34 years)
        self.due = [self.tick] * n  # next reading per sensor (readings() starts them)
        self.beat = self.stats_due = self.tick  # beat: the readings task's last turn
        self.wake = Signal()  # an asyncio Event whose wait allocates nothing (mqtt5)
        self.readings_sent = self.events_sent = self.events_dropped = 0
        self.sensor_errors = 0  # reads that failed (logged, skipped)
        self.failing = bytearray(n)  # per sensor: a read failed (the first logged)
        self.refused = bytearray(n + 1)  # its publish's refusal code (last: the birth's)
        self.refusals = 0  # readings and births refused (stats "refused")
        self.rejoins = 0  # the network came back after a loss
        self.lost_at = None  # (ticks, uptime_s) when the keeper found the network gone
        self.ev_wait = []  # (name, payload, seq, ticks, uptime_s) not yet published
        # (name, seq, awaitable, held) published, oldest first (_EV_FLY at most); held:
        # queued only once awaited, and no later one published before
        self.ev_fly = []
        self.ev_wake = Signal()
        # linked: up since the last DOWN, 1 until this link's birth is said (its ack or
        # refusal logged: stats_task), then 2; 0: no link (one name, not two: the
        # App's dict is at a size step, and a 48th name would cost 96 B)
        self.last_disconnect, self.linked = None, 0
        self.unlinked = (self.tick, 0)  # (ticks, uptime_s) since when no link: boot, a loss
        self.heap_losses = 0  # links (and attempts) in a row ended by a MemoryError
        self.heap_since = [0, 0, 0]  # that run's first ticks, uptime_s; ms to its last
        self.commands, self.tasks = None, []  # commands.Commands, set by main
        self.text = bytearray(_TEXT)  # stats_json()'s, taken while the heap is whole

    def apply(self, cfg):
        """Take a new (validated) config: intervals, QoS and thresholds at once."""
        old = self.scfg
        self.cfg = cfg
        self.scfg = [cfg["sensors"][s] for s in self.names]
        now = ticks_ms()
        for i in range(len(self.names)):
            o, c = old[i], self.scfg[i]  # new thresholds are checked against a reading now
            new = (o["high"], o["low"], o["hysteresis"]) != (c["high"], c["low"], c["hysteresis"])
            self.due[i] = _sooner(self.due[i], now if new else ticks_add(now, c["interval_ms"]))
        self.stats_due = _sooner(self.stats_due, ticks_add(now, cfg["stats_interval_ms"]))

    def clock(self):
        """ticks_ms() now, and the uptime brought up to it (called every _POLL_MS or so)."""
        now = ticks_ms()
        d = ticks_diff(now, self.tick) // 1000
        if d > 0:
            self.up_s += d
            self.tick = ticks_add(self.tick, d * 1000)
        return now

    def uptime_s(self):
        self.clock()
        return self.up_s

    def age_ms(self, t, t_s):
        """ms since ticks `t` (uptime `t_s`): ticks_diff for a day, then the uptime's."""
        now = self.clock()
        s = self.up_s - t_s
        return ticks_diff(now, t) if s < 86400 else s * 1000

    # ---- link state (Supervisor on_state) --------------------------------------------
    def link(self, state, reason):
        if state == UP:  # (the birth queued first: `online` logged at its ack, stats_task)
            self.linked = 1
            lost = not self.sup.session_present  # retained messages may be gone too
            for i in range(len(self.ct_sent)):
                self.ct_sent[i] = 0
                if lost and self.value[i] is not None:
                    self.dirty[i] = 1
            self.wake.set()
        elif reason is not None and self.linked:  # a loss, not a failed attempt
            self.unlinked = (self.clock(), self.up_s)  # (no heap: the next DOWN again)
            self.linked = 0
            try:  # why the link was lost; on a full heap, what ended it
                self.last_disconnect = _clip(why(reason), 80)
            except MemoryError:
                self.last_disconnect = type(reason).__name__  # (a name: no allocation)

    # ---- readings --------------------------------------------------------------------
    async def readings(self):
        # this task, the keeper and stats go on past a full heap (MemoryError)
        names = self.names
        now = self.stats_due = self.clock()  # from now: joining may have taken days
        self.due = [now] * len(names)
        while True:
            now = self.clock()
            self.beat = now
            nxt = ticks_add(now, _POLL_MS)
            try:
                for i in range(len(names)):
                    if ticks_diff(now, self.due[i]) >= 0:
                        iv = self.scfg[i]["interval_ms"]
                        d = ticks_add(self.due[i], iv)  # on the schedule, not drifting
                        self.due[i] = d if ticks_diff(d, now) > 0 else ticks_add(now, iv)
                        self._read(i, now)
                    nxt = _sooner(nxt, self.due[i])
                if board.button_pressed():
                    log("button pressed")
                    self.event("button", pl.EV_BUTTON)
            except MemoryError:
                gc.collect()
            await sleep_ms(max(10, ticks_diff(nxt, ticks_ms())))

    def _read(self, i, now):
        name = self.names[i]
        try:
            v = board.read_sensor(name)
            if not isinstance(v, int):  # e.g. a driver's float: fixed point is the board's job
                raise TypeError("%r is not an int in steps of 10^%d"
                                % (v, board.SENSORS[name][1]))
            if not _INT32_MIN <= v <= _INT32_MAX:  # the payload's widest value (INT32)
                raise ValueError("%r is out of the 32-bit range" % (v,))
        except MemoryError:
            raise
        except Exception as e:  # any driver failure (a bare Exception on a bad CRC...)
            self.sensor_errors += 1
            if not self.failing[i]:  # once a run, not at every read
                self.failing[i] = 1
                log("sensor %s failed: %r" % (name, e))
            return
        if self.failing[i]:
            self.failing[i] = 0
            log("sensor %s reads again" % name)
        self.seq[i] = self.seq[i] % 0xFFFF + 1  # 1..65535: 0 is "no reading yet"
        self.value[i] = v
        self.taken[i] = now
        self.taken_s[i] = self.up_s
        self.dirty[i] = 1
        self.wake.set()
        self._threshold(i, v)

    def _threshold(self, i, v):
        s = self.scfg[i]
        hi, lo, hyst = s["high"], s["low"], s["hysteresis"]
        lvl = self.level[i]
        new = lvl
        if hi is not None and lvl != _HIGH and v >= hi:
            new, code, what = _HIGH, pl.EV_HIGH, "high"
        elif lo is not None and lvl != _LOW and v <= lo:
            new, code, what = _LOW, pl.EV_LOW, "low"
        elif (lvl == _HIGH and (hi is None or v < hi - hyst)) or \
                (lvl == _LOW and (lo is None or v > lo + hyst)) or lvl == _UNKNOWN:
            new, code, what = _NORMAL, pl.EV_NORMAL, "normal"
        if new != lvl:
            if lvl != _UNKNOWN or hi is not None or lo is not None:  # (else nothing to say)
                self.event(self.names[i] + "_" + what, code, v, board.SENSORS[self.names[i]][1])
            self.level[i] = new  # after: an event a full heap stopped is seen again

    async def publisher(self):
        """The newest reading of each sensor while up (after the birth: first queued)."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.sup.state == UP and not self.stopping:  # (after `offline`: none)
                i = self._next_dirty()
                if i < 0:
                    break
                try:
                    if await self._publish_reading(i):  # refused for now: again soon
                        await sleep_ms(_RETRY_MS)
                except MemoryError:  # it waits for the next wake (a constant line)
                    gc.collect()
                    self.dirty[i] = 1
                    print("node: publish of a reading failed: MemoryError")
                    break
                except Exception as e:  # whatever it is, the task goes on (watchdog)
                    log("publish of %s failed: %r" % (self.names[i], e))

    def _next_dirty(self):
        # in turn: a sensor read faster than its acks come cannot starve the others
        d = self.dirty
        for k in range(1, len(d) + 1):
            i = (self.last_pub + k) % len(d)
            if d[i]:
                self.last_pub = i
                return i
        return -1

    async def _publish_reading(self, i):
        self.dirty[i] = 0
        name = self.names[i]
        exp = board.SENSORS[name][1]
        age = self.age_ms(self.taken[i], self.taken_s[i])
        late = age >= 1000
        t = self.taken_s[i] if late else None  # seconds since boot when taken
        seq, v = self.seq[i], self.value[i]
        n = pl.encode_reading(self.mv, seq, v, exp, t)
        first = not self.ct_sent[i]
        qos = self.scfg[i]["qos"]
        links = self.sup.stats.connects
        try:
            await self.client.publish(self.topics[i], self.mv[:n], qos, True,
                                      pl.CT_READING if first else None, 0 if first else None)
        except MQTTError as e:  # refused (e.g. not authorized): the node goes on
            self._told(i, self.topics[i], e)
            # 0x97 Quota exceeded (the broker's, a full offline queue): again in _RETRY_MS
            if getattr(e, "reason_code", 0) == 0x97:
                self.dirty[i] = 1
                return True
            return
        self.readings_sent += 1
        self._told(i, self.topics[i], None)
        log("-> state/%s #%d %s %s%s (%d B, qos %d)" % (
            name, seq, pl.fixed(v, exp), board.SENSORS[name][0],
            " taken %d s ago" % (age // 1000) if late else "", n, qos))
        if self.sup.stats.connects == links:
            self.ct_sent[i] = 1
        else:  # the link was lost meanwhile, these bytes went out again late: with TIME
            self.dirty[i] = 1
            self.wake.set()

    def _told(self, i, topic, e):
        # the answer (e None, or its MQTTError) to reading i's publish, or the birth's
        # (i: len(names)): a refusal counted, logged once per code (not at every try:
        # an ACL refuses for good); its end said
        if e is None:
            if self.refused[i]:
                self.refused[i] = 0
                log("publish %s accepted again" % topic)
            return
        self.refusals += 1
        rc = (getattr(e, "reason_code", None) or 1) & 0xFF
        if rc != self.refused[i]:
            self.refused[i] = rc
            log("publish %s refused: %s" % (topic, e))

    # ---- events ----------------------------------------------------------------------
    def event(self, name, code, value=None, exp=0):
        """Queue event `name` (at most queue_count wait) and publish what may go now."""
        self.ev_seq = self.ev_seq % 0xFFFF + 1
        buf = bytearray(pl.MAX_SIZE)
        now = self.clock()
        n = pl.encode_event(buf, self.ev_seq, self.up_s, code, value, exp)
        wait = self.ev_wait
        while len(wait) >= self.cfg["queue_count"]:  # (set_config may have lowered it)
            old = wait.pop(0)
            self._dropped(old[0], old[2], "%d newer events waiting (queue_count)"
                          % self.cfg["queue_count"])
        wait.append((name, bytes(buf[:n]), self.ev_seq, now, self.up_s))
        self._send_events()
        self.ev_wake.set()

    def _send_events(self):
        # Publish waiting events, oldest first, while fewer than _EV_FLY await their
        # PUBACK (one while the link is down: the rest wait here, within queue_count).
        # The order of publish() calls is the order on the wire: a link sends in turn,
        # the next resends the unacknowledged first, in order [MQTT-4.6.0-1], and the
        # Supervisor's offline queue keeps the rest behind them. The broker passes a
        # topic's messages on in the order received [MQTT-4.6.0-5] (across topics: seq).
        wait, fly, q = self.ev_wait, self.ev_fly, self.sup.queue
        while wait and (not fly or len(fly) < _EV_FLY and self.sup.state == UP
                        and not fly[-1][3]):
            name, data, seq, at, at_s = wait.pop(0)
            left = self.cfg["event_expiry_s"] - self.age_ms(at, at_s) // 1000
            if self.stopping or left <= 0:  # nothing after `offline`, nothing late
                self._dropped(name, seq, "node stopping" if self.stopping
                              else "expired while waiting")
                continue
            k = q.n + q.drops
            aw = None
            try:  # (the topic too: on a full heap it fails like the publish)
                # queued by the call (the offline queue grew, or dropped its oldest for
                # it), else (no waiter slot free now) it queues itself once awaited:
                # held, no later event is published until then, to stay behind it
                aw = self.client.publish(self.base + "/event/" + name, data, 1, False,
                                         pl.CT_EVENT, 0, left, topic_alias=False)
                fly.append((name, seq, aw, q.n + q.drops == k))
            except Exception as e:  # refused at the call (a full heap): the next
                if isinstance(e, MemoryError):
                    gc.collect()
                    if aw is not None:  # published, and only its entry found no heap:
                        try:  # it was said dropped, though it went out
                            fly.append((name, seq, aw, q.n + q.drops == k))
                            continue
                        except MemoryError:  # (its outcome cannot be followed)
                            pass
                self._dropped(name, seq, why(e))

    async def events(self):
        """The outcomes of the published events, oldest first (event() publishes)."""
        fly = self.ev_fly
        while True:
            self._send_events()  # what an outcome (or the link's return) lets go
            if not fly:
                await self.ev_wake.wait()
                self.ev_wake.clear()
                continue
            name, seq, aw, _ = fly[0]
            try:  # (across link losses: in the Supervisor's offline queue meanwhile)
                await aw
            except Exception as e:  # expired in the offline queue, refused; the
                if isinstance(e, MemoryError):  # task goes on whatever it was
                    gc.collect()
                self._dropped(name, seq, "node stopping" if self.stopping else why(e))
            else:
                self.events_sent += 1
                log("-> event/%s #%d" % (name, seq))
            fly.pop(0)

    def _dropped(self, name, seq, reason):
        self.events_dropped += 1
        log("event %s #%d dropped: %s" % (name, seq, reason))

    # ---- stats -----------------------------------------------------------------------
    def stats(self):
        s, q, cmd = self.sup.stats, self.sup.queue, self.commands
        return {"fw": VERSION, "uptime_s": self.uptime_s(), "mem_free": board.mem_free(),
                "readings": self.readings_sent, "refused": self.refusals,
                "sensor_errors": self.sensor_errors, "events": self.events_sent,
                "events_dropped": self.events_dropped, "reconnects": s.reconnects,
                "network_rejoins": self.rejoins,
                "queue_drops": q.drops, "queue_expired": q.expired,
                "last_disconnect": self.last_disconnect, "config_source": self.config_source,
                "reset_cause": board.reset_cause(), "rssi": board.rssi(),
                "commands": cmd.done if cmd else 0, "command_errors": cmd.errors if cmd else 0,
                "commands_dropped": cmd.dropped() if cmd else 0}

    def stats_json(self):
        """The stats as UTF-8 JSON in `self.text` (a memoryview), piece by piece (json.dumps
        grew one ~350 B block, which a cut-up heap may lack for good)."""
        buf, n, sep = self.text, 0, "{"
        d = self.stats()
        for k in d:
            p = ('%s"%s": %s' % (sep, k, json.dumps(d[k]))).encode()
            if n + len(p) >= _TEXT:  # (not seen: ~500 B at most)
                return memoryview(json.dumps(d).encode())
            buf[n:n + len(p)] = p
            n += len(p)
            sep = ", "
        buf[n] = 125  # }
        return memoryview(buf)[:n + 1]

    async def stats_task(self):
        while True:
            now = ticks_ms()
            try:
                b = self.linked and self.sup.queue.outcome  # the birth's slot (mqtt5.drain):
                if b and (b.rc is not None or b.err is not None) and not self.stopping:
                    self.sup.queue.outcome = None  # its ack or refusal is in: said
                    self.linked = 2
                    self._told(len(self.names), self.status_topic, b.err)
                    if b.err is None:
                        log("%s online" % self.status_topic)
                if ticks_diff(now, self.stats_due) >= 0:
                    up = self.sup.state == UP and not self.stopping  # after the birth,
                    # which goes first, and not after `offline`; while down, due again
                    # in a second: stats due then (a boot's first) go once it is up
                    self.stats_due = ticks_add(now, self.cfg["stats_interval_ms"]
                                               if up else 1000)
                    self.tasks = [t for t in self.tasks if not t.done()]
                    if up:
                        text = self.stats_json()
                        topic = self.base + "/stats"
                        await self.client.publish(topic, text, 0, False, "application/json",
                                                  1, topic_alias=False)
                        # out, or waiting in the offline queue (a link down, others first)
                        _say("node: stats queued " if topic in self.sup.queue.topic
                             else "node: -> stats ", text)
                if self.commands:
                    # repeats, drops: a line a turn at most (a second once the birth is
                    # said, _POLL_MS before)
                    self.commands.report()
            except MQTTError as e:
                if not self.stopping:  # (a stop fails what waits: no noise at goodbye)
                    log("stats refused: %s" % e)
            except MemoryError:  # said, not silent (a constant: no allocation to print it)
                gc.collect()
                print("node: stats skipped: heap full")
            # a turn a second once this link's birth is said; until then every
            # _POLL_MS, so that `online` is logged as its ack comes (it took up to 1 s)
            await sleep_ms(min(1000 if self.linked == 2 else _POLL_MS,
                               max(10, ticks_diff(self.stats_due, ticks_ms()))))


def _say(head, text):
    # head and UTF-8 `text` (a memoryview) on a line, in pieces cut between characters
    print(head, end="")
    i, n = 0, len(text)
    try:
        while i < n:
            j = i + 64 if i + 64 < n else n
            while j < n and text[j] & 0xC0 == 0x80:  # a continuation byte
                j -= 1
            print(str(text[i:j], "utf-8"), end="")
            i = j
    except MemoryError:  # (the text went out: the line says so, and ends)
        print(" ... (not shown: heap full)", end="")
    print()


def _clip(text, n):
    # at most n characters, cut at a word with "..." (stats stay small and readable)
    if len(text) <= n:
        return text
    i = text.rfind(" ", 0, n - 2)
    return text[:i if i > 0 else n - 3] + "..."


def _sooner(a, b):
    # the earlier of two ticks times
    return a if ticks_diff(a, b) <= 0 else b
