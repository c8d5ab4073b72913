# Our client to itself: connect, subscribe, QoS 0/1/2 round trips with v5
# properties, sync and async handlers (an async handler publishes QoS 1 from
# inside the handler), batched concurrent publishes, unsubscribe, disconnect.
import asyncio

from client_util import Inbox, args, emit, main
from mqtt5 import Client

PORT, TAG = args()
BASE = "basic/" + TAG


async def run():
    c = Client("basic-" + TAG, keepalive=30)
    present = await c.connect("mqtt://127.0.0.1:%d" % PORT)
    emit(step="connected", session_present=present, nodelay=c._t.nodelay,
         up=c.is_connected, session=c.session is c._s, unknown=hasattr(c, "no_such_name"),
         properties=[k for k, v in Client.__dict__.items() if type(v) is property])

    inbox = Inbox()
    granted = await c.subscribe(BASE + "/q/#", qos=2, handler=inbox)
    emit(step="subscribed", granted=granted)
    codes = await c.subscribe([BASE + "/a", BASE + "/b"], qos=1, handler=inbox)
    emit(step="subscribed_list", granted=codes)

    rcs = []
    for q in (0, 1, 2):
        rcs.append(await c.publish(BASE + "/q/%d" % q, b"payload-%d" % q, qos=q,
                                   content_type="text/plain", correlation_data=b"corr-%d" % q,
                                   response_topic=BASE + "/reply",
                                   user_properties=[("k1", "v1"), ("k2", "v2"), ("k1", "v3")],
                                   message_expiry_interval=60, payload_format_indicator=1))
    emit(step="published", rcs=rcs)
    for m in await inbox.wait(3):
        emit(step="received", **m)

    # nobody subscribed: 0x10 No matching subscribers is success
    emit(step="no_subscribers", rc=await c.publish(BASE + "/nobody", b"x", qos=1))

    # reserve(): the transmit buffer grows now (to the packet and the 32 bytes a
    # publish leaves for acks) and a publish that size later goes out through it; a
    # PUBLISH over tx_size (2048) less those 32 bytes cannot be reserved
    buf = c.session._tx[0]  # (the buffer itself: txbuf.py's list)
    ok = c.reserve(600)
    grown = c.session._tx[0]
    rc = await c.publish(BASE + "/big", b"r" * 560, qos=1)
    kept = c.session._tx[0] is grown
    over = c.reserve(2017)
    emit(step="reserve", ok=ok, before=len(buf), after=len(grown), rc=rc, kept=kept,
         over=over, most=c.reserve(2016), size=len(c.session._tx[0]))

    # an async handler may publish at QoS 1 from inside the handler
    replies = Inbox()
    await c.subscribe(BASE + "/reply", qos=1, handler=replies)

    async def echo(m):
        await c.publish(BASE + "/reply", b"echo:" + m.payload, qos=1)

    await c.subscribe(BASE + "/req", qos=1, handler=echo)
    await c.publish(BASE + "/req", b"ping", qos=1)
    got = await replies.wait(1)
    emit(step="async_handler", payload=got[0]["payload"])

    # concurrent publishes from one loop turn
    many = Inbox()
    await c.subscribe(BASE + "/many", qos=1, handler=many)
    rcs = await asyncio.gather(*[c.publish(BASE + "/many", b"%d" % i, qos=i % 3)
                                 for i in range(20)])
    got = await many.wait(20)
    emit(step="gather", rcs=rcs, payloads=sorted(int(m["payload"]) for m in got))

    # unsubscribe: no more deliveries, handler removed
    rc = await c.unsubscribe(BASE + "/many")
    await c.publish(BASE + "/many", b"late", qos=1)
    await c.publish(BASE + "/q/fence", b"fence", qos=1)  # still subscribed: ordering fence
    await inbox.wait(4)
    emit(step="unsubscribed", rc=rc, after=len(many.items))

    # invalid topics are refused locally
    bad = []
    for t in ("a/+", "", "a/#"):
        try:
            await c.publish(t, b"x")
        except ValueError:
            bad.append(t)
    emit(step="validation", refused=bad)

    await c.disconnect()
    emit(step="disconnected", connected=c.is_connected, error=c.error)

    # the same Client connects again; a failing handler is reported, not fatal
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    again = Inbox()

    def bad(m):
        raise ValueError("handler boom")

    await c.subscribe(BASE + "/again", qos=1, handler=bad)
    await c.subscribe(BASE + "/again/#", qos=1, handler=again)
    await c.publish(BASE + "/again", b"one", qos=1)
    got = await again.wait(1)
    emit(step="reconnected", payload=got[0]["payload"], connected=c.is_connected)
    await c.disconnect()


main(run())
