# connect() refused by the broker (CONNACK >= 0x80) and to a closed port.
from client_util import args, emit, main
from mqtt5 import Client, MQTTError

PORT, TAG = args()


async def run():
    c = Client("refused-" + TAG, username="nobody", password=b"wrong")
    try:
        await c.connect("mqtt://127.0.0.1:%d" % PORT)
        emit(step="refused", error=None)
    except MQTTError as e:
        emit(step="refused", error=str(e), connected=c.is_connected)
    closed = int(TAG) if TAG.isdigit() else 1
    try:
        await c.connect("mqtt://127.0.0.1:%d" % closed)
        emit(step="closed_port", error=None)
    except OSError as e:
        emit(step="closed_port", error="OSError")


main(run())
