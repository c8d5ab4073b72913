# The README's supervisor + request/response example (kept runnable:
# host_tests/test_client_example.py runs it on both runtimes).
# Usage: micropython supervisor_example.py [mqtt://host:port]
import asyncio
import sys

from mqtt5 import Client, Requester, Responder, Supervisor

URL = sys.argv[1] if len(sys.argv) > 1 else "mqtt://localhost:1883"


async def main():
    # session_expiry > 0: the broker keeps our session while the link is down
    client = Client("node-43", keepalive=30, session_expiry=3600, topic_alias_out=8)
    sup = Supervisor(client, [URL], on_state=lambda s, state, why: print("state", state, why))
    sup.start()                  # connects, and reconnects with backoff + jitter
    await sup.wait_up()

    # a responder (subscriptions made through the supervisor survive reconnects)
    responder = Responder(sup, "fieldnode/v1/node-43/cmd/ping", lambda msg: b"pong")
    await responder.start()

    requester = Requester(sup)
    await requester.start()
    reply = await requester.request("fieldnode/v1/node-43/cmd/ping", b"", timeout=5)
    print("reply", bytes(reply.payload))

    # QoS 1: returns once the broker has it, even across link loss and reconnects
    await client.publish("fieldnode/v1/node-43/event/boot", b"\x01\x00", qos=1)
    print("stats", sup.stats.as_dict())
    await sup.stop()


asyncio.run(main())
