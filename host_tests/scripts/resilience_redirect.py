# Server redirect (argv: port tag): the server on `port` refuses with CONNACK
# 0x9C Use another server + Server Reference; the supervisor connects there
# next, without backing off, and the link works (a QoS 1 publish to itself).
from client_util import Inbox, args, emit, main
from resilience_util import supervised

PORT, TAG = args()


async def run():
    c, sup = supervised(PORT, "redir-" + TAG, quiet=True)
    inbox = Inbox()
    await sup.subscribe("redir/" + TAG, qos=1, handler=inbox)
    sup.start()
    await sup.wait_up(5000)
    rc = await c.publish("redir/" + TAG, b"there", qos=1)
    got = await inbox.wait(1)
    emit(url=sup.url, rc=rc, got=got[0]["payload"], stats=sup.stats.as_dict())
    await sup.stop()


main(run())
