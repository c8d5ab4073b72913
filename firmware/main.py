"""Fieldnode boot: config -> network -> supervised MQTT v5 client with a Will ->
birth `online` after every (re)connect -> the node's tasks (app.py, commands.py).

- config.json from the board's config directory, else its last-good copy, else
  the defaults (config.py); the source is logged and reported in stats; the
  retained reading of a sensor it names but the board no longer has is cleared;
- the network comes up through the board (retried with a growing pause);
- a Supervisor keeps the client connected (backoff with jitter, session
  resumption, bounded offline queue). The Will is `offline` (QoS 1, retained,
  Will Delay from config); a fatal refusal (bad credentials, banned) is not
  retried at once but after `fatal_backoff_s`, and the log says why;
- Ctrl-C (or `reboot`): `offline` (retained) and nothing after it (app.stopping),
  DISCONNECT 0x00; 0x04 (the broker publishes the Will) when `offline` was not
  acknowledged.
Board specifics come from the `board` module of boards/<board>/ only.
"""

import asyncio

import board
import config  # noqa: F401  (first, into a heap not yet cut up: see main())
import keeper
from app import VERSION, log, why
# The client's and the commands' modules load here, before the config is read, though
# only Node() names what they hold (imported there, out of this module's dict): loaded
# after the config, they left a 44 KiB heap too fragmented for a stats message
import commands  # noqa: F401
import mqtt5.client  # noqa: F401
import mqtt5.message  # noqa: F401
import mqtt5.supervisor as _sv  # its states, for the state callback

def _loopback(host):
    # this host by name or address: localhost, 127.0.0.0/8, ::1 (nothing that only
    # starts like one: localhost.example.com is another host)
    p = host.split(".")
    return host in ("localhost", "::1") or (
        len(p) == 4 and p[0] == "127" and all(x.isdigit() and int(x) < 256 for x in p))


def _plain_remote(urls):
    # brokers reached over plain TCP that are not on this host
    from mqtt5.transport import parse_url

    return [u for u in urls if u.startswith("mqtt://") and not _loopback(parse_url(u)[1])]


def _tls_options(cfg, urls):
    # the tls_* keys become Client(tls=...) for mqtts:// brokers; the library
    # verifies the server against tls_ca unless tls_insecure asks otherwise
    opts = {}
    for k in ("ca", "cert", "key"):
        if cfg["tls_" + k]:
            opts[k] = cfg["tls_" + k]
    if cfg["tls_insecure"]:
        opts["insecure"] = True
        log("TLS: tls_insecure is set, the broker's certificate is NOT verified")
    if not any(u.startswith("mqtts://") for u in urls):
        if opts:
            log("tls_* keys set but no mqtts:// broker: they are unused")
        return None
    if "ca" not in opts and "insecure" not in opts:  # (config.validate checks `brokers`;
        # this is the board's default broker)
        log("%s needs tls_ca or tls_insecure" % urls[0])
    return opts


