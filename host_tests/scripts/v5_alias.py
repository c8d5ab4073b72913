# Outbound topic aliases on the wire: the same topic published repeatedly, a few
# topics cycling through a small alias table (LRU), a reconnect (aliases reset),
# and, with the client hook, the per-publish opt-out.  The wire bytes are measured
# by the test's capturing proxy; a paho subscriber checks every topic arrived.
# argv: port tag device_id optout(0/1)
import sys

from client_util import args, emit, main
from mqtt5 import Client

PORT, TAG = args()
DEV = sys.argv[3]
OPTOUT = len(sys.argv) > 4 and sys.argv[4] == "1"
TEMP = "fieldnode/v1/%s/state/temperature" % DEV
READING = b"\x01\x00\x07\x00\x00\x00\xd2\x04"  # 8 bytes: schema, seq, value


async def run():
    c = Client(DEV, topic_alias_out=8)  # needs the client hook
    url = "mqtt://127.0.0.1:%d" % PORT
    await c.connect(url)
    emit(step="connack", topic_alias_maximum=c.session.server_topic_alias_maximum,
         topic=TEMP)
    await c.publish(TEMP, READING)  # QoS 0: first, with the topic name
    await c.publish(TEMP, READING)  # repeated: alias only
    await c.publish(TEMP, READING, qos=1)
    for t in ("a", "b", "a", "c", "b", "a"):  # 3 topics, server maximum 2: LRU
        await c.publish("alias/%s/%s" % (TAG, t), t, qos=1)
    if OPTOUT:
        await c.publish(TEMP, READING, topic_alias=False)
        await c.publish(TEMP, READING, qos=1, topic_alias=False)
    await c.disconnect()
    await c.connect(url)  # new connection: no alias carries over [MQTT-3.3.2-7]
    await c.publish(TEMP, READING)
    await c.publish(TEMP, READING, qos=1)
    emit(step="done", optout=OPTOUT)
    await c.disconnect()


main(run())
