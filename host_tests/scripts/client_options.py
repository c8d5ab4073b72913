# Retained messages and subscribe options against a paho peer.
# - retained: we publish retained, a second client of ours gets it with retain=1
# - Retain Handling 0 gets the peer's retained message, Retain Handling 2 does not
# - No Local: our own publishes are not delivered back, the peer's are
import asyncio

from client_util import Inbox, args, emit, main
from mqtt5 import Client

PORT, TAG = args()
BASE = "opts/" + TAG
URL = "mqtt://127.0.0.1:%d" % PORT


async def run():
    a = Client("optsA-" + TAG)
    # URLs: what parses, and a clear ValueError (no socket opened) for the rest
    from mqtt5.transport import parse_url
    urls = {}
    for u in ("mqtt://h", "mqtts://h", "h:1884", "mqtt://[::1]:1885/x", "mqtt://", "mqtt://h:",
              "mqtt://h:abc", "mqtt://h:65536", "mqtt://h:0", "mqtt://[::1", "mqtt://[::1]x",
              "ws://h", "mqtt://a..b", "mqtt://.h", "mqtt://%s.h" % ("x" * 64), "mqtt://h.",
              "mqtt://h:1883:1", "mqtt://h::1883", "mqtt://a:b:c:1883", "mqtt://h:\u0661\u0662",
              "mqtt://h:\u00b2"):
        try:
            urls[u] = list(parse_url(u))
        except ValueError as e:
            urls[u] = str(e)
    try:
        await a.connect("mqtt://127.0.0.1:70000")
        refused = "connected"
    except ValueError as e:
        refused = str(e)
    try:  # a name no DNS name can be (CPython's IDNA codec raised UnicodeError, a
        # ValueError, which stopped a Supervisor for good): an OSError like any other
        await a.connect("mqtt://h\ufffd.invalid:1883")
        unresolvable = "connected"
    except Exception as e:
        unresolvable = "%s: %s" % (type(e).__name__, str(e)[:40])
    emit(step="urls", urls=urls, refused=refused, connected=a.is_connected,
         unresolvable=unresolvable)
    b = Client("optsB-" + TAG)
    await a.connect(URL)
    await b.connect(URL)

    # our own retained message, seen by a later subscriber
    await a.publish(BASE + "/own", b"kept", qos=1, retain=True)
    own = Inbox()
    await b.subscribe(BASE + "/own", qos=1, handler=own)
    got = await own.wait(1)
    emit(step="retained_own", **got[0])
    await a.publish(BASE + "/own", b"", qos=1, retain=True)  # clear it

    # the peer published retained to rh0 and rh2 before we started
    rh0, rh2 = Inbox(), Inbox()
    await a.subscribe(BASE + "/rh2", qos=1, handler=rh2, retain_handling=2)
    await a.subscribe(BASE + "/rh0", qos=1, handler=rh0, retain_handling=0)
    await rh0.wait(1)
    # RH2 got nothing retained; a live publish on rh2 still arrives
    await a.publish(BASE + "/rh2", b"live", qos=1)
    await rh2.wait(1)
    emit(step="retain_handling", rh0=rh0.items, rh2=rh2.items)

    # No Local
    nl = Inbox()
    await a.subscribe(BASE + "/nl", qos=1, handler=nl, no_local=True)
    await a.publish(BASE + "/nl", b"own", qos=1)
    await a.publish(BASE + "/nl-ready", b"1", qos=1)  # the peer answers on /nl
    await nl.wait(1, timeout=10)
    await asyncio.sleep(0.2)
    emit(step="no_local", payloads=[m["payload"] for m in nl.items])

    # session takeover: the broker DISCONNECTs `a` (0x8E) when its client id
    # connects again; wait_closed() names the code
    a2 = Client("optsA-" + TAG)
    await a2.connect(URL)
    err = await a.wait_closed()
    emit(step="takeover", code=getattr(err, "reason_code", None), error=str(err), connected=a.is_connected)
    await a.disconnect()  # already closed: a no-op
    await a2.disconnect()
    await b.disconnect()


main(run())
