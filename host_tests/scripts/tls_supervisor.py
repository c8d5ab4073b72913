# The Supervisor over mutual TLS (argv: port certdir): up, the test cuts the link
# (fault proxy), the supervisor reconnects with a new TLS handshake, a QoS 1
# publish then completes.
import asyncio
import sys

from client_util import emit, main
from mqtt5 import Client, Supervisor

PORT, D, EXPIRED = int(sys.argv[1]), sys.argv[2] + "/", int(sys.argv[3])


async def run():
    c = Client("tls-sup", keepalive=5, tls={"ca": D + "ca.pem", "cert": D + "client.pem",
                                            "key": D + "client.key"})
    sup = Supervisor(c, "mqtts://127.0.0.1:%d" % PORT, base_ms=100)
    sup.start()
    await sup.wait_up(10000)
    emit(step="up")
    while sup.stats.reconnects < 1:
        await asyncio.sleep(0.02)
    await sup.wait_up(10000)
    rc = await c.publish("tls/sup", b"after the cut", qos=1)
    emit(step="back", rc=rc, reconnects=sup.stats.reconnects,
         links_lost=sup.stats.as_dict()["links_lost"])
    await sup.stop()
    # a server with an expired certificate: refused, counted as "tls", backed off
    c = Client("tls-sup-expired", tls={"ca": D + "ca.pem"})
    sup = Supervisor(c, "mqtts://127.0.0.1:%d" % EXPIRED, base_ms=100)
    sup.start()
    await asyncio.sleep(1.5)
    while sup.reason is None:  # mid-attempt (CONNECTING): the next refusal names it
        await asyncio.sleep(0.01)
    emit(step="expired", failures=sup.stats.as_dict()["failures"], state=sup.state,
         reason=str(sup.reason))
    await sup.stop()


main(run())
