# Shared by the resilience_*.py scripts (both runtimes): a supervised client
# whose state changes are printed as JSON lines as they happen.
from client_util import emit
from mqtt5 import Client, Supervisor
from mqtt5.supervisor import UP, reason_key

from mqtt5._compat import ticks_ms, ticks_diff

T0 = ticks_ms()
NAMES = ("down", "connecting", "up", "stopped")


def ms():
    """Milliseconds since the script started."""
    return ticks_diff(ticks_ms(), T0)


def supervised(port, cid, keepalive=2, quiet=False, client_kw=None, **kw):
    """(client, supervisor) on 127.0.0.1:port; every state change is emitted as
    {"state": name, "reason": str, "ms": ...} unless quiet (connecting is never)."""
    ckw = {"keepalive": keepalive, "session_expiry": 600, "connect_timeout_ms": 2000}
    ckw.update(client_kw or {})
    c = Client(cid, **ckw)
    ups = [0]

    def on_state(sup, st, reason):
        if st == UP:
            ups[0] += 1
        if not quiet and st != 1:
            emit(state=NAMES[st], reason=None if reason is None else str(reason),
                 key=None if reason is None else reason_key(reason),
                 ms=ms(), ups=ups[0], present=c.session.session_present)

    kw.setdefault("base_ms", 100)
    kw.setdefault("cap_ms", 1000)
    kw.setdefault("stable_ms", 3000)
    sup = Supervisor(c, "mqtt://127.0.0.1:%d" % port, on_state=on_state, **kw)
    sup.ups = ups
    return c, sup
