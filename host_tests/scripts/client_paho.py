# To and from a paho-mqtt peer: the peer publishes QoS 0/1/2 with v5 properties
# to <base>/in once we say ready; we publish QoS 0/1/2 with properties to <base>/out.
from client_util import Inbox, args, emit, main
from mqtt5 import Client

PORT, TAG = args()
BASE = "paho/" + TAG


async def run():
    c = Client("paho-" + TAG)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    inbox = Inbox()
    await c.subscribe(BASE + "/in", qos=2, handler=inbox, subscription_identifier=7)
    await c.publish(BASE + "/ready", b"1", qos=1)
    for m in await inbox.wait(3, timeout=10):
        emit(step="received", **m)
    for q in (0, 1, 2):
        await c.publish(BASE + "/out", b"\x00\x01binary-%d" % q, qos=q,
                        content_type="application/x-fieldnode;v=1",
                        correlation_data=b"\xff\x00corr-%d" % q,
                        response_topic=BASE + "/resp",
                        user_properties=[("b", "2"), ("a", "1"), ("b", "3")],
                        payload_format_indicator=0)
    emit(step="published")
    await c.disconnect()


main(run())
