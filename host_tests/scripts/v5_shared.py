# Shared subscription: two members of one group, a publisher sends N QoS 1
# messages; each member records what it got.  argv: port tag n
import asyncio
import sys

from client_util import args, emit, main
from mqtt5 import Client, MQTTError

PORT, TAG = args()
N = int(sys.argv[3]) if len(sys.argv) > 3 else 100
TOPIC = "shared/%s/work" % TAG
GROUP = "$share/grp-%s/shared/%s/+" % (TAG, TAG)


async def run():
    url = "mqtt://127.0.0.1:%d" % PORT
    got = ([], [])
    done = asyncio.Event()
    members = []
    for k in (0, 1):
        # receive_maximum: Mosquitto 2.0.11 does not keep to a client's Receive
        # Maximum under load (test_v5_broker.test_inbound_receive_maximum_enforced)
        m = Client("shared-%s-%d" % (TAG, k), receive_maximum=N)
        await m.connect(url)

        def h(msg, box=got[k]):
            box.append(int(bytes(msg.payload)))
            if len(got[0]) + len(got[1]) >= N:
                done.set()

        members.append(m)
        emit(step="subscribed", member=k, granted=await m.subscribe(GROUP, qos=1, handler=h),
             shared_available=m.session.shared_available)
    bad = []
    for f in ("$share/grp+/x", "$share//x", "$share/g"):
        try:
            await members[0].subscribe(f)
        except (ValueError, MQTTError):
            bad.append(f)
    pub = Client("shared-%s-pub" % TAG)
    await pub.connect(url)
    for i in range(N):
        await pub.publish(TOPIC, b"%d" % i, qos=1)
    try:
        await asyncio.wait_for(done.wait(), 10)
    except asyncio.TimeoutError:
        pass
    await asyncio.sleep(0.3)  # anything doubled would arrive now
    emit(step="split", a=got[0], b=got[1], refused=bad)
    for c in members + [pub]:
        await c.disconnect()


main(run())
