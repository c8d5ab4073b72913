# micropython-lib's umqtt.simple (MQTT 3.1.1, blocking sockets) under the bench.
#   umqtt_peer.py full PORT PROXY_PORT N_QOS0 N_QOS1 N_WINDOW N_RTT BUDGET_MS
#   umqtt_peer.py fixed PORT
#   umqtt_peer.py mem PORT     (heap after import/connect/subscribe, bytes per publish)
import sys

from _bench import (N_ALLOC0, N_ALLOC1, PAYLOAD16, WARMUP, Alloc, args, awaited_loop, emit,
                    heap, heap_start, info, median, rate, sensor_payload, ticks_diff,
                    ticks_us)

MODE, A = args()
PORT = A[0]
ID = b"bench-um-%d" % (ticks_us() & 0xFFFFFF)
heap0 = heap_start()
from umqtt.simple import MQTTClient  # noqa: E402

heap_import = heap()


def fixed():
    c = MQTTClient(ID, "127.0.0.1", PORT, keepalive=60)
    c.connect()
    c.set_callback(lambda t, m: None)
    c.subscribe(b"bench/fixed/" + ID + b"/cmd", qos=1)
    t = b"bench/fixed/data"
    for _ in range(1000):
        c.publish(t, PAYLOAD16)
    for _ in range(200):
        c.publish(t, PAYLOAD16, qos=1)
    c.disconnect()
    print('{"fixed": "ok"}')


def allocs(c, t):
    """Bytes allocated per publish (GC off, mem_alloc grows), after warm-up."""
    for _ in range(WARMUP):
        c.publish(t, PAYLOAD16)
        c.publish(t, PAYLOAD16, qos=1)
    with Alloc() as al:
        for _ in range(N_ALLOC0):
            c.publish(t, PAYLOAD16)
    emit("alloc_qos0", al.per(N_ALLOC0))
    with Alloc() as al:
        for _ in range(N_ALLOC1):
            c.publish(t, PAYLOAD16, qos=1)
    emit("alloc_qos1", al.per(N_ALLOC1))


def mem():
    c = MQTTClient(ID, "127.0.0.1", PORT, keepalive=60)
    c.connect()
    emit("heap_import", heap_import - heap0)
    emit("heap_connected", heap() - heap0)
    c.set_callback(lambda t, m: None)
    c.subscribe(b"bench/um/" + ID + b"/cmd", qos=1)
    emit("heap_subscribed", heap() - heap0)
    allocs(c, b"bench/um/data")
    c.disconnect()


def full():
    proxy_port, n0, n1, nwin, nrtt, budget_ms = A[1:7]
    c = MQTTClient(ID, "127.0.0.1", PORT, keepalive=60)
    c.connect()
    emit("heap_import", heap_import - heap0)
    emit("heap_connected", heap() - heap0)
    t = b"bench/um/data"
    allocs(c, t)

    t0 = ticks_us()
    for _ in range(n0):
        c.publish(t, PAYLOAD16)
    # the closing QoS 1 goes out at once (TCP_NODELAY): behind Nagle it waited up to
    # ~30 ms for the broker's delayed ACK, a fifth of the interval measured; set from
    # here on, so the QoS 1 and round-trip figures below are umqtt.simple's own, not
    # a delayed ACK's (umqtt.simple writes a publish in 3-4 small writes and leaves
    # Nagle on: a user who does not set it waits ~40 ms for each awaited PUBACK)
    c.sock.setsockopt(6, 1, 1)  # IPPROTO_TCP, TCP_NODELAY (Linux numbers)
    c.publish(t, PAYLOAD16, qos=1)
    emit("qos0_rate", rate(n0 + 1, t0))

    n, r = awaited_loop(lambda: c.publish(t, PAYLOAD16, qos=1), n1, budget_ms)
    emit("qos1_rate", r, n=n)
    info(unsupported=["qos1_window_rate"])

    rt = b"bench/um/" + ID + b"/rtt"
    box = [0]

    def cb(topic, msg):
        box[0] = ticks_us()

    c.set_callback(cb)
    c.subscribe(rt, qos=1)
    samples = []
    for _ in range(nrtt):
        box[0] = 0
        t0 = ticks_us()
        c.publish(rt, PAYLOAD16, qos=1)
        while not box[0]:
            c.wait_msg()
        samples.append(ticks_diff(box[0], t0))
    emit("rtt_ms", median(samples) / 1000)
    c.disconnect()

    w = MQTTClient(ID + b"-wire", "127.0.0.1", proxy_port, keepalive=60)
    w.connect()
    for seq in range(3):
        w.publish(b"fieldnode/v1/bench-node/state/temp", sensor_payload(seq, 2150 + seq),
                  retain=True, qos=1)
    w.disconnect()
    info(modules=sorted(k for k in sys.modules if k.startswith("umqtt")))


{"fixed": fixed, "mem": mem}.get(MODE, full)()
