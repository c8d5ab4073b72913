"""Issue 11, a frugal core: what a basic node loads, and heap budgets as regression
guards (figures measured on the 32-bit frozen runtime, recorded with a small margin)."""

import pytest

from runtimes import M32_FROZEN, run

# Loaded only on use: reason-code names (errors), the supervised drain, topic aliases,
# enhanced AUTH, the offline queue, request/response, the supervisor (reconnect,
# redirection, backoff), TLS.
OPTIONAL = ("mqtt5.reason_codes", "mqtt5.drain", "mqtt5.aliases", "mqtt5.auth",
            "mqtt5.offline", "mqtt5.request", "mqtt5.supervisor", "mqtt5.backoff",
            "mqtt5.tls", "mqtt5._compat_tls")


@pytest.mark.runtimes(("cpython", "micropython", M32_FROZEN))
def test_basic_node_loads_no_optional_module(runtime, broker):
    rec = run(runtime, "basic_node_modules.py", broker.port, runtime).record()
    mods = rec["modules"]
    assert "mqtt5.client" in mods and "mqtt5.session" in mods, mods   # it did run
    assert [m for m in mods if m in OPTIONAL] == [], mods

