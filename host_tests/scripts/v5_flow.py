# Flow control and Maximum Packet Size against a broker with max_inflight_messages
# and max_packet_size set: N concurrent QoS 1/2 publishes (more than the server's
# Receive Maximum), then oversize publishes that must be refused locally.
# argv: port tag n
import asyncio
import sys

from client_util import args, emit, main
from mqtt5 import Client, MQTTError
from mqtt5._compat import sleep_ms

PORT, TAG = args()
N = int(sys.argv[3]) if len(sys.argv) > 3 else 40
TOPIC = "flow/" + TAG


async def run():
    c = Client("flow-" + TAG, max_inflight=16)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    s = c.session
    emit(step="connack", receive_maximum=s.receive_maximum_out,
         max_packet_size=s.server_max_packet_size,
         topic_alias_maximum=s.server_topic_alias_maximum)
    peak = [0]
    running = [True]

    async def sample():  # the session's own count of unacknowledged publishes
        while running[0]:
            n = s.inflight_count
            if n > peak[0]:
                peak[0] = n
            await sleep_ms(1)

    st = asyncio.create_task(sample())
    rcs = await asyncio.gather(*[c.publish(TOPIC, b"%03d" % i, qos=1 + i % 2)
                                 for i in range(N)])
    running[0] = False
    await st
    emit(step="window", rcs=rcs, peak=peak[0])

    limit = s.server_max_packet_size
    refused = []
    for q in (0, 1):
        try:
            await c.publish(TOPIC + "/big", b"x" * limit, qos=q)
            refused.append(None)
        except MQTTError as e:
            refused.append([getattr(e, "reason_code", None), str(e)])
    # exactly the limit still goes: type byte, 2-byte remaining length, topic
    # length + name, packet id, properties length, Topic Alias (3, if on), payload
    alias = 3 if getattr(s, "_aout", None) is not None and s._aout.limit else 0
    fit = limit - (1 + 2 + 2 + len(TOPIC + "/fit") + 2 + 1 + alias)
    rc_fit = await c.publish(TOPIC + "/fit", b"y" * fit, qos=1)
    emit(step="oversize", refused=refused, connected=c.is_connected, fit=fit, rc_fit=rc_fit,
         after=await c.publish(TOPIC, b"end", qos=1))
    await c.disconnect()


main(run())
