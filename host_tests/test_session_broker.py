"""The sans-IO session over a plain socket against a real Mosquitto (both runtimes):
the bytes the session writes and parses interoperate with a real broker."""

from runtimes import run
from test_session_sansio import check


def test_session_against_mosquitto(runtime, broker):
    check(run(runtime, "session_broker.py", broker.port, "sess-" + runtime,
              heapsize="256K", timeout=60), runtime)
