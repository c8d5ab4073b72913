"""The fake `machine`, `network` and `esp32` modules (host_tests/fakes/) stay
faithful to the ports: every public name a fake has exists in the port stubs
(pinned by tools/typecheck.py), and every call form a stub declares (each
overload, every parameter passed the way the stub allows) binds to the fake."""

import ast
import importlib.util
import inspect
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKES = os.path.join(ROOT, "host_tests", "fakes")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import typecheck  # noqa: E402

# test controls of the fakes, not port API
FAKE_ONLY = {"use_port", "AIR", "ticks_ms", "ticks_diff", "ticks_add", "RAW_TEMPERATURE"}
CASES = [("rp2", "machine"), ("rp2", "network"), ("esp32", "machine"), ("esp32", "network"),
         ("esp32", "esp32")]


def load_fake(name, port):
    spec = importlib.util.spec_from_file_location("fake_%s_%s" % (name, port),
                                                  os.path.join(FAKES, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if name == "network":
        mod.use_port(port)
    return mod


def stub_scope(port, module):
    """name -> list of FunctionDef (overloads), ClassDef, or None (a constant)."""
    with open(os.path.join(typecheck.stubs(port), module + ".pyi")) as f:
        tree = ast.parse(f.read())
    return scope(tree.body)


def scope(body):
    names = {}
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.setdefault(node.name, []).append(node)
        elif isinstance(node, ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = None
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    names[t.id] = None
    return names


def call_forms(fn, method):
    """(args, kwargs) for every parameter of a stub signature, passed as it must be."""
    a = fn.args
    pos = [p.arg for p in a.posonlyargs + a.args]
    if method:
        pos = pos[1:]
    return [0] * len(pos), {p.arg: 0 for p in a.kwonlyargs}


def check_callable(fake, overloads, method, where):
    sig = inspect.signature(fake)
    for fn in overloads:
        args, kwargs = call_forms(fn, method)
        try:
            sig.bind(*([None] if method else []) + args, **kwargs)  # None: self
        except TypeError as e:
            raise AssertionError("%s: the fake %s does not take the stub's call %s(%s): %s" % (
                where, sig, fn.name, ", ".join([repr(x) for x in args] +
                                               ["%s=0" % k for k in kwargs]), e))


def public(obj):
    return sorted(n for n in vars(obj) if not n.startswith(("_", "fake_")) and n not in FAKE_ONLY)


@pytest.mark.parametrize("port,module", CASES, ids=["%s-%s" % c for c in CASES])
def test_fake_mirrors_stub(port, module):
    fake = load_fake(module, port)
    stub = stub_scope(port, module)
    checked = 0
    for name in public(fake):
        value = getattr(fake, name)
        if inspect.ismodule(value) or name in ("annotations",):
            continue
        assert name in stub, "%s.%s is not in the %s stubs" % (module, name, port)
        entry = stub[name]
        if inspect.isclass(value):
            assert isinstance(entry, ast.ClassDef), "%s.%s is not a class in the stubs" % (
                module, name)
            members = scope(entry.body)
            for attr in public(value):
                assert attr in members, "%s.%s.%s is not in the %s stubs" % (
                    module, name, attr, port)
                if callable(getattr(value, attr)) and isinstance(members[attr], list):
                    check_callable(getattr(value, attr), members[attr], True,
                                   "%s.%s.%s" % (module, name, attr))
                    checked += 1
            if "__init__" in vars(value) and "__init__" in members:
                check_callable(value.__init__, members["__init__"], True,
                               "%s.%s()" % (module, name))
                checked += 1
        elif callable(value):
            assert isinstance(entry, list), "%s.%s is not a function in the stubs" % (
                module, name)
            check_callable(value, entry, False, "%s.%s" % (module, name))
            checked += 1
    assert checked >= 1


def test_esp32_wlan_follows_network_wlan_c():
    """The esp32 fake's status() as MicroPython v1.28's ports/esp32/network_wlan.c
    computes it from the last ESP-IDF disconnect reason, which connect() and
    disconnect() do not touch; the driver joins again by itself while a connect is
    requested."""
    net = load_fake("network", "esp32")
    now = [0]
    net.ticks_ms = lambda: now[0]
    air = net.AIR
    air.aps = {"home": ("secret", -61)}
    air.join_ms = 100
    w = net.WLAN(net.STA_IF)
    w.active(True)

    def at(ms):
        now[0] = ms
        return w.status()

    assert at(0) == net.STAT_IDLE                     # reason 0, nothing requested
    w.connect("home", "wrong")
    assert at(50) == net.STAT_CONNECTING
    assert at(100) == net.STAT_CONNECTING             # 15: 4-way handshake timeout
    assert at(200) == net.STAT_WRONG_PASSWORD         # 205: the AP blacklisted
    with pytest.raises(OSError):                      # the driver is joining again
        w.connect("home", "secret")
    w.disconnect()
    assert at(210) == net.STAT_IDLE                   # 8: ASSOC_LEAVE
    w.connect("elsewhere", "secret")
    assert at(220) == net.STAT_IDLE                   # still 8: connect() leaves it
    assert at(320) == net.STAT_NO_AP_FOUND            # 201, raw
    assert at(700) == net.STAT_NO_AP_FOUND            # and again, joined by itself
    w.disconnect()
    w.disconnect()                                    # nothing requested: no event
    assert at(710) == net.STAT_IDLE
    air.fail_joins = 1
    w.connect("home", "secret")
    assert at(810) == net.STAT_CONNECTING             # 203 while requested
    assert at(910) == net.STAT_GOT_IP and w.isconnected() and w.status("rssi") == -61
    del air.aps["home"]                               # beacon timeout: rejoins by itself
    assert at(920) == net.STAT_CONNECTING and not w.isconnected()
    assert at(1020) == net.STAT_NO_AP_FOUND
    air.aps["home"] = ("secret", -70)
    assert at(1120) == net.STAT_GOT_IP                # without a connect()
    w.disconnect()
    assert at(1130) == net.STAT_IDLE and not w.isconnected()
