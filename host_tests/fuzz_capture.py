"""Capture the server packets of a real Mosquitto session as seeds for the
session fuzzer (host_tests/scripts/session_fuzz.py): run once, writes
host_tests/fuzz_seeds.json.

    .venv/bin/python host_tests/fuzz_capture.py

A client of ours goes through the capturing fault proxy and makes Mosquitto send
CONNACK (with properties), PUBLISH QoS 0/1/2 with properties, PUBACK, PUBREC,
PUBREL, PUBCOMP, SUBACK, UNSUBACK, PINGRESP and DISCONNECT (a PUBLISH with QoS 3
sent raw).  Mosquitto sends no AUTH without an auth plugin: that seed is codec-built
and marked so.
"""

import asyncio
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(os.path.dirname(HERE), "lib")]

from broker import Broker  # noqa: E402
from fault_proxy import FaultProxy  # noqa: E402
from mqtt_split import split_mqtt  # noqa: E402
from mqtt5 import Client  # noqa: E402
import mqtt5.packets as P  # noqa: E402

OUT = os.path.join(HERE, "fuzz_seeds.json")


async def session(url):
    c = Client("fuzz-cap", keepalive=2, session_expiry=60, topic_alias_maximum=4,
               request_response_info=True, user_properties=[("k", "v")])
    await c.connect(url)
    got = []
    await c.subscribe("cap/#", qos=2, handler=lambda m: got.append(m.qos),
                      user_properties=[("sub", "1")])
    for q in (0, 1, 2):
        await c.publish("cap/x%d" % q, b"payload %d" % q, qos=q, content_type="text/plain",
                        response_topic="cap/reply", correlation_data=b"\x01\x02",
                        message_expiry_interval=300, user_properties=[("u", "%d" % q)],
                        payload_format_indicator=1)
    while len(got) < 3:
        await asyncio.sleep(0.01)
    await c.publish("nobody/here", b"", qos=1)  # PUBACK 0x10 No matching subscribers
    await c.unsubscribe("cap/#")
    await asyncio.sleep(2.6)  # keep alive 2 s: a PINGREQ/PINGRESP
    await c.disconnect()
    # a server DISCONNECT for a protocol error: PUBLISH with QoS 3 (0x81 / 0x82)
    c = Client("fuzz-cap-2")
    await c.connect(url)
    c._t.write(b"\x36\x05\x00\x01a\x00\x01")
    await c.wait_closed()


def main():
    with tempfile.TemporaryDirectory() as d:
        b = Broker(d).start()
        proxy = FaultProxy(b.host, b.port, capture=True)
        try:
            asyncio.run(session(proxy.url))
            conns = proxy.all_connections()
            down = b"".join(bytes(c.down) for c in conns)
        finally:
            proxy.close()
            b.stop()
    seeds = []
    seen = {}
    for ptype, pkt in split_mqtt(down):
        if seen.get(pkt):
            continue
        seen[pkt] = 1
        seeds.append({"type": ptype, "hex": pkt.hex(), "source": "mosquitto 2.0.11"})
    auth = bytes(P.encode(P.Auth(reason_code=0x18, props={0x15: "SCRAM-SHA-1",
                                                          0x16: b"challenge"})))
    seeds.append({"type": 15, "hex": auth.hex(), "source": "codec"})
    with open(OUT, "w") as f:
        json.dump({"seeds": seeds}, f, indent=0)
    print("%d seeds, types %s -> %s" % (len(seeds), sorted({s["type"] for s in seeds}), OUT))


if __name__ == "__main__":
    main()
