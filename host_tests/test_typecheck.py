"""The board modules, board_common, firmware/ and lib/mqtt5 typecheck against each
port's own MicroPython stubs (tools/typecheck.py: mypy, pinned stubs from PyPI),
and the check really reads those stubs: a scratch copy of a board module with a
call its port does not have fails, naming the line."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import typecheck  # noqa: E402

BOARD_OF = {"esp32": "esp32", "rp2": "rp2_pico_w"}


@pytest.mark.parametrize("port", sorted(typecheck.PORTS))
def test_port_typechecks(port):
    ok, out = typecheck.check(port)
    assert ok, out


# (port, appended code, expected error text): each is a call the port does not have
WRONG = [
    ("esp32", "esp32.mcu_temperature()",  # only the S2/S3/C3/C6 chips have it
     'Module has no attribute "mcu_temperature"'),
    ("esp32", "esp32.hall_sensor()", 'Module has no attribute "hall_sensor"'),
    ("esp32", "machine.WDT(5000)", 'Too many positional arguments for "WDT"'),
    ("rp2", 'network.WLAN(network.STA_IF).connect("a", "b", channel=3)',
     'Unexpected keyword argument "channel" for "connect" of "WLAN"'),
    ("rp2", "machine.Pin('LED').toggle(1)", 'Too many arguments for "toggle" of "Pin"'),
    # the ports' stubs are kept apart: rp2's module is not in the esp32 set
    ("esp32", "import rp2; rp2.bootsel_button()",
     'Cannot find implementation or library stub for module named "rp2"'),
]


@pytest.mark.parametrize("port,code,expected", WRONG, ids=[w[1][:40] for w in WRONG])
def test_wrong_port_call_fails(tmp_path, port, code, expected):
    src = os.path.join(ROOT, "boards", BOARD_OF[port], "board.py")
    with open(src) as f:
        text = f.read()
    lines = text.count("\n")
    scratch = tmp_path / "board.py"
    scratch.write_text(text + "\n\ndef _wrong():\n    " + code.replace("; ", "\n    ") + "\n")
    ok, out = typecheck.check(port, str(scratch))
    assert not ok, "mypy accepted %r on %s:\n%s" % (code, port, out)
    assert expected in out, out
    assert "board.py:%d:" % (lines + 4 + code.count("; ")) in out or \
        "board.py:%d:" % (lines + 4) in out, out


def test_rp2_only_module_passes_on_rp2(tmp_path):
    # the same rp2 call that fails against the esp32 stubs passes against rp2's
    src = os.path.join(ROOT, "boards", "rp2_pico_w", "board.py")
    scratch = tmp_path / "board.py"
    with open(src) as f:
        scratch.write_text(f.read() + "\n\ndef _rp2():\n    import rp2\n    return rp2.bootsel_button()\n")
    ok, out = typecheck.check("rp2", str(scratch))
    assert ok, out
