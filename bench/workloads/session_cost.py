# What Fieldnode's sans-IO session costs per awaited QoS 1 message, with no socket and
# no asyncio: Session.publish(), data_to_send()/sent(), the PUBACK written into
# recv_buffer()/received() and next_event() until None, as the client's link drives it.
# bench/run.py prints it beside the bare asyncio loop (asyncio_floor.py): the rest of
# the client's cost per message is its adapter (tasks, Signals, the stream calls).
#   session_cost.py full N
from _bench import PAYLOAD16, args, emit, ticks_diff, ticks_us

from mqtt5.session import PUBLISH_DONE, Session

_, (N,) = args()
TOPIC = "bench/session/data"


def main():
    s = Session("bench-session")
    s.connect(0)
    out = s.data_to_send()
    s.sent(len(out), 0)
    s.feed(b"\x20\x03\x00\x00\x00", 0)  # CONNACK: Success, no properties
    while s.next_event() is not None:
        pass
    if not s.is_connected:
        raise RuntimeError("the session did not take the CONNACK")
    ack = bytearray(b"\x40\x03\x00\x00\x10")  # PUBACK 0x10 No matching subscribers
    done = 0
    t0 = ticks_us()
    for i in range(N):
        pid = s.publish(TOPIC, PAYLOAD16, 1)
        out = s.data_to_send()
        s.sent(len(out), i)
        ack[2] = pid >> 8
        ack[3] = pid & 0xFF
        s.recv_buffer()[:5] = ack
        s.received(5, i)
        ev = s.next_event()
        while ev is not None:
            if ev.kind == PUBLISH_DONE and ev.packet_id == pid and ev.reason_code == 0x10:
                done += 1
            ev = s.next_event()
    dt = ticks_diff(ticks_us(), t0)
    if done != N:
        raise RuntimeError("%d of %d publishes completed" % (done, N))
    emit("session_us_qos1", dt / N, n=N)


main()
