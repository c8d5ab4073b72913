"""Bytes allocated by the codec hot paths, measured with gc.mem_alloc() deltas
on MicroPython (CPython reports null). Prints one record per measurement:
{"measure": name, "bytes": N}."""
import gc
import json

import mqtt5.packets as P
import mqtt5.wire as wire
from mqtt5.packets.publish import encode_publish, encode_ack

PAYLOAD = b"0123456789abcdef0123456789ABCDEF"  # 32 bytes
TOPIC = "fieldnode/v1/node-1/state/temp"
TOPIC_B = TOPIC.encode()
BUF = bytearray(256)
N_QOS1 = encode_publish(BUF, TOPIC, PAYLOAD, 1, False, False, 7, None)
RX_QOS1 = memoryview(bytearray(BUF[:N_QOS1]))
N_QOS0 = encode_publish(BUF, TOPIC, PAYLOAD, 0, False, False, None, None)
RX_QOS0 = memoryview(bytearray(BUF[:N_QOS0]))
PROPS = {0x01: 0, 0x03: "fn/reading;v=1"}
N_PROPS = encode_publish(BUF, TOPIC, PAYLOAD, 1, False, False, 7, PROPS)
RX_PROPS = memoryview(bytearray(BUF[:N_PROPS]))
ACK = memoryview(bytearray(b"\x40\x02\x00\x07"))
mem = getattr(gc, "mem_alloc", None)


def measure(name, fn):
    fn()  # warm up: first-call imports and interned names
    if mem is None:
        print(json.dumps({"measure": name, "bytes": None}))
        return
    gc.collect()
    gc.disable()
    a = mem()
    fn()
    b = mem()
    gc.enable()
    print(json.dumps({"measure": name, "bytes": b - a}))


def baseline():
    pass


measure("baseline (empty call)", baseline)
measure("frame PUBLISH header", lambda: wire.frame(RX_QOS1, 0, N_QOS1, 1024))
measure("decode PUBLISH qos0 32B payload", lambda: P.decode(RX_QOS0))
measure("decode PUBLISH qos1 32B payload", lambda: P.decode(RX_QOS1))
measure("decode PUBLISH qos1 32B payload + 2 props", lambda: P.decode(RX_PROPS))
measure("decode PUBACK", lambda: P.decode(ACK))
measure("encode_publish qos1 32B payload, bytes topic",
        lambda: encode_publish(BUF, TOPIC_B, PAYLOAD, 1, False, False, 7, None))
measure("encode_publish qos1 32B payload, str topic",
        lambda: encode_publish(BUF, TOPIC, PAYLOAD, 1, False, False, 7, None))
measure("encode_publish qos1 32B payload + 2 props, bytes topic",
        lambda: encode_publish(BUF, TOPIC_B, PAYLOAD, 1, False, False, 7, PROPS))
measure("encode_ack PUBACK", lambda: encode_ack(BUF, 4, 7))
measure("encode(Publish) into buf", lambda: P.encode(P.Publish(TOPIC, PAYLOAD, 1, packet_id=7), BUF))