class Node:
    """The client, its supervisor, the app tasks and the command handlers."""

    def __init__(self, cfg, source, gone=None):
        from app import STATS_ROOM, App
        from commands import TX_SIZE, Commands
        from mqtt5 import Client, Will
        from mqtt5._compat import Signal
        from mqtt5.supervisor import Supervisor

        self.cfg = cfg
        self.gone = gone or []  # sensors the config names that the board has no more
        self.device_id = cfg["device_id"] or board.unique_id()
        urls = cfg["brokers"] or [board.default_broker()]
        user, pw = cfg["username"], cfg["password"]
        plain = _plain_remote(urls)
        if (user or pw) and plain and not cfg["allow_plain_credentials"]:
            log("credentials withheld: %s is plain TCP to another host (use mqtts:// "
                "or set allow_plain_credentials)" % plain[0])
            user = pw = None
        tls = _tls_options(cfg, urls)
        base = cfg["topic_prefix"] + "/" + self.device_id
        self.client = Client(self.device_id, keepalive=cfg["keepalive"],
                             session_expiry=cfg["session_expiry"], username=user,
                             password=pw, tx_size=TX_SIZE,
                             # the readings' topics only, and the status's: events,
                             # stats and answers name theirs in full (app.py,
                             # commands.py), so that none of them takes a reading's
                             # alias, whose next publish would then name its topic
                             # again without its Content Type (app.ct_sent)
                             topic_alias_out=max(8, len(board.SENSORS) + 1),
                             tls=tls,
                             # a link that answers pings but acks nothing: a new one
                             ack_timeout_ms=cfg["ack_timeout_s"] * 1000,
                             # DNS + TCP, then CONNACK (on MicroPython the TLS handshake
                             # comes in the CONNACK wait: one bound for all of it)
                             connect_timeout_ms=cfg["connect_timeout_s"] * 1000,
                             will=Will(base + "/status", b"offline", qos=1, retain=True,
                                       delay=cfg["will_delay"] or None))
        # the stats are the largest message a node sends unasked: their room in the
        # transmit buffer is taken now, while the heap is in one piece (grown on first
        # use, it may find no block that large once modules have loaded); and the
        # receive buffer whole (rx_size, the Maximum Packet Size the CONNECT announces):
        # grown for the first large request, a MemoryError ended the link, and the
        # broker resent that request first at every reconnect until keeper reset us
        self.client.reserve(len(base + "/stats") + STATS_ROOM,  # (app.py's stats topic)
                            self.client.session.max_packet_size)
        # birth `online` first of what each link sends anew (a resumed session resends
        # its unacknowledged messages before it): events queued while down come after it
        self.sup = Supervisor(self.client, urls, on_state=self._on_state,
                              # a link that lived a keep-alive period was stable: the
                              # backoff starts again. Behind a NAT that forgets an idle
                              # link before the ping, each lives 1.5 x keepalive (dead
                              # link, spec 3.1.2.10), under the default 60 s at 30 s:
                              # the backoff grew toward its cap link after link
                              stable_ms=min(60000, cfg["keepalive"] * 1000),
                              fatal_backoff_ms=cfg["fatal_backoff_s"] * 1000,
                              queue_count=cfg["queue_count"], queue_bytes=cfg["queue_bytes"],
                              birth=(base + "/status", b"online", 1, True))
        self.app = App(self.sup, cfg, source, self.device_id)
        self.commands = self.app.commands = Commands(self.app, self.stop)
        self._end = Signal()  # set by stop()
        self._cut_soon = 0  # links in a row the broker closed unstable, naming no reason
        self._shut = 0  # connects in a row the server closed before its CONNACK

    def _on_state(self, sup, state, reason):
        linked = self.app.linked  # a link ends (App.link clears it), not an attempt
        if state == _sv.UP:  # before the app's "online", which comes last
            self._shut = 0
            log("connected to %s" % sup.url)
            if reason is not None:  # the broker refused <base>/cmd/+: nothing is answered
                log("commands off: %s" % reason)
        keeper.on_state(self.app, state, reason)  # first: it reads app.linked
        self.app.link(state, reason)
        if state == _sv.CONNECTING:
            log("link connecting to %s" % sup.url)
        elif state == _sv.DOWN and reason is not None:
            code = getattr(reason, "reason_code", None)
            ms = sup.retry_ms
            if _sv.classify(code) == _sv.FATAL:
                log("link refused (%s): fatal, next try in %d s" % (reason, ms // 1000))
            else:  # (a link that ends, or an attempt that fails; redirected: at once)
                log("%s (%s): next try in %d.%d s" % ("link down" if linked else
                    "connect failed", why(reason), ms // 1000, ms % 1000 // 100))
                if not linked:  # connects in a row the server closed before CONNACK
                    e = isinstance(reason, OSError) and reason.args and reason.args[0]
                    self._shut = self._shut + 1 if e in (104, 32) else 0  # (reset, EPIPE)
                    if self._shut == 3:
                        log("3 connects in a row closed before CONNACK: is %s no plain "
                            "MQTT port (TLS? WebSocket?), or does the broker refuse the "
                            "CONNECT? See its log" % sup.url)
                if code == 0x8E:  # [MQTT-3.1.4-3]
                    log("another client connected as %r and took this link; two boards "
                        "with one device_id take it from each other in turn: give each "
                        "its own" % self.device_id)
                elif linked and self._closed_unstable(sup, reason) == 3:
                    log("the broker closed the link 3 times in a row, each within 60 s "
                        "of connecting, naming no reason: is another client connected "
                        "as %r? Two boards with one device_id take the link from each "
                        "other, and Mosquitto before 2.0.15 does not say so. If not, see "
                        "the broker's log" % self.device_id)
        elif state == _sv.STOPPED:  # stop(), or a bad option found only at connect
            log("link stopped" + (" (%s)" % why(reason) if reason is not None else ""))

    def _closed_unstable(self, sup, reason):
        # Counts the links in a row that the broker closed within 60 s of connecting
        # without a DISCONNECT (a clean end of the stream): how a broker that does not
        # send 0x8E shows a takeover. Another end of a link starts the count again
        # (failed connects between such links are passed over).
        # (60 s, not the Supervisor's stable_ms, which is the keep alive: a twin's link
        # lives as long as the other's backoff, which a keep alive of 5 s keeps short)
        if "closed by the server" in str(reason) and sup.stats.last_up_ms < 60000:
            self._cut_soon += 1
        else:
            self._cut_soon = 0
        return self._cut_soon

    async def clear_gone(self):
        # A sensor the config names but the board no longer has (a firmware change)
        # left its last reading retained on the broker, where dashboards keep showing
        # it: a zero-byte retained publish removes it [MQTT-3.3.1-6]. Supervised, the
        # publish waits for the link (after the birth); tried once per boot, with no
        # Topic Alias (the topic is not sent again).
        while self.gone and not self.app.stopping:
            name = self.gone.pop(0)
            try:
                await self.client.publish(self.app.base + "/state/" + name, b"", qos=1,
                                          retain=True, topic_alias=False)
                log("state/%s cleared: not a sensor of this board" % name)
            except Exception as e:  # refused (ACL): said, and the node goes on
                if not self.app.stopping:  # (a stop fails what waits: no noise at goodbye)
                    log("state/%s not cleared: %s" % (name, why(e)))

    async def serve(self):
        log("%s starting (board %s, reset cause %s)" % (self.device_id, board.NAME,
                                                        board.reset_cause()))
        wdt = self.cfg["watchdog_ms"]
        try:
            if wdt:  # armed now and held through the join: a soft reset (a deploy, Ctrl-D)
                board.wdt_start(wdt)  # leaves the one armed before it counting (no port
                board.wdt_hold()      # stops it), and nothing fed it until the network
            await keeper.join(self.app)  # was up: reset when that took longer
            sup_task = self.sup.start()
            app = self.app
            if wdt:  # the hold ends; before the tasks: a first read that hangs is caught
                board.wdt_start(wdt)
            t = asyncio.create_task
            vital = (("supervisor", sup_task), ("readings", t(app.readings())),
                     ("publisher", t(app.publisher())), ("events", t(app.events())),
                     ("stats", t(app.stats_task())))
            app.tasks += [task for _, task in vital[1:]] + [t(keeper.run(app, vital))]
            if self.gone:
                app.tasks.append(t(self.clear_gone()))
            await self.commands.start()  # remembered while down, restored on reconnect
            await self._end.wait()  # (the supervisor retries forever: fatal_backoff_ms)
        except asyncio.CancelledError:
            # CPython: Ctrl-C cancels the main task; say goodbye first.
            if not self.app.stopping:
                log("stopping: offline, then disconnect (Ctrl-C again cuts it short)")
            await self.stop()
            raise

    async def stop(self):
        """Publish `offline` (retained) and disconnect with 0x00; when `offline` was
        not acknowledged, disconnect with 0x04 so that the broker publishes the Will
        (`offline`) instead of dropping it."""
        if self.app.stopping:
            return
        self.app.stopping = True
        self.commands.responder.answering = False  # no answer replayed to a repeat either
        status = self.app.status_topic
        up = self.client.is_connected
        said = False
        if up:
            from mqtt5._compat import sleep_ms

            try:
                # at most 3 s, looked at every 50 ms: not asyncio.wait_for, whose module
                # (asyncio.funcs, about 0.5 KB) would load now, when a node that ran its
                # heap full has none to spare
                t = asyncio.create_task(self.client.publish(status, b"offline", qos=1,
                                                            retain=True))
                for _ in range(60):
                    if t.done():
                        break
                    await sleep_ms(50)
                if t.done():
                    await t  # (its error, if it failed)
                    said = True
                else:
                    t.cancel()  # (the publish's slot frees itself)
                    log("offline not acknowledged within 3 s")
            except Exception as e:
                log("offline not acknowledged: %s" % why(e))
        await self.sup.stop(0 if said else 0x04)  # 0x04: Disconnect with Will Message
        if said:
            log("%s offline, disconnected" % status)
        elif up:
            log("disconnected with the Will (0x04): the broker publishes %s offline" % status)
        elif self.sup.stats.connects:  # the broker publishes the Will once the session's
            log("stopped while not connected: %s is left to the Will" % status)  # link is gone
        else:  # no broker ever accepted a CONNECT: none holds a Will of this boot
            log("stopped while not connected, and never was: no broker holds its Will")
        self._end.set()


def main():
    # config.py stays loaded: unloading it saves ~4 KB after boot (64-bit), but
    # loading it again for a config command can then fail on a fragmented heap.  It is
    # imported at the top, before the library: as .mpy, loaded after it, its bytecode
    # needed a block the library's loading garbage had cut up (the node's minimum heap
    # 144 KiB against 136-140)
    import config

    d = board.config_dir()
    gone = []
    cfg, source = config.load(d, board.SENSORS, log, gone)
    log("fieldnode %s, config from %s (%s)" % (VERSION, source, d))
    if not cfg["device_id"]:  # the board's id goes in every topic: checked as config's
        try:
            config.validate({"device_id": board.unique_id()})
        except config.ConfigError as e:
            log("cannot start with the board's device id: %s (set device_id in the config)" % e)
            raise SystemExit(1)
    node = Node(cfg, source, gone)
    try:
        asyncio.run(node.serve())
    except KeyboardInterrupt:
        # Ctrl-C (the REPL, fieldnode config/deploy): the board stays at the REPL, so
        # its watchdog, which cannot be disarmed, is fed from now until the next reset.
        board.wdt_hold()
        if not node.app.stopping:  # (CPython said it, and said goodbye, in serve())
            log("stopping: offline, then disconnect (Ctrl-C again cuts it short)")
        # MicroPython: Ctrl-C stops the loop where it is (a task of the link it lands
        # in closes the link: then the Will says offline); the goodbye runs on the
        # same loop.
        try:
            asyncio.run(node.stop())
        except KeyboardInterrupt:
            # a second Ctrl-C cuts the goodbye short: close the socket now, or a board
            # sits at the REPL with its link open, `online` for the broker until its
            # keep alive runs out (1.5 x keepalive) and only then the Will
            if node.client.abort():
                log("interrupted again: link closed, the broker publishes %s offline "
                    "(the Will)" % node.app.status_topic)
            else:
                log("interrupted again")
    finally:
        # MicroPython has one loop, and the node's tasks left in it (a task that Ctrl-C
        # stopped, what a cut goodbye waited for, all of them after an error) would
        # come back to life in the next program run at the REPL, reconnecting beside
        # it; and a link an error left open closes (the Will) rather than idle on
        node.client.abort()
        asyncio.new_event_loop().close()


main()
