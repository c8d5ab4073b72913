# The zero-loss run (argv: proxy_port tag n_qos1 n_qos2): publishes n_qos1 QoS 1
# and n_qos2 QoS 2 messages (interleaved, 8 concurrent publishers, paced) to
# res/<tag>/q1 and res/<tag>/q2 through the test's fault proxy while the test
# cuts, blackholes and kills the broker; every publish must complete.
# Prints {"progress": n} every 50 completions and state changes as they happen.
import asyncio
import sys

from client_util import emit, main
from resilience_util import ms, supervised

PORT, TAG, N1, N2 = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
TOTAL = N1 + N2
WORKERS = 8


async def run():
    c, sup = supervised(PORT, "res-" + TAG)
    sup.start()
    await sup.wait_up(10000)
    nxt = [0, 0, 0]  # next index, QoS 1 seq, QoS 2 seq
    done = [0]
    errors = []

    async def worker():
        while nxt[0] < TOTAL:
            k = nxt[0]
            nxt[0] += 1
            qos = 2 if k * N2 // TOTAL != (k + 1) * N2 // TOTAL else 1  # N2 spread evenly
            seq = nxt[qos]
            nxt[qos] += 1
            try:
                await c.publish("res/%s/q%d" % (TAG, qos), b"%d" % seq, qos=qos)
            except Exception as e:
                errors.append("%d/%d: %r" % (qos, seq, e))
            done[0] += 1
            if done[0] % 50 == 0:
                emit(progress=done[0], ms=ms())
            await asyncio.sleep_ms(40) if hasattr(asyncio, "sleep_ms") else \
                await asyncio.sleep(0.04)

    await asyncio.gather(*[worker() for _ in range(WORKERS)])
    emit(step="done", sent1=nxt[1], sent2=nxt[2], errors=errors[:10], n_errors=len(errors),
         stats=sup.stats.as_dict(), ms=ms())
    await sup.stop()


main(run())
