# A topic or user property holding a control character or Unicode non-character: a
# sender should not send one (spec 1.5.4), and Mosquitto closes the link of a client
# that does. Supervised, such a QoS 1 message was sent again at every reconnect, so
# the link never stayed up. Now each call fails with a ValueError and nothing goes
# out: the link stays up and the next message goes.
import asyncio

from client_util import args, emit, main
from mqtt5 import Client, Supervisor

PORT, TAG = args()


async def run():
    c = Client("refused-text-" + TAG)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    for what, kw in (("topic", {"topic": "t/\x01"}),
                     ("topic_c1", {"topic": "t/\x85"}),
                     ("user_property", {"topic": "t/ok", "user_properties": [("k", "\x7f")]})):
        try:
            await c.publish(kw.pop("topic"), b"x", qos=1, **kw)
            emit(step="plain", what=what, error=None)
        except ValueError as e:
            emit(step="plain", what=what, error=str(e))
    emit(step="plain_after", connected=c.is_connected, rc=await c.publish("t/ok", b"1", qos=1))
    await c.disconnect()

    s = Client("refused-text-s-" + TAG, session_expiry=60)
    states = []
    sup = Supervisor(s, ["mqtt://127.0.0.1:%d" % PORT],
                     on_state=lambda _s, state, why: states.append(state))
    sup.start()
    await sup.wait_up()
    try:
        await s.publish("t/\uffff", b"x", qos=1)
        emit(step="supervised", error=None)
    except ValueError as e:
        emit(step="supervised", error=str(e))
    rc = await s.publish("t/ok", b"2", qos=1)
    await asyncio.sleep(0.5)  # (a link the broker closed would show here)
    emit(step="supervised_after", rc=rc, states=states, reconnects=sup.stats.reconnects)
    await sup.stop()


main(run())
