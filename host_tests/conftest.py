"""Shared fixtures: a real Mosquitto per test session, broker factories for
special configs, the runtime parameter (CPython / MicroPython unix port), and the CLI's
pty board (a unix bundle, a board, one with the firmware on it; cli_board.py)."""

import os
import shutil
import signal
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from broker import Broker, _LIVE  # noqa: E402
from fieldnode_cli import fieldnode  # noqa: E402
import runtimes  # noqa: E402
from serial_device import SerialDevice  # noqa: E402


def pytest_configure(config):
    # A suite started in the background by a shell without job control (`make test &`,
    # some CI runners) inherits SIGINT ignored, and so would every node it starts:
    # CPython then never sees the Ctrl-C the tests send (11 of them failed so)
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    config.addinivalue_line(
        "markers", "runtimes(names): the runtimes a `runtime` test runs under "
        "(default runtimes.RUNTIMES; runtimes.HOSTED adds the 32-bit builds, runtimes.ALL qemu)")


def pytest_generate_tests(metafunc):
    # A test that parametrizes `runtime` itself keeps its own list.
    if "runtime" not in metafunc.fixturenames or any(
            "runtime" in m.args[0] for m in metafunc.definition.iter_markers("parametrize")):
        return
    marker = metafunc.definition.get_closest_marker("runtimes")
    names = marker.args[0] if marker else runtimes.RUNTIMES
    metafunc.parametrize("runtime", names, indirect=True)


@pytest.fixture
def runtime(request, device_builds):
    """The runtime a script runs under; test ids name it ([cpython], [micropython],
    [micropython-m32], [micropython-m32-frozen], [micropython-qemu])."""
    if request.param in runtimes.DEVICE_BUILDS:
        device_builds(request.param)
    return request.param


def pytest_collection_modifyitems(items):
    # files, each in its own order: those holding slow tests first, then the larger
    # ones. `make test` hands whole files to its pytest-xdist workers in this order
    # (--dist loadfile --no-loadscope-reorder): the 2-minute soak runs beside the rest
    # instead of alone at the end, and small files fill the last minutes
    slow = {i.path for i in items if i.get_closest_marker("slow")}
    size = {}
    for i in items:
        size[i.path] = size.get(i.path, 0) + 1
    items.sort(key=lambda i: (i.path not in slow, -size[i.path]))


def pytest_collection_finish(session):
    """The slowest cold build, the Pico W image (picotool + ports/rp2, about 4
    minutes on 2 cores), starts in the background as soon as the selected tests
    are known, so it overlaps the tests that mostly wait on brokers and timers.
    The emulator tests then find it cached, or wait on its build lock; a build
    that fails here is built (and reported) again by them."""
    if not any(i.nodeid.startswith("host_tests/test_rp2_emulator.py") for i in session.items):
        return
    from rp2_emulator import node_missing

    if node_missing() is not None:
        return
    import threading

    sys.path.insert(0, os.path.join(runtimes.ROOT, "tools"))
    import rp2_firmware

    def build():
        try:
            rp2_firmware.firmware()
        except Exception:  # noqa: BLE001 - the emulator tests build and report it
            pass
    _BACKGROUND.append(threading.Thread(target=build, daemon=True))
    _BACKGROUND[-1].start()


_BACKGROUND = []


def pytest_sessionfinish(session):
    # a run that ended early (-x, Ctrl-C) still lets the image build finish, so no
    # orphaned make is left writing into the build folder the next run uses
    for t in _BACKGROUND:
        if t.is_alive():
            print("\nwaiting for the background Pico W image build to finish ...")
        t.join()


@pytest.fixture(scope="session")
def device_builds():
    """Builds a device-class runtime once per session, on first use (cached on disk
    across runs by tools/mpbuild.py); a failed build fails every test that needs it."""
    failed = {}

    def need(name):
        if name in failed:
            pytest.fail("%s could not be built: %s" % (name, failed[name]))
        try:
            return runtimes.device_binary(name)
        except Exception as e:  # a build error: report it on each test, build once
            failed[name] = e
            raise
    return need


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


# the CLI's pty board (the serial tests: test_cli_deploy*, test_cli_config*,
# test_cli_logs_and_ports); its helpers are in cli_board.py

@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("build") / "unix"
    r = fieldnode("build", "--board", "unix", "--out", out)
    assert r.returncode == 0, r.stderr
    return out


@pytest.fixture
def device(tmp_path):
    fs = tmp_path / "board"
    fs.mkdir()
    with SerialDevice(fs) as dev:
        dev.fs = fs
        yield dev


@pytest.fixture
def node_device(device, bundle):
    """A device with the firmware on its filesystem (copied: deploy is tested in
    test_cli_deploy.py)."""
    shutil.copytree(bundle, device.fs, dirs_exist_ok=True)
    return device


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # On a failing test, attach the log of every broker that is still running.
    # And the output of every firmware node the test started (killed by now, maybe).
    report = yield
    nodes = getattr(sys.modules.get("firmware_node"), "STARTED", [])
    if report.failed and call.when in ("setup", "call"):
        for b in list(_LIVE):
            report.sections.append(("mosquitto log (port %d)" % b.port, b.log_tail(80)))
        for n in nodes:
            report.sections.append(("node %s output (pid %d)" % (n.device, n.proc.pid),
                                    "\n".join(n.lines[-60:])))
    if call.when == "teardown":
        del nodes[:]
    return report
