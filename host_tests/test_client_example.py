"""The README's examples run on both runtimes; the client's heap and
round-trip figures are measured under MicroPython with the library as .mpy."""

import ast
import re

import pytest

from runtimes import HOSTED, run

# Also on the 32-bit builds (.mpy and frozen): what a user copies must run there.
pytestmark = pytest.mark.runtimes(HOSTED)


def test_readme_example(runtime, broker_factory):
    broker = broker_factory()  # its own broker: the example leaves retained messages
    res = run(runtime, "client_example.py", broker.url)
    out = res.stdout
    assert "granted QoS 1" in out
    assert "state fieldnode/v1/node-42/state/temp" in out and "fieldnode/reading;v=1" in out
    # the reading it leaves retained is one the node's own tools read (schema v1)
    from fieldnode.firmware import module

    got = re.search(r"state fieldnode/v1/node-42/state/temp (b'[^']*')", out).group(1)
    assert module("payload").decode(ast.literal_eval(got))["values"] == [(2137, -2)], got
    assert "command fieldnode/v1/node-42/cmd/blink 3" in out
    assert "reply done" in out and "req-1" in out


def test_readme_supervisor_example(runtime, broker):
    out = run(runtime, "supervisor_example.py", broker.url).stdout
    assert "state 2 None" in out                  # UP
    assert "reply b'pong'" in out
    assert "'connects': 1" in out and "'queue_drops': 0" in out
    assert out.rstrip().endswith("state 3 None")   # STOPPED by sup.stop()


@pytest.mark.parametrize("runtime", ["micropython"])
def test_heap_and_round_trip_as_mpy(runtime, broker):
    rec = run(runtime, "client_mem_rtt.py", broker.port, "mpy", 100, mpy=True).records[0]
    print(rec)  # shown with -s: import/connect heap, median QoS 1 self round trip
    assert rec["mpy"] is True
    assert 0 < rec["import_bytes"] and 0 < rec["after_connect_bytes"]
    assert rec["rtt_median_us"] > 0 and rec["count"] == 100
