# A publish that waits (no free slot, a full transmit buffer, a supervised one in the
# offline queue) keeps a copy of a payload the caller may change meanwhile: a reused
# bytearray changed between publishes gathered later, and a handler forwarding its
# message's payload view (README: a handler may return client.publish(...)). The
# messages went out as the buffers read when they were sent, changed.  And a QoS 1
# publish queued by the call itself, its buffer changed at once and the link cut
# before its PUBACK: the session resent (DUP, the session resumed) what the buffer
# read then, as a caller's reused bytearray or a handler's message view does.
#   client_payload_reuse.py PORT TAG     (a record per mode: plain, sup, resend)
import asyncio

from client_util import args, emit, main
from mqtt5 import Client, Supervisor


async def wait_for_count(box, n):
    for _ in range(500):
        if len(box) >= n:
            return
        await asyncio.sleep(0.01)


async def one(port, tag, mode):
    url = "mqtt://127.0.0.1:%d" % port
    base = "reuse/%s/%s" % (tag, mode)
    sink, src = Client("rs-sink-" + tag + mode), Client("rs-src-" + tag + mode)
    await sink.connect(url)
    await src.connect(url)
    got, fwd = [], []
    await sink.subscribe(base + "/buf", qos=1, handler=lambda m: got.append(bytes(m.payload)))
    await sink.subscribe(base + "/out", qos=1, handler=lambda m: fwd.append(bytes(m.payload)))
    c = Client("rs-" + tag + mode, max_inflight=1 if mode == "plain" else 4)
    sup = None
    if mode == "sup":
        sup = Supervisor(c, url)
        sup.start()
        await sup.wait_up(5000)
    else:
        await c.connect(url)
    buf = bytearray(b"reading-0")
    aws = []
    for i in range(5):  # one buffer, changed between calls, awaited together
        buf[-1] = 0x30 + i
        aws.append(c.publish(base + "/buf", buf, qos=1))
    await asyncio.gather(*aws)
    await (sup or c).subscribe(base + "/in", qos=1,
                               handler=lambda m: c.publish(base + "/out", m.payload, qos=1))
    sent = [b"message-%03d-%s" % (i, b"x" * (5 + i % 7)) for i in range(40)]
    await asyncio.gather(*[src.publish(base + "/in", p, qos=1) for p in sent])
    await wait_for_count(got, 5)
    await wait_for_count(fwd, 40)
    emit(step=mode, buf=sorted(x.decode() for x in got), forwarded=len(fwd),
         wrong=len([x for x in fwd if x not in sent]))
    if sup is not None:
        await sup.stop()
    else:
        await c.disconnect()
    await src.disconnect()
    await sink.disconnect()


async def resend(port, tag):
    url = "mqtt://127.0.0.1:%d" % port
    topic = "reuse/%s/resend" % tag
    sink = Client("rs-sink-r-" + tag)
    await sink.connect(url)
    got = []
    await sink.subscribe(topic, qos=1, handler=lambda m: got.append(bytes(m.payload)))
    c = Client("rs-r-" + tag, session_expiry=60)
    await c.connect(url)
    buf = bytearray(b"reading-1")
    aw = c.publish(topic, buf, qos=1)  # written by the call (idle link)
    buf[-1] = 0x32  # "reading-2": the caller's buffer, reused at once
    c.abort()  # before its PUBACK is read: the slot stays for the resend
    try:
        await aw
    except Exception:
        pass
    present = await c.connect(url, clean_start=False)  # resent with DUP
    await wait_for_count(got, 2)
    await asyncio.sleep(0.2)
    emit(step="resend", present=present, got=[x.decode() for x in got])
    await c.disconnect()
    await sink.disconnect()


async def run():
    port, tag = args()
    for mode in ("plain", "sup"):
        await one(port, tag, mode)
    await resend(port, tag)


main(run())
