# Bad input to the supervised and plain API must fail at the call, never wedge
# the client (argv: port tag):
# - a bad sup.subscribe() raises at once and is not remembered, so the next
#   reconnect comes up (before: every reconnect failed on it, for ever);
# - a bad URL or option raises when given; one found only at connect stops the
#   supervisor after one attempt, with the reason;
# - after stop(), publish() and wait_up() raise instead of waiting for ever;
# - a failed subscribe() leaves no handler route behind; two connect() at once
#   connect once;
# - a handler that returns an awaitable is called once, and an async handler's
#   message keeps its own bytes while later messages arrive;
# - a payload of the wrong type, or not UTF-8 under Payload Format Indicator 1,
#   raises at the call;
# - clean_start_first=False with nothing to resume starts clean after one refusal.
import asyncio

from client_util import args, emit, main
from mqtt5 import Client, MQTTError, Supervisor, Will

PORT, TAG = args()
URL = "mqtt://127.0.0.1:%d" % PORT
BASE = "sm/" + TAG


def error(e):
    return "%s: %s" % (type(e).__name__, e)


async def bad_subscribe_then_reconnect():
    c = Client("sm-" + TAG, keepalive=5, session_expiry=60)
    sup = Supervisor(c, URL, base_ms=100, cap_ms=200)
    sup.start()
    await sup.wait_up(5000)
    refused = []
    for filt, kw in (("a/#/b", {"qos": 1}), ("ok/+", {"qos": 3}), ("ok/+", {"hanlder": 1})):
        try:
            await sup.subscribe(filt, **kw)
            refused.append("accepted")
        except (ValueError, TypeError) as e:
            refused.append(type(e).__name__)
    # a second connection with the same client id takes the session over: the
    # supervisor's link drops and it must reconnect (restoring its subscriptions).
    # Its first retry comes after 0-100 ms (full jitter), so it may be back, and the
    # thief taken over in turn, before this task runs again: wait for the count,
    # not for a close (c.wait_closed() then waited on the new link, for ever)
    thief = Client("sm-" + TAG)
    await thief.connect(URL)
    for _ in range(500):
        if sup.stats.reconnects:
            break
        await asyncio.sleep(0.01)
    await thief.disconnect()
    await sup.wait_up(5000)
    emit(step="bad_subscribe", refused=refused, up=c.is_connected,
         reconnects=sup.stats.reconnects, remembered=len(sup._subs))

    # after stop(): a publish and wait_up() fail at once
    await sup.stop()
    out = {}
    for qos in (0, 1):
        try:
            await asyncio.wait_for(c.publish(BASE + "/late", b"x", qos=qos), 2)
            out[qos] = "returned"
        except MQTTError as e:
            out[qos] = "MQTTError"
        except asyncio.TimeoutError:
            out[qos] = "hung"
    try:
        await sup.wait_up(2000)
        up = "returned"
    except MQTTError:
        up = "MQTTError"
    except asyncio.TimeoutError:
        up = "hung"
    emit(step="after_stop", publish=[out[0], out[1]], wait_up=up)


async def bad_option_stops():
    # checked when given: a bad URL or option raises at once
    early = []
    for make in (lambda: Supervisor(Client("x"), "mqtt://127.0.0.1:99999"),
                 lambda: Client("x", keepalive=70000), lambda: Client("x", max_inflight=0),
                 lambda: Client("x", rx_size=0),
                 # these failed only at connect ("property 0x11 out of range", an
                 # AttributeError for the will)
                 lambda: Client("x", session_expiry=-1), lambda: Client("x", session_expiry=2 ** 32),
                 lambda: Client("x", topic_alias_out=-1),
                 lambda: Client("x", topic_alias_maximum=70000),
                 lambda: Client(123), lambda: Client("x", will="offline"),
                 # these failed only at connect too, naming a property id ("property
                 # 0x11 out of range"): a TypeError or ValueError naming the option now
                 lambda: Client("x", keepalive=1.5), lambda: Client("x", session_expiry=2.5),
                 lambda: Client("x", max_packet_size=-5), lambda: Client("x", keepalive=0.0)):
        try:
            make()
            early.append("accepted")
        except (ValueError, TypeError) as e:
            early.append(type(e).__name__)
    # found only at connect (a password callable returning no bytes or str): the
    # supervisor stops after one attempt, with the reason
    c = Client("sm-opt-" + TAG, username="u", password=lambda: 5)
    attempts = []
    sup = Supervisor(c, URL, base_ms=50, cap_ms=50,
                     on_state=lambda s, st, r: attempts.append(st))
    sup.start()
    try:
        await sup.wait_up(3000)
        up = "up"
    except MQTTError as e:
        up = error(e)
    except asyncio.TimeoutError:
        up = "hung"
    emit(step="bad_option", early=early, up=up, state=sup.state,
         connecting=attempts.count(1), reason=type(sup.reason).__name__)


