# Publishing where the broker's ACL denies it: QoS 1/2 publish() raises an
# MQTTError naming the PUBACK/PUBREC reason code (0x87 Not authorized);
# 0x10 No matching subscribers is success.
from client_util import args, emit, main
from mqtt5 import Client, MQTTError

PORT, TAG = args()


async def run():
    c = Client("denied-" + TAG)
    await c.connect("mqtt://127.0.0.1:%d" % PORT)
    emit(step="allowed", rc=await c.publish("allowed/x", b"1", qos=1))
    for q in (1, 2):
        try:
            await c.publish("denied/x", b"1", qos=q)
            emit(step="denied", qos=q, error=None)
        except MQTTError as e:
            emit(step="denied", qos=q, error=str(e), code=getattr(e, "reason_code", None))
    emit(step="still_connected", connected=c.is_connected,
         rc=await c.publish("allowed/y", b"2", qos=2))
    await c.disconnect()


main(run())
