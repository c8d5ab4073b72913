"""The asyncio client's close against the test Mosquitto, on both runtimes: abort()
at once (the broker publishes the Will), disconnect() right after publishes
delivers them and no Will, and disconnect() from a server that never closes."""

import time

import pytest

from paho_peer import PahoPeer
from runtimes import HOSTED, run

# Integration: also on the 32-bit builds (.mpy and frozen); qemu has no sockets.
pytestmark = pytest.mark.runtimes(HOSTED)


def test_abort_closes_at_once_and_the_broker_publishes_the_will(runtime, broker):
    """firmware/main.py reached into the client's transport (client._t) to close the
    socket after a second Ctrl-C: abort() is that close, public and whole (waiters woken,
    tasks stopped, is_connected False)."""
    res = run(runtime, "client_abort.py", broker.port, runtime)
    rec = res.record(step="in_loop")
    assert rec == {"step": "in_loop", "first": True, "second": False, "connected": False,
                   "error": "aborted", "publish": rec["publish"], "will": "offline"}
    assert rec["publish"] in ("MQTTError", "OSError"), rec
    rec = res.record(step="outside")
    assert rec["will"] == "offline" and rec["retain"] is True and rec["connected"] is False
    # MicroPython: the link outlived asyncio.run and abort() closed it
    assert (rec["opened"], rec["first"]) == ((True, True) if runtime.startswith("micropython")
                                             else (False, False)), rec


@pytest.mark.parametrize("calls", ["once", "twice"])
def test_disconnect_right_after_publishes_delivers_them_and_no_will(runtime, broker, calls):
    tag = "q" + runtime.replace("-", "") + calls
    with PahoPeer(broker, "dq-peer-" + tag) as peer:
        peer.subscribe("dq/%s/#" % tag, qos=1)
        rec = run(runtime, "client_disconnect_queued.py", broker.port, tag,
                  calls).record(step="done")
        assert rec["closed"] == "None" and set(rec["errors"]) <= {"disconnected"}, rec
        got = peer.wait_messages("dq/%s/m" % tag, rec["n"])
        assert sorted(int(m.payload) for m in got) == list(range(rec["n"]))
        time.sleep(0.5)  # a Will (delay 0) would be out by now
        assert peer.on("dq/%s/will" % tag) == []
        # the broker read a DISCONNECT, not a reset
        assert "Client dq-%s disconnected." % tag in broker.log(), broker.log()[-2000:]


def test_disconnect_from_a_server_that_never_closes_still_closes(runtime):
    from rogue_broker import RogueBroker
    rogue = RogueBroker("deaf")
    try:
        rec = run(runtime, "client_disconnect_deaf.py", rogue.port).record(step="deaf")
        time.sleep(0.3)
        conns = list(rogue.conns)
    finally:
        rogue.close()
    assert 1900 <= rec["waited_ms"] < 4000, rec  # the 2 s wait for the server's close
    assert rec["cancelled"] and rec["closed"] == "None" and rec["open"] is False, rec
    assert rec["during"] == "disconnect() under way", rec
    assert len(conns) == 3
    for c in conns:  # each got a DISCONNECT, then the client's close
        assert bytes(c.rx[:2]) == b"\xe0\x00" and c.closed_at is not None, (c.rx, c.closed_at)
