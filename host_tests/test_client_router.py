"""Topic filter matching, validation and routing (lib/mqtt5/router.py), both runtimes."""

import pytest

from runtimes import ALL, run


@pytest.mark.runtimes(ALL)
def test_router_matching_validation_routing(runtime):
    rec = run(runtime, "client_router.py").records[0]
    assert rec["fails"] == []
    assert rec["routing"] == ["h1", "h2"]
    assert rec["alloc"] == 0          # matching allocates nothing (MicroPython measures)
    # a refused re-subscribe keeps the handler's route, with a handler or without one
    refused = "SUBACK 0x87 Not authorized"
    assert rec["refused_resubscribe"] == [refused, [["cmd/#"], [True]],
                                          refused, [["cmd/#"], [True]]], rec


def test_subscribes_cut_short_keep_the_routes_they_replaced_and_no_identifier_is_reused(
        runtime, broker):
    tag = runtime.replace("-", "")
    r = run(runtime, "client_sub_cancel.py", broker.port, tag, timeout=60).record(step="done")
    base = "subcancel/" + tag
    assert r["resub"] == "timed out" and r["handled"] == 1, r  # h1 or h2: not lost
    assert r["b"] == [base + "/b/1"] and r["other"] == [base + "/a/1"], r
