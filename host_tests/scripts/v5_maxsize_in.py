# Our Maximum Packet Size (200), announced in CONNECT [MQTT-3.1.2-24] as 199:
# Mosquitto 2.0.11 sizes a packet as if its length field were 1 byte, so a 201-byte
# PUBLISH would come for an announced 200 (and end the link: 0x95).  argv: port tag
import asyncio

from client_util import args, emit, main
from mqtt5 import Client

PORT, TAG = args()
T = "maxin/" + TAG
LIMIT = 200


def payload_for(total, props):
    # QoS 1 PUBLISH: type byte, 2-byte Remaining Length, topic, id, properties
    return total - (1 + 2 + 2 + len(T) + 2 + 1 + props)


async def run():
    c = Client("maxin-" + TAG, max_packet_size=LIMIT, rx_size=1024)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    got = []
    await c.subscribe(T, 1, handler=lambda m: got.append(len(m.payload)))
    p = Client("maxin-pub-" + TAG)
    await p.connect("mqtt://127.0.0.1:%d" % PORT)
    # a Subscription Identifier (with the client hook) comes back as 2 bytes
    props = 2 if c._router.sid(T) else 0
    sizes = [10, 500, payload_for(LIMIT, props), payload_for(LIMIT + 1, props)]
    for n in sizes:
        await p.publish(T, b"z" * n, qos=1)
    for _ in range(40):
        if not c.is_connected:
            break
        await asyncio.sleep(0.05)
    emit(step="maxin", sizes=sizes, got=got, connected=c.is_connected,
         reason_code=getattr(c.error, "reason_code", None))
    await p.disconnect()
    await c.disconnect()


main(run())
