# The README example (kept runnable: host_tests/test_client_example.py runs it
# on both runtimes). Usage: micropython client_example.py [mqtt://host:port]
import asyncio
import sys

from mqtt5 import Client, Will

URL = sys.argv[1] if len(sys.argv) > 1 else "mqtt://localhost:1883"
BASE = "fieldnode/v1/node-42"


async def main():
    client = Client("node-42", keepalive=30,
                    will=Will(BASE + "/status", "offline", qos=1, retain=True))
    replies = asyncio.Event()

    def on_state(msg):
        # sync handler: msg.payload is a memoryview, valid during the call only
        print("state", msg.topic, bytes(msg.payload), msg.content_type, msg.user_properties)

    async def on_cmd(msg):
        # async handler: gets its own copy of the message, may await the client
        print("command", msg.topic, msg.text())
        await client.publish(msg.response_topic, b"done", qos=1,
                             correlation_data=msg.correlation_data)

    def on_reply(msg):
        print("reply", msg.text(), bytes(msg.correlation_data))
        replies.set()

    await client.connect(URL)
    await client.publish(BASE + "/status", "online", qos=1, retain=True)
    granted = await client.subscribe(BASE + "/cmd/#", qos=1, handler=on_cmd)
    await client.subscribe("fieldnode/v1/+/state/#", qos=1, handler=on_state)
    await client.subscribe(BASE + "/reply", qos=1, handler=on_reply)
    print("granted QoS", granted)

    # a schema-v1 reading (docs/payload.md): version 1, sequence 7, 21.37 as 2137e-2
    rc = await client.publish(BASE + "/state/temp", b"\x01\x00\x07\x16\x08\x59", qos=1,
                              retain=True, content_type="fieldnode/reading;v=1",
                              payload_format_indicator=0, user_properties=[("unit", "C")])
    print("state published, reason code", rc)
    await client.publish(BASE + "/cmd/blink", "3", qos=1,
                         response_topic=BASE + "/reply", correlation_data=b"req-1")
    await asyncio.wait_for(replies.wait(), 5)

    await client.publish(BASE + "/status", "offline", qos=1, retain=True)
    await client.disconnect()


asyncio.run(main())
