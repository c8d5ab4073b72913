"""fieldnode deploy, config and logs against the MicroPython unix port on a pty (socat),
through the real mpremote: the "board's" filesystem is the micropython process's cwd."""

import filecmp
import json
import os
import re
import shutil
import time

import pytest
import serial

from fieldnode_cli import fieldnode
from serial_device import SerialDevice

CONFIG_DIR = os.path.join(".cache", "fieldnode-home", "unix-node")   # board.config_dir() default


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


def bundle_files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.name != "package.json")


def deploy(device, build_dir):
    return fieldnode("deploy", "--board", "unix", "--port", device.port, "--build-dir", build_dir,
                     "--no-reset")


def test_mpremote_mip_installs_the_bundle_from_its_package_json(device, bundle):
    """The README's `mpremote mip install build/<board>/package.json`: the real mpremote
    copies every module the package.json names (relative URLs) onto the board."""
    import subprocess

    from runtimes import tool

    # `resume`: no soft reset first (the unix port exits on one); --target: the pty
    # board's lib/ (the unix port's own default is ~/.micropython/lib)
    r = subprocess.run([tool("mpremote"), "connect", device.port, "resume", "mip", "install",
                        "--target", "lib", str(bundle / "package.json")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    mpys = [f for f in bundle_files(bundle) if f.endswith(".mpy")]
    assert mpys and sorted(str(p.relative_to(device.fs)) for p in device.fs.rglob("*.mpy")) == mpys
    for f in mpys:
        assert filecmp.cmp(bundle / f, device.fs / f, shallow=False), f


def counts(out):
    m = re.search(r"deploy: (\d+) files, (\d+) changed, (\d+) unchanged", out)
    return tuple(int(x) for x in m.groups())


def test_deploy_copies_only_what_changed(device, bundle, tmp_path):
    files = bundle_files(bundle)
    r = deploy(device, bundle)
    assert r.returncode == 0, r.stderr
    assert counts(r.stdout) == (len(files), len(files), 0)
    assert bundle_files(device.fs) == files
    for f in files:
        assert filecmp.cmp(bundle / f, device.fs / f, shallow=False), f
    assert "[%d/%d] lib/" % (len(files), len(files)) in r.stderr     # progress per file
    assert not list(device.fs.rglob("*.tmp"))

    r = deploy(device, bundle)
    assert r.returncode == 0 and counts(r.stdout) == (len(files), 0, len(files))

    changed = tmp_path / "changed"
    shutil.copytree(bundle, changed)
    (changed / "main.py").write_text("import fieldnode_main  # v2\n")
    (device.fs / "lib" / "payload.mpy").write_bytes(b"damaged")      # the device's copy differs
    r = deploy(device, changed)
    assert r.returncode == 0 and counts(r.stdout) == (len(files), 2, len(files) - 2)
    assert (device.fs / "main.py").read_text() == "import fieldnode_main  # v2\n"
    assert filecmp.cmp(bundle / "lib/payload.mpy", device.fs / "lib/payload.mpy", shallow=False)
    assert device.alive()


def test_deploy_refuses_a_bundle_for_another_board(device, tmp_path):
    out = tmp_path / "esp32"
    assert fieldnode("build", "--board", "esp32", "--out", out).returncode == 0
    r = fieldnode("deploy", "--board", "esp32", "--port", device.port, "--build-dir", out)
    assert r.returncode == 1
    assert r.stderr == ("fieldnode deploy: the device is x64, the bundle is for esp32 "
                        "(xtensawin): wrong --board?\n")
    assert sorted(os.listdir(device.fs)) == ["tty"]          # nothing written


def test_deploy_soft_reset_restarts_the_unix_port(device, bundle):
    # on a board Ctrl-D soft-resets and runs main.py; the unix port's REPL exits on it
    r = fieldnode("deploy", "--board", "unix", "--port", device.port, "--build-dir", bundle)
    assert r.returncode == 0, r.stderr
    assert "deploy: soft reset" in r.stdout
    device.proc.wait(timeout=10)


def test_serial_port_errors(device, bundle, tmp_path):
    r = deploy(device, tmp_path / "nowhere")
    assert r.returncode == 1 and "no build in" in r.stderr
    missing = tmp_path / "ttyUSB7"
    r = fieldnode("deploy", "--board", "unix", "--port", missing, "--build-dir", bundle)
    assert r.returncode == 1
    assert r.stderr == "fieldnode deploy: serial port %s not found (is the board plugged in?)\n" % missing
    holder = serial.Serial(device.port, exclusive=True)
    try:
        for argv in (["deploy", "--board", "unix", "--build-dir", bundle], ["config", "show"],
                     ["logs", "--duration", "1"]):
            r = fieldnode(*argv, "--port", device.port)
            assert r.returncode == 1, argv
            assert "serial port %s is busy" % device.port in r.stderr, r.stderr
            assert len(r.stderr.strip().splitlines()) == 1
    finally:
        holder.close()


def test_no_repl_answering(tmp_path):
    master, slave = os.openpty()            # a port where nothing answers
    try:
        port = os.ttyname(slave)
        t0 = time.monotonic()
        r = fieldnode("config", "show", "--port", port, timeout=60)
        assert r.returncode == 1 and time.monotonic() - t0 < 30
        assert r.stderr == ("fieldnode config: no MicroPython REPL answering on %s (wrong port, "
                            "or the running program ignores Ctrl-C?)\n" % port)
    finally:
        os.close(master)
        os.close(slave)


@pytest.fixture
def node_device(device, bundle):
    """A device with the firmware on its filesystem (copied: deploy is tested above)."""
    shutil.copytree(bundle, device.fs, dirs_exist_ok=True)
    return device


def config_file(device, name="config.json"):
    return device.fs / CONFIG_DIR / name


def test_config_needs_the_firmware(device):
    r = fieldnode("config", "show", "--port", device.port)
    assert r.returncode == 1
    assert "no Fieldnode firmware on the device" in r.stderr and "deploy" in r.stderr


def test_config_set_get_show_and_secrets(node_device):
    dev = node_device
    r = fieldnode("config", "show", "--port", dev.port)
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["keepalive"] == 30 and "(from defaults)" in r.stderr
    assert not config_file(dev).exists()

    r = fieldnode("config", "set", "keepalive=60", "wifi_password=hunter2", "wifi_ssid=home",
                  "sensors.temperature.interval_ms=5000", "--port", dev.port)
    assert r.returncode == 0, r.stderr
    assert "changed: keepalive, sensors, wifi_password, wifi_ssid" in r.stdout
    saved = json.loads(config_file(dev).read_text())
    assert saved["keepalive"] == 60 and saved["wifi_password"] == "hunter2"
    assert saved["sensors"]["temperature"]["interval_ms"] == 5000
    assert not list(dev.fs.rglob("*.tmp"))

    r = fieldnode("config", "show", "--port", dev.port)
    assert r.returncode == 0 and "hunter2" not in r.stdout
    assert json.loads(r.stdout)["wifi_password"] == "***" and "(from file)" in r.stderr
    r = fieldnode("config", "get", "wifi_password", "keepalive", "--port", dev.port)
    assert r.stdout.split() == ["***", "60"]
    r = fieldnode("config", "get", "wifi_password", "--show-secrets", "--port", dev.port)
    assert r.stdout.split() == ["hunter2"]
    r = fieldnode("config", "show", "--show-secrets", "--port", dev.port)
    assert json.loads(r.stdout)["wifi_password"] == "hunter2"
    r = fieldnode("config", "get", "nope", "--port", dev.port)
    assert r.returncode == 1 and "no config key 'nope'" in r.stderr
    # --reset: Ctrl-D after the write (the unix port's REPL exits on it; a board reboots)
    r = fieldnode("config", "set", "keepalive=75", "--reset", "--port", dev.port)
    assert r.returncode == 0 and "soft reset" in r.stderr
    assert json.loads(config_file(dev).read_text())["keepalive"] == 75
    dev.proc.wait(timeout=10)


@pytest.mark.parametrize("item, message", [
    ("keepalive=1", "keepalive: 1 is out of range 5..3600"),
    ("keepalive=soon", "keepalive: expected an integer, got 'soon'"),
    ("colour=blue", "unknown key 'colour'"),
    ("sensors.pressure.interval_ms=1000",
     "sensors: unknown sensor 'pressure' (this board has: humidity, temperature)"),
    ("brokers=[\"http://x\"]", "brokers: 'http://x' is not an mqtt:// or mqtts:// URL"),
])
def test_config_refuses_a_bad_value_and_leaves_the_file_alone(node_device, item, message):
    dev = node_device
    assert fieldnode("config", "set", "keepalive=45", "--port", dev.port).returncode == 0
    before = config_file(dev).read_bytes()
    r = fieldnode("config", "set", "wifi_ssid=other", item, "--port", dev.port)
    assert r.returncode == 1
    assert r.stderr == "fieldnode config: refused, nothing written: %s\n" % message
    assert config_file(dev).read_bytes() == before
    assert not config_file(dev, "config.last_good.json").exists()


def test_config_export_and_import(node_device, tmp_path):
    dev = node_device
    assert fieldnode("config", "set", "password=s3cret", "keepalive=90",
                     "--port", dev.port).returncode == 0
    exported = tmp_path / "saved.json"
    r = fieldnode("config", "export", exported, "--port", dev.port)
    assert r.returncode == 0 and "secrets masked" in r.stdout
    saved = json.loads(exported.read_text())
    assert saved["password"] == "***" and saved["keepalive"] == 90

    saved["keepalive"] = 120
    exported.write_text(json.dumps(saved))
    r = fieldnode("config", "import", exported, "--port", dev.port)
    assert r.returncode == 0, r.stderr
    on_device = json.loads(config_file(dev).read_text())
    assert on_device["keepalive"] == 120 and on_device["password"] == "s3cret"  # *** kept it
    # the replaced file is kept as the last good copy
    assert json.loads(config_file(dev, "config.last_good.json").read_text())["keepalive"] == 90

    bad = tmp_path / "bad.json"
    bad.write_text('{"keepalive": -5}')
    before = config_file(dev).read_bytes()
    r = fieldnode("config", "import", bad, "--port", dev.port)
    assert r.returncode == 1 and "keepalive: -5 is out of range" in r.stderr
    assert config_file(dev).read_bytes() == before
    bad.write_text("{not json")
    r = fieldnode("config", "import", bad, "--port", dev.port)
    assert r.returncode == 1 and "cannot read" in r.stderr


def test_logs_streams_the_running_node(tmp_path, bundle, broker):
    fs = tmp_path / "board"
    shutil.copytree(bundle, fs)
    (fs / "conf").mkdir()
    (fs / "conf" / "config.json").write_text(
        json.dumps({"sensors": {"temperature": {"interval_ms": 300}}}))
    env = {"FIELDNODE_BROKER": broker.url, "FIELDNODE_DEVICE_ID": "logs-node",
           "FIELDNODE_HOME": "conf"}
    with SerialDevice(fs, script="main.py", env=env) as dev:
        r = fieldnode("logs", "--port", dev.port, "--duration", 4)
        assert r.returncode == 0, r.stderr
        assert "-> state/temperature #" in r.stdout
        assert dev.alive()          # streaming did not interrupt the program
