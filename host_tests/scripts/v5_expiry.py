# Message expiry, inbound: retained messages wait at the broker; a subscriber
# arriving later sees the remaining Message Expiry Interval, and an expired one
# is not delivered [MQTT-3.3.2-5] [MQTT-3.3.2-6].  argv: port tag
import asyncio

from client_util import Inbox, args, emit, main

from mqtt5 import Client

PORT, TAG = args()
BASE = "expiry/" + TAG


async def run():
    url = "mqtt://127.0.0.1:%d" % PORT
    p = Client("exp-pub-" + TAG)
    await p.connect(url)
    await p.publish(BASE + "/long", b"L", qos=1, retain=True, message_expiry_interval=60)
    await p.publish(BASE + "/short", b"S", qos=1, retain=True, message_expiry_interval=1)
    await p.publish(BASE + "/none", b"N", qos=1, retain=True)
    await asyncio.sleep(2.2)
    s = Client("exp-sub-" + TAG)
    await s.connect(url)
    inbox = Inbox()
    await s.subscribe(BASE + "/#", qos=1, handler=inbox)
    await asyncio.sleep(0.5)
    live = Inbox()
    await s.subscribe(BASE + "/live", qos=1, handler=live)
    await p.publish(BASE + "/live", b"V", qos=1, message_expiry_interval=30)
    await live.wait(1)
    emit(step="retained", got=sorted([m["topic"].split("/")[-1], m["message_expiry_interval"]]
                                     for m in inbox.items if m["retain"]),
         live=live.items[0]["message_expiry_interval"])
    for t in ("long", "none"):  # clear the retained messages
        await p.publish(BASE + "/" + t, b"", qos=1, retain=True)
    await p.disconnect()
    await s.disconnect()


main(run())
