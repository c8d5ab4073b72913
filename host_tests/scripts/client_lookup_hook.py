# mqtt5.transport.on_lookup: called with True before the broker's name lookup (which
# blocks the loop on MicroPython) and False after it, also when the name does not
# resolve; the connect then works as without it (argv: port tag)
import mqtt5.transport as transport
from client_util import args, emit, main
from mqtt5 import Client, MQTTError

PORT, TAG = args()
calls = []


def hook(on):
    calls.append(on)


async def run():
    c = Client("lookup-" + TAG)
    await c.connect("mqtt://localhost:%d" % PORT)  # no hook: no separate lookup
    await c.disconnect()
    emit(step="none", calls=calls[:])
    transport.on_lookup = hook
    await c.connect("mqtt://localhost:%d" % PORT)
    rc = await c.publish("lookup/" + TAG, b"x", qos=1)
    await c.disconnect()
    emit(step="hooked", calls=calls[:], rc=rc)
    del calls[:]
    try:
        await Client("lookup2-" + TAG).connect("mqtt://no-such-host.invalid:%d" % PORT)
        emit(step="unresolved", calls=calls[:], error=None)
    except (OSError, MQTTError) as e:
        emit(step="unresolved", calls=calls[:], error=str(e))


main(run())
