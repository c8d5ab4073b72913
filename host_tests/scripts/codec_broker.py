"""Real-broker bytes: talk MQTT v5 to Mosquitto over a raw socket using only
the codec (no session/client), runtime neutral.

    codec_broker.py PORT CLIENT_ID

Prints one record per packet received from the broker: {"rx": type, "hex":
raw bytes, ...decoded fields}, then {"done": true}."""
import binascii
import json
import socket
import sys

import mqtt5.packets as P
import mqtt5.properties as pr
import mqtt5.wire as wire
from mqtt5.packets.publish import encode_ack

port = int(sys.argv[1])
cid = sys.argv[2]
topic = "codec/" + cid + "/\u00e9t\u00e9"
s = socket.socket()
s.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
rx = bytearray(4096)
have = 0


def send(pkt):
    s.send(P.encode(pkt))


def recv():
    """Read exactly one packet using frame(): need-more answers, then decode."""
    global have
    while True:
        n = wire.frame(rx, 0, have, len(rx))
        if 0 < n <= have:
            break
        chunk = s.recv(len(rx) - have)
        if not chunk:
            raise OSError("closed")
        rx[have:have + len(chunk)] = chunk
        have += len(chunk)
    raw = bytes(rx[:n])
    pkt = P.decode(memoryview(raw))
    rx[:have - n] = rx[n:have]
    have -= n
    rec = {"rx": pkt.type, "hex": binascii.hexlify(raw).decode()}
    for k in ("session_present", "reason_code", "topic", "qos", "retain", "dup", "packet_id"):
        if hasattr(pkt, k):
            rec[k] = getattr(pkt, k)
    if hasattr(pkt, "reason_codes"):
        rec["reason_codes"] = list(pkt.reason_codes)
    if hasattr(pkt, "payload"):
        rec["payload"] = binascii.hexlify(bytes(pkt.payload)).decode()
    if getattr(pkt, "props", None):
        rec["props"] = [[k, v if not isinstance(v, bytes) else binascii.hexlify(v).decode()]
                        for k, v in sorted(pkt.props.items())]
    print(json.dumps(rec))
    return pkt


send(P.Connect(cid, True, 30, props={
    pr.SESSION_EXPIRY_INTERVAL: 0, pr.RECEIVE_MAXIMUM: 20, pr.TOPIC_ALIAS_MAXIMUM: 10,
    pr.REQUEST_PROBLEM_INFORMATION: 1, pr.USER_PROPERTY: [("node", cid)]}))
recv()  # CONNACK
send(P.Subscribe(1, [(topic, 2), ("codec/" + cid + "/+/x", 1)],
                 {pr.SUBSCRIPTION_IDENTIFIER: 7}))
recv()  # SUBACK
props = {pr.PAYLOAD_FORMAT_INDICATOR: 0, pr.MESSAGE_EXPIRY_INTERVAL: 300,
         pr.CONTENT_TYPE: "fn/reading;v=1", pr.RESPONSE_TOPIC: "codec/" + cid + "/reply",
         pr.CORRELATION_DATA: b"\x00\x01\x02", pr.USER_PROPERTY: [("a", "1"), ("a", "2")]}
send(P.Publish(topic, b"\x01\x00\xffpayload", 1, False, False, 10, props))
# PUBACK for ours and the echoed PUBLISH (any order); ack the echo.
for _ in range(2):
    pkt = recv()
    if pkt.type == P.PUBLISH and pkt.qos:
        buf = bytearray(8)
        s.send(buf[:encode_ack(buf, P.PUBACK, pkt.packet_id)])
# QoS 2 both ways: PUBREC/PUBREL/PUBCOMP.
send(P.Publish(topic, b"q2", 2, True, False, 11, {pr.USER_PROPERTY: [("k", "v")]}))
done = 0
while done < 2:
    pkt = recv()
    if pkt.type == P.PUBREC:
        send(P.PubAck(P.PUBREL, pkt.packet_id))
    elif pkt.type == P.PUBLISH:
        send(P.PubAck(P.PUBREC, pkt.packet_id))
    elif pkt.type == P.PUBREL:
        send(P.PubAck(P.PUBCOMP, pkt.packet_id))
        done += 1
    elif pkt.type == P.PUBCOMP:
        done += 1
send(P.Pingreq())
recv()  # PINGRESP
send(P.Unsubscribe(2, [topic, "codec/never"]))
recv()  # UNSUBACK
# Clear the retained message, then leave.
send(P.Publish(topic, b"", 0, True))
send(P.Disconnect(0))
s.close()
print(json.dumps({"done": True}))
