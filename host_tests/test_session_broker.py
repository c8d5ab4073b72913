"""The sans-IO session over a plain socket against a real Mosquitto (both runtimes):
the bytes the session writes and parses interoperate with a real broker."""

import pytest

from runtimes import HOSTED, run
from test_session_sansio import check

# Integration: also on the 32-bit builds (.mpy and frozen); qemu has no sockets.
pytestmark = pytest.mark.runtimes(HOSTED)


def test_session_against_mosquitto(runtime, broker):
    check(run(runtime, "session_broker.py", broker.port, "sess-" + runtime,
              heapsize="256K", timeout=60), runtime)


def test_session_v5_against_mosquitto(runtime, broker):
    """Resumption after a cut (DUP resend, Session Present 1; loss on a clean start),
    outbound topic aliases, send quota."""
    check(run(runtime, "session_broker_v5.py", broker.port, "sv5-" + runtime, "resume",
              heapsize="256K", timeout=60), runtime)


def test_session_max_packet_size_against_mosquitto(runtime, broker_factory):
    b = broker_factory(options=["max_packet_size 200"])
    check(run(runtime, "session_broker_v5.py", b.port, "smax-" + runtime, "maxsize",
              heapsize="256K", timeout=60), runtime)
