"""Shared fixtures: a real Mosquitto per test session, broker factories for
special configs, and the runtime parameter (CPython / MicroPython unix port)."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from broker import Broker, _LIVE  # noqa: E402
from runtimes import RUNTIMES  # noqa: E402


@pytest.fixture(params=RUNTIMES)
def runtime(request):
    """The runtime a script runs under; test ids show [cpython] / [micropython]."""
    return request.param


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """A plain Mosquitto shared by the whole session (anonymous, loopback)."""
    b = Broker(tmp_path_factory.mktemp("mosquitto"))
    b.start()
    yield b
    b.stop()


@pytest.fixture
def broker_factory(tmp_path_factory):
    """Start brokers with their own config: ``broker_factory(persistence=True,
    options=["max_inflight_messages 5"])``. All are stopped after the test."""
    made = []

    def make(**kwargs):
        b = Broker(tmp_path_factory.mktemp("mosquitto"), **kwargs)
        made.append(b)
        return b.start()

    yield make
    for b in made:
        b.kill()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # On a failing test, attach the log of every broker that is still running.
    report = yield
    if report.failed and call.when in ("setup", "call"):
        for b in list(_LIVE):
            report.sections.append(("mosquitto log (port %d)" % b.port, b.log_tail(80)))
    return report
