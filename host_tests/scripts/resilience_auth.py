# Bad credentials (argv: port tag): CONNACK 0x86 is fatal.  Phase "stop": the
# supervisor stops after one attempt and names the code.  Phase "long": with
# fatal_backoff_ms it retries, but only every fatal_backoff_ms (no retry storm).
import asyncio

from client_util import args, emit, main
from resilience_util import ms, supervised
from mqtt5.supervisor import STOPPED, FATAL, classify

PORT, TAG = args()


async def phase(name, **kw):
    c, sup = supervised(PORT, "auth-%s-%s" % (name, TAG), quiet=True,
                        client_kw={"username": "node", "password": b"wrong"},
                        base_ms=20, cap_ms=100, **kw)
    sup.start()
    t0 = ms()
    while sup.state != STOPPED and ms() - t0 < 2000:
        await asyncio.sleep(0.05)
    rec = {"phase": name, "stopped": sup.state == STOPPED, "reason": str(sup.reason),
           "code": getattr(sup.reason, "reason_code", None),
           "attempts": sum(sup.stats.failures.values()), "ms": ms() - t0,
           "failures": sup.stats.as_dict()["failures"]}
    await sup.stop()
    emit(**rec)


async def run():
    emit(classes=[classify(x) for x in (0x84, 0x85, 0x86, 0x87, 0x8A, 0x8C)],
         fatal=FATAL)
    await phase("stop")
    await phase("long", fatal_backoff_ms=500)


main(run())