async def handlers():
    c = Client("sm-h-" + TAG)
    # two connect() at once: one connects, the other raises (and closes its socket)
    both = await asyncio.gather(c.connect(URL), c.connect(URL), return_exceptions=True)
    emit(step="two_connects", results=sorted(type(r).__name__ for r in both),
         connected=c.is_connected)
    # a failed subscribe leaves no route
    try:
        await c.subscribe(BASE + "/leak/#", qos=3, handler=lambda m: None)
    except ValueError:
        pass
    routes = c._router.filters() if c._router is not None else []
    # a QoS that does not exist is a ValueError (not the server's limit); a topic
    # over 65535 characters is refused without quoting all of it
    bad_pub = []
    for topic, qos in ((BASE + "/q", 3), ("t" * 70000, 0)):
        try:
            await c.publish(topic, b"x", qos=qos)
            bad_pub.append("accepted")
        except ValueError as e:
            bad_pub.append(len(str(e)) < 200)
    # a payload of another type is a TypeError naming the type; a Payload Format
    # Indicator of 1 needs a UTF-8 payload (U+0000 is text there); nothing is sent
    bad_payload = []
    for payload, kw in ((123, {}), (None, {"qos": 1}), ([1, 2], {}),
                        (b"\xff\xfe", {"payload_format_indicator": 1, "qos": 1}),
                        (b"\xc0\x80", {"properties": {1: 1}}),
                        ("h\xe9\x00llo", {"payload_format_indicator": 1, "qos": 1})):
        try:
            await c.publish(BASE + "/p", payload, **kw)
            bad_payload.append("accepted")
        except (TypeError, ValueError) as e:
            bad_payload.append(error(e))
    try:
        Will(BASE + "/will", 5)
        bad_payload.append("accepted")
    except TypeError as e:
        bad_payload.append(error(e))
    echoes = []
    kept = []
    done = asyncio.Event()

    def on_echo(m):
        echoes.append(bytes(m.payload))

    async def keeper(m):
        await asyncio.sleep(0.3)  # later messages go through the buffer meanwhile
        kept.append(bytes(m.payload))
        if len(kept) == 3:
            done.set()

    await c.subscribe(BASE + "/echo", qos=1, handler=on_echo)
    await c.subscribe(BASE + "/in", qos=1,
                      handler=lambda m: c.publish(BASE + "/echo", bytes(m.payload), qos=1))
    await c.subscribe(BASE + "/keep", qos=1, handler=keeper)
    await c.publish(BASE + "/in", b"once", qos=1)
    for p in (b"k1", b"k2", b"k3"):
        await c.publish(BASE + "/keep", p, qos=1)
    await asyncio.wait_for(done.wait(), 5)
    await asyncio.sleep(0.3)
    emit(step="handlers", routes=routes, bad_pub=bad_pub, bad_payload=bad_payload, echoes=[e.decode() for e in echoes],
         kept=[k.decode() for k in kept])
    await c.disconnect()


