# A fleet (argv: port tag n base_ms): n supervised clients on one broker; the
# test restarts the broker; each client's reconnect time (ms after its link went
# down) is reported.  Full jitter must spread them over the backoff window.
import asyncio
import sys

from client_util import emit, main
from resilience_util import ms, supervised
from mqtt5.supervisor import UP, DOWN

PORT, TAG, N, BASE_MS = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


async def run():
    down = [None] * N
    back = [None] * N
    sups = []
    for i in range(N):
        c, sup = supervised(PORT, "fleet-%s-%d" % (TAG, i), keepalive=10, quiet=True,
                            client_kw={"rx_size": 512, "tx_size": 512, "max_inflight": 4},
                            base_ms=BASE_MS, cap_ms=4 * BASE_MS)

        def on_state(s, st, reason, i=i):
            if st == DOWN and down[i] is None:
                down[i] = ms()
            elif st == UP and down[i] is not None and back[i] is None:
                back[i] = ms()

        sup.on_state = on_state
        sup.start()
        sups.append(sup)
    for sup in sups:
        await sup.wait_up(10000)
    emit(step="ready", ms=ms())
    t0 = ms()
    while any(b is None for b in back) and ms() - t0 < 30000:
        await asyncio.sleep(0.1)
    emit(step="done", down=down, back=back,
         attempts=[s.stats.as_dict()["failures"] for s in sups])
    for sup in sups:
        await sup.stop()


main(run())
