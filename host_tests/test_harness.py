"""The test harness itself: a real broker, both runtimes, .mpy mode."""

import os
import signal
import socket
import subprocess
import time
import sys

import pytest

from broker import Broker
from runtimes import run

HERE = os.path.dirname(os.path.abspath(__file__))


def test_raw_connect_connack(runtime, broker):
    res = run(runtime, "raw_connect.py", broker.port, "harness-" + runtime)
    rec = res.records[0]
    assert rec["packet_type"] == 2          # CONNACK
    assert rec["reason_code"] == 0          # Success
    assert rec["session_present"] == 0      # Clean Start was set
    assert "harness-" + runtime in broker.log()


@pytest.mark.parametrize("runtime", ["micropython"])
def test_mpy_mode_runs_compiled_library(runtime):
    res = run(runtime, "harness_probe.py", mpy=True)
    rec = res.records[0]
    assert rec["implementation"] == "micropython"
    assert rec["module_file"].endswith("_compat.mpy")
    assert rec["const"] == 7


def test_source_mode_runs_sources(runtime):
    rec = run(runtime, "harness_probe.py").records[0]
    assert rec["implementation"] == runtime
    assert rec["module_file"].endswith("_compat.py")


def test_failing_script_is_reported(runtime, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("raise ValueError('boom')\n")
    with pytest.raises(AssertionError, match="boom"):
        run(runtime, str(bad))


def test_persistent_broker_restarts_on_same_port_with_its_data(broker_factory):
    paho = pytest.importorskip("paho.mqtt.publish")
    b = broker_factory(persistence=True)
    port = b.port
    paho.single("harness/retained", b"kept", qos=1, retain=True,
                hostname=b.host, port=port)
    b.restart()                               # graceful: data saved
    assert b.port == port
    from paho.mqtt import subscribe
    msg = subscribe.simple("harness/retained", hostname=b.host, port=port,
                           retained=True, msg_count=1)
    assert msg.payload == b"kept"


def test_broker_dies_with_the_test_process(tmp_path):
    # A child python starts a broker, prints its pid, then is SIGKILLed:
    # the broker must go too (PR_SET_PDEATHSIG), not linger.
    code = (
        "import sys, time; sys.path.insert(0, %r)\n"
        "from broker import Broker\n"
        "b = Broker(%r).start(); print(b.proc.pid, b.port, flush=True); time.sleep(60)\n"
    ) % (HERE, str(tmp_path))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    pid, port = map(int, child.stdout.readline().split())
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    for _ in range(200):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.025)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail("mosquitto %d outlived the process that started it" % pid)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
