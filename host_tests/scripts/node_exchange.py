# A scripted exchange through the sans-IO session and the payload codec, with no
# sockets and no files: self-contained, so it also runs over the raw REPL of the
# Pico W image in the emulator (test_rp2_emulator.py) as well as on the host runtimes.
# The node connects, subscribes to its commands, publishes a reading encoded with
# the payload schema (QoS 1, acked), receives a QoS 1 command and acks it, and
# disconnects. One JSON record per step.
import json

import mqtt5.packets as packets
import mqtt5.properties as P
import mqtt5.session as S
import payload
from mqtt5.packets.publish import encode_ack, encode_publish
from mqtt5.wire import frame

BASE = "fieldnode/v1/emu"


def sent(s):
    """Packet types (high nibble) the session queued, marking them sent."""
    mv = s.data_to_send()
    if mv is None:
        return [], b""
    data = bytes(mv)
    s.sent(len(data), 0)
    mvd = memoryview(data)
    types, i = [], 0
    while i < len(data):
        n = frame(mvd, i, len(data), 4096)
        types.append(data[i] >> 4)
        i += n
    return types, data


def feed(s, data):
    evs = []
    while data:
        n = s.feed(data, 0)
        data = data[n:]
        ev = s.next_event()
        while ev is not None:
            rec = [ev.kind, ev.packet_id, ev.reason_code]
            if ev.kind == S.MESSAGE:
                rec += [ev.packet.topic, bytes(ev.packet.payload)]
            evs.append(rec)
            ev = s.next_event()
    return evs


def emit(step, **rec):
    rec["step"] = step
    print(json.dumps(rec))


s = S.Session("emu", keepalive=30, rx_size=1024)
s.connect(0)
emit("connect", out=sent(s)[0])
evs = feed(s, bytes(packets.encode(packets.Connack(session_present=False, reason_code=0,
                                                    props=None))))
emit("connack", events=[e[0] for e in evs], connected=evs[0][0] == S.CONNECTED)

pid = s.subscribe([(BASE + "/cmd/+", 1)])
emit("subscribe", pid=pid, out=sent(s)[0])
evs = feed(s, bytes(packets.encode(packets.Suback(packet_id=pid, reason_codes=[1],
                                                   props=None))))
emit("suback", events=[e[:3] for e in evs])

buf = bytearray(payload.MAX_SIZE)
n = payload.encode_reading(buf, 7, 2137, -2)
pid = s.publish(BASE + "/state/temperature", buf[:n], 1, True,
                {P.CONTENT_TYPE: payload.CT_READING, P.PAYLOAD_FORMAT_INDICATOR: 0})
types, wire = sent(s)
emit("publish", pid=pid, out=types, wire_bytes=len(wire),
     reading=payload.decode(buf[:n])["values"][0])
ack = bytearray(16)
evs = feed(s, bytes(ack[:encode_ack(ack, 4, pid, 0, None)]))
emit("puback", events=[e[:3] for e in evs])

cmd = bytearray(96)
m = encode_publish(cmd, BASE + "/cmd/ping", b"hi", 1, False, False, 5, None)
evs = feed(s, bytes(cmd[:m]))
emit("command", events=evs and [evs[0][0], evs[0][1], evs[0][3], evs[0][4].decode()])
emit("command_ack", out=sent(s)[0])  # the session acks a QoS 1 delivery itself

s.disconnect(0)
emit("disconnect", out=sent(s)[0], state=s.state)
try:
    payload.decode(buf[:2])
    emit("truncated", error=None)
except payload.PayloadError as e:
    emit("truncated", error=type(e).__name__)
