"""Topic filter matching, validation and routing (lib/mqtt5/router.py), both runtimes."""

import pytest

from runtimes import ALL, run


@pytest.mark.runtimes(ALL)
def test_router_matching_validation_routing(runtime):
    rec = run(runtime, "client_router.py").records[0]
    assert rec["fails"] == []
    assert rec["routing"] == ["h1", "h2"]
    assert rec["alloc"] == 0          # matching allocates nothing (MicroPython measures)