async def subscribe_while_down():
    # a list of filters while down raised AttributeError, yet was remembered and its
    # handler got the messages once up; No Local on a shared subscription was taken
    # while down and failed every restore [MQTT-3.8.3-4]; both now fail at the call
    c = Client("smd-" + TAG)
    # (an on_state callback that fails is shown, once a second at most, and the
    # supervisor goes on: it was silently ignored)
    sup = Supervisor(c, "mqtt://127.0.0.1:1", base_ms=100, cap_ms=200,  # nobody listens
                     on_state=lambda s, st, r: 1 // 0)
    sup.start()
    out = []
    for filt, kw in ((["d/a", "d/b"], {"qos": 1, "handler": lambda m: None}),
                     ("$share/g/d/s", {"qos": 1, "no_local": True})):
        try:
            out.append(repr(await sup.subscribe(filt, **kw)))
        except Exception as e:
            out.append(type(e).__name__)
    try:
        await Client("x").subscribe("$share/g/d/s", no_local=True)
        out.append("accepted")
    except Exception as e:
        out.append(type(e).__name__)
    await asyncio.sleep(0.3)  # a few attempts, each a state change
    routes = sorted(c._router.filters()) if c._router is not None else []
    await sup.unsubscribe(["d/a", "d/b"])  # its routes go too (they stayed)
    # a filter with a code point a client may not send (spec 1.5.4): unsubscribed while
    # down, it was remembered and stopped the supervisor at the next resume
    coded = []
    for call in (sup.subscribe, sup.unsubscribe):
        try:
            await call("d/\x01")
            coded.append("accepted")
        except ValueError as e:
            coded.append(str(e))
    emit(step="down", results=out, remembered=[s[0] for s in sup._subs], state=sup.state,
         routes=routes, after_unsub=sorted(c._router.filters()), coded=coded,
         gone=sup._gone)
    await sup.stop()


def outcome(f):
    # what a call (not awaited) did: "accepted", or the type of what it raised
    try:
        f()
        return "accepted"
    except Exception as e:
        return type(e).__name__


async def refused_at_the_call():
    # Each of these was let through before, to go wrong later or never be said:
    # - supervised, a QoS that does not exist went out as QoS 0-2 (its low bits; 4 hung
    #   for ever in a waiter slot); -1 too, unsupervised on MicroPython;
    # - a re-subscribe refused for a bad user property dropped the filter's route: the
    #   subscription's messages then lost their handler;
    # - sup.subscribe() took any Subscription Identifier, and the bad one failed every
    #   restore after a reconnect;
    # - a CONNECT over tx_size (a large Will) was retried for ever by the supervisor;
    # - a client's PUBLISH could carry a Subscription Identifier [MQTT-3.3.4-6];
    # - supervised and down, a payload over tx_size was queued, then dropped.
    c = Client("smr-" + TAG)
    sup = Supervisor(c, URL, base_ms=50, cap_ms=100)
    sup.start()
    await sup.wait_up(5000)
    sup_qos = [outcome(lambda: c.publish(BASE + "/r/q", b"x", qos=q)) for q in (4, 5, -1, 3)]
    try:
        await sup.subscribe(BASE + "/r/sid", qos=1, subscription_identifier=0)
        sup_sid = "accepted"
    except ValueError as e:
        sup_sid = str(e)
    remembered = len(sup._subs)
    await sup.stop()

    p = Client("smr-p-" + TAG)
    await p.connect(URL)
    got = []
    await p.subscribe(BASE + "/r/s", qos=1, handler=lambda m: got.append("h1"))
    try:
        await p.subscribe(BASE + "/r/s", qos=1, handler=lambda m: got.append("h2"),
                          user_properties=[("k", 5)])
        resub = "accepted"
    except (TypeError, ValueError) as e:
        resub = type(e).__name__
    await p.publish(BASE + "/r/s", b"x", qos=1)
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.02)
    plain = [outcome(lambda: p.publish(BASE + "/r/q", b"x", qos=-1)),
             outcome(lambda: p.publish(BASE + "/r/q", b"x", properties={0x0B: 1}))]
    await p.disconnect()

    will = Will(BASE + "/w", b"w" * 3000)  # CONNECT over the default tx_size, 2048
    try:
        await Client("smr-big-" + TAG, will=will).connect(URL)
        big = "connected"
    except ValueError as e:
        big = str(e)
    states = []
    sup = Supervisor(Client("smr-big2-" + TAG, will=will), URL, base_ms=50, cap_ms=50,
                     on_state=lambda s, st, r: states.append(st))
    sup.start()
    try:
        await sup.wait_up(3000)
    except (MQTTError, asyncio.TimeoutError):
        pass
    big_sup = [sup.state, states.count(1), type(sup.reason).__name__]

    d = Client("smr-d-" + TAG, tx_size=256)
    sup = Supervisor(d, "mqtt://127.0.0.1:1", base_ms=100, cap_ms=200)  # nobody listens
    sup.start()
    down = [outcome(lambda: d.publish(BASE + "/r/d", b"x" * 300, qos=q)) for q in (0, 1)]
    down.append(outcome(lambda: d.publish(BASE + "/r/d", b"x" * 200, qos=0)))
    queued = sup.queue.n
    await sup.stop()
    emit(step="refused_at_the_call", sup_qos=sup_qos, sup_sid=sup_sid, remembered=remembered,
         resub=resub, got=got, plain=plain, big=big, big_sup=big_sup, down=down,
         queued=queued)


async def resume_with_nothing_to_resume():
    # clean_start_first=False on a new Client (a reboot) while the broker holds its
    # session: Session Present 1 for a client with no state is refused (0x82,
    # [MQTT-3.2.2-4]), and every attempt after it was the same, for ever
    c0 = Client("sm-fresh-" + TAG, session_expiry=600)
    await c0.connect(URL)
    await c0.subscribe(BASE + "/fresh", qos=1)
    c0.abort()  # the board dies: its session stays on the broker
    await asyncio.sleep(0.2)
    states = []
    c = Client("sm-fresh-" + TAG, session_expiry=600, keepalive=5)
    sup = Supervisor(c, URL, clean_start_first=False, base_ms=50, cap_ms=100,
                     on_state=lambda s, st, why: states.append((st, str(why))))
    sup.start()
    try:
        await sup.wait_up(5000)
        up = sup.session_present
    except asyncio.TimeoutError:
        up = "never up"
    emit(step="fresh_resume", up=up, downs=[w for st, w in states if st == 0],
         failures=sup.stats.as_dict()["failures"])
    await sup.stop()


async def run():
    await resume_with_nothing_to_resume()
    await subscribe_while_down()
    await bad_subscribe_then_reconnect()
    await bad_option_stops()
    await handlers()
    await refused_at_the_call()


main(run())
