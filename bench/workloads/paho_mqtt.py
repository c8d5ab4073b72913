# paho-mqtt 2.x (MQTT v5, its own network thread) under CPython, for comparison.
#   paho_mqtt.py full PORT PROXY_PORT N_QOS0 N_QOS1 N_WINDOW N_RTT BUDGET_MS
import threading

from _bench import (PAYLOAD16, args, awaited_loop, emit, heap, heap_start, heap_stop, median,
                    rate, sensor_payload, ticks_diff, ticks_us)

MODE, A = args()
PORT = A[0]
ID = "bench-paho-%d" % (ticks_us() & 0xFFFFFF)
heap0 = heap_start()
import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from paho.mqtt.packettypes import PacketTypes  # noqa: E402

heap_import = heap()


def client(name, port):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
    up = threading.Event()
    c.on_connect = lambda *a: up.set()
    c.connect("127.0.0.1", port, keepalive=60)
    c.loop_start()
    if not up.wait(10):
        raise RuntimeError("no CONNACK")
    return c


def main():
    proxy_port, n0, n1, nwin, nrtt, budget_ms = A[1:7]
    c = client(ID, PORT)
    emit("heap_import", heap_import - heap0)
    emit("heap_connected", heap() - heap0)
    heap_stop()
    t = "bench/paho/data"

    t0 = ticks_us()
    for _ in range(n0):
        c.publish(t, PAYLOAD16)
    c.publish(t, PAYLOAD16, qos=1).wait_for_publish(30)
    emit("qos0_rate", rate(n0 + 1, t0))

    n, r = awaited_loop(lambda: c.publish(t, PAYLOAD16, qos=1).wait_for_publish(30), n1, budget_ms)
    emit("qos1_rate", r, n=n)

    # paho queues past its max_inflight_messages (20) and keeps that many in flight
    t0 = ticks_us()
    infos = [c.publish(t, PAYLOAD16, qos=1) for _ in range(nwin)]
    for i in infos:
        i.wait_for_publish(30)
    emit("qos1_window_rate", rate(nwin, t0), window=20)

    rt = "bench/paho/%s/rtt" % ID
    ev = threading.Event()
    box = [0]

    def on_message(cl, u, m):
        box[0] = ticks_us()
        ev.set()

    c.on_message = on_message
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    c.subscribe(rt, qos=1)
    done.wait(10)
    samples = []
    for _ in range(nrtt):
        ev.clear()
        t0 = ticks_us()
        c.publish(rt, PAYLOAD16, qos=1).wait_for_publish(30)
        ev.wait(30)
        samples.append(ticks_diff(box[0], t0))
    emit("rtt_ms", median(samples) / 1000)
    c.disconnect()
    c.loop_stop()

    # repeated sensor state with a topic alias (set by hand: paho does not alias itself)
    w = client(ID + "-wire", proxy_port)
    for seq in range(3):
        props = Properties(PacketTypes.PUBLISH)
        props.TopicAlias = 1
        topic = "fieldnode/v1/bench-node/state/temp" if seq == 0 else ""
        w.publish(topic, sensor_payload(seq, 2150 + seq), qos=1, retain=True,
                  properties=props).wait_for_publish(30)
    w.disconnect()
    w.loop_stop()


main()
