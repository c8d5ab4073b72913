"""Router: dispatch by Subscription Identifier without re-matching (spec 3.8.2.1.2,
[MQTT-3.3.4-3]) and shared-subscription filters (spec 4.8.2), both runtimes."""

import pytest

from runtimes import ALL, run


@pytest.mark.runtimes(ALL)
def test_router_subscription_identifiers_and_shared_filters(runtime):
    rec = run(runtime, "v5_router.py").records[0]
    s = rec["sid"]
    assert s["sids"] == [1, 2, 0, 0]
    assert s["again"] == 2 and s["next"] == 3
    assert s["both"] == ["A", "B"]
    assert s["one"] == ["B"]
    assert s["no_rematch"] == ["A"]
    assert s["no_sids"] == [] and s["empty_list"] == []
    assert s["unknown"] == ["A", "B"] and s["default"] == ["A"]
    assert s["plain"] == ["C"]
    assert s["shared_id"] == ["M2"]
    assert s["after_remove"] == ["M2"]
    assert s["replaced"] == ["B2"] and s["old_id"] == []
    sh = rec["shared"]
    assert sh["refused"] == sh["bad"]
    assert sh["inner"] == ["S"] and sh["by_id"] == ["S"]
    assert sh["filters"] == ["$share/g/t/+"]
    assert rec["alloc"]["hits"] == 40    # sids 2 and 5: two routes each time
    assert rec["alloc"]["bytes"] == 0      # dispatch by id allocates nothing (MicroPython)


def test_router_and_request_units_as_mpy():
    # as a board runs them: compiled with mpy-cross
    rec = run("micropython", "v5_router.py", mpy=True).records[0]
    assert rec["sid"]["one"] == ["B"] and rec["alloc"]["bytes"] == 0
    rec = run("micropython", "v5_request_unit.py", mpy=True).records[0]
    assert rec["replies"] == ["r1", "r2"] and rec["responder"]["answered"] == 6
