"""fieldnode deploy, config and logs against the MicroPython unix port on a pty (socat),
through the real mpremote: the "board's" filesystem is the micropython process's cwd."""

import contextlib
import filecmp
import json
import os
import re
import shutil
import signal
import stat
import threading
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


LISTING = "fieldnode_files.json"    # on the board: what Fieldnode's deploys put there


def bundle_files(root):
    """A bundle's files (or a board's, without deploy's own list of them)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.name not in ("package.json", LISTING))


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
    assert "warning" not in r.stderr          # the unix port's heap is the default 2 MiB
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


def test_deploy_refuses_a_board_with_the_node_frozen_in(bundle, tmp_path):
    """A board flashed with a fieldnode image (here the unix port with the node
    frozen in, as `make firmware BOARD=unix` builds it) runs its frozen modules ahead
    of any file: a deploy would report files sent and change nothing."""
    import mpbuild
    fs = tmp_path / "board"
    fs.mkdir()
    with SerialDevice(fs, exe=mpbuild.build("m32-frozen")) as dev:
        r = fieldnode("deploy", "--board", "unix", "--port", dev.port, "--build-dir", bundle)
        assert r.returncode == 1 and "has the node frozen in" in r.stderr, r.stderr
        assert len(r.stderr.splitlines()) == 1 and r.stdout == "", (r.stdout, r.stderr)
        assert sorted(os.listdir(fs)) == ["tty"]          # nothing written


@pytest.mark.parametrize("platform, arch", [("rp2", "armv6m"), ("esp32", "xtensawin")])
def test_deploy_refuses_the_unix_bundle_on_a_real_board(platform, arch):
    """The unix board has no native arch to compare: its port is (a unit test: what
    a Pico W / ESP32 says to the probe, without one)."""
    from fieldnode import CliError, boards
    from fieldnode.deploy import ARCHES, MPY_VERSION, check_target

    class Board:  # the device's answer to deploy's probe
        def eval_repr(self, code):
            return MPY_VERSION | ARCHES.index(arch) << 10, platform, None
    with pytest.raises(CliError) as e:
        check_target(Board(), boards.load("unix"))
    assert str(e.value) == ("the device is MicroPython for %s, the bundle is for unix "
                            "(linux): wrong --board?" % platform)
    check_target(Board(), boards.load("rp2_pico_w" if platform == "rp2" else "esp32"))


def test_deploy_warns_a_board_whose_heap_the_node_would_not_fit(bundle, tmp_path):
    """A board with less heap than the node needs as .mpy (NODE_HEAP_KIB: here the
    64-bit unix port with a 192 KiB heap) is warned before anything is written, with
    what to do instead; the deploy goes on (the need is an estimate)."""
    from fieldnode.deploy import NODE_HEAP_KIB
    from runtimes import tool

    fs = tmp_path / "board"
    fs.mkdir()
    with SerialDevice(fs, exe=tool("micropython") + " -X heapsize=192k") as dev:
        r = deploy(dev, bundle)
        assert r.returncode == 0, r.stderr
        warning = [line for line in r.stderr.splitlines() if "warning" in line]
        assert len(warning) == 1, r.stderr
        heap = int(re.search(r"heap is (\d+) KB", warning[0]).group(1))
        assert 150 < heap < 192 and "needs about %d KB on a 64-bit board" % NODE_HEAP_KIB[64] \
            in warning[0] and "frozen in" in warning[0], warning
        assert r.stderr.index("warning") < r.stderr.index("[1/"), r.stderr   # before writing
        assert bundle_files(fs) == bundle_files(bundle)


@pytest.mark.parametrize("answer, warned", [((110 * 1024, False), True), ((170 * 1024, False), False),
                                            ((None, False), False), ((170 * 1024, True), True)])
def test_heap_check_reads_the_word_size_and_skips_an_unknown_heap(answer, warned, capsys):
    """What a board answers deploy's heap probe (a unit test): a 32-bit board with 110 KB
    is warned, with 170 KB not; a port that does not know its free heap (None) is not
    checked; 170 KB on a 64-bit port is short of what the node needs there."""
    from fieldnode.deploy import NODE_HEAP_KIB, check_heap

    class Board:
        def eval_repr(self, code):
            return answer
    heap, need = check_heap(Board())
    err = capsys.readouterr().err
    assert (heap, need) == (answer[0], NODE_HEAP_KIB[64 if answer[1] else 32])
    assert ("warning" in err) == warned, err
    if warned:
        assert "heap is %d KB" % (answer[0] // 1024) in err and "needs about %d KB on a %d-bit" \
            % (need, 64 if answer[1] else 32) in err, err


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


def test_deploy_names_the_default_build_dir_in_full(tmp_path, monkeypatch):
    """Run from elsewhere, it said "no build in ../../work/main/build/unix"."""
    from fieldnode import CliError, deploy

    monkeypatch.setattr(deploy, "ROOT", str(tmp_path / "repo"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CliError) as e:
        deploy.deploy("unix", "/nonexistent/tty")
    assert str(e.value) == ("no build in %s: run `fieldnode build --board unix` first"
                            % (tmp_path / "repo" / "build" / "unix"))


@pytest.mark.parametrize("talk", ["silent", "chatty"])
def test_no_repl_answering(tmp_path, talk):
    """A port where nothing answers, or a device that sends without pause and never
    a REPL (a GPS, say): one line within seconds. mpremote's own deadline counts only
    while the port is silent, so the chatty one hung the CLI for ever."""
    master, slave = os.openpty()
    stop = threading.Event()

    def chatter():  # what the device sends; what the CLI writes is read and dropped
        os.set_blocking(master, False)
        while not stop.is_set():
            with contextlib.suppress(BlockingIOError):
                os.write(master, b"$GPGGA,123519,4807.038,N,01131.000,E,1,08*47\r\n" * 8)
            with contextlib.suppress(BlockingIOError):
                os.read(master, 4096)
            time.sleep(0.001)

    th = threading.Thread(target=chatter, daemon=True)
    if talk == "chatty":
        th.start()
    try:
        port = os.ttyname(slave)
        t0 = time.monotonic()
        r = fieldnode("config", "show", "--port", port, timeout=60)
        assert r.returncode == 1 and time.monotonic() - t0 < 30
        assert r.stderr == ("fieldnode config: no MicroPython REPL answering on %s (wrong port, "
                            "or the running program ignores Ctrl-C?)\n" % port)
    finally:
        stop.set()
        if th.is_alive():
            th.join()
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


def test_config_says_what_the_board_passed_over(node_device):
    """A config.json naming a sensor the board no longer has boots with that sensor's
    settings ignored (the node logs it); `config show` printed the config without a word,
    and the next `config set` dropped the setting from the file unannounced."""
    path = config_file(node_device)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"keepalive": 45, "sensors": {"pressure": {"qos": 0}}}')
    r = fieldnode("config", "show", "--port", node_device.port)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["keepalive"] == 45 and "(from file)" in r.stderr
    assert ("fieldnode config: the board says: config: sensor 'pressure' is not on this "
            "board (it has humidity, temperature): its settings are ignored\n") in r.stderr


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
    r = fieldnode("config", "get", "nope", "--port", dev.port)   # no board has it: exit 2
    assert r.returncode == 2 and "no config key 'nope'" in r.stderr
    r = fieldnode("config", "get", "sensors.nope", "--port", dev.port)  # not this board's
    assert r.returncode == 1 and "no config key 'sensors.nope'" in r.stderr
    # --reset: Ctrl-D after the write (the unix port's REPL exits on it; a board reboots)
    r = fieldnode("config", "set", "keepalive=75", "--reset", "--port", dev.port)
    assert r.returncode == 0 and "soft reset" in r.stderr
    assert json.loads(config_file(dev).read_text())["keepalive"] == 75
    dev.proc.wait(timeout=10)


@pytest.mark.parametrize("item, code, message", [
    # wrong whatever the board holds: refused before the port is opened (exit 2)
    ("keepalive=1", 2, "keepalive: 1 is out of range 5..3600"),
    ("keepalive=soon", 2, "keepalive: expected an integer, got 'soon'"),
    ("colour=blue", 2, "unknown key 'colour'"),
    ("brokers=[\"http://x\"]", 2, "brokers: 'http://x' is not an mqtt:// or mqtts:// URL"),
    # these need the board's config: its sensor names, its tls_ca
    ("sensors.pressure.interval_ms=1000", 1,
     "sensors: unknown sensor 'pressure' (this board has: humidity, temperature)"),
    ("brokers=[\"mqtts://x:8883\"]", 1, "tls_ca: mqtts:// brokers need the CA file their "
     "certificates chain to (a path on the device), or tls_insecure"),
])
def test_config_refuses_a_bad_value_and_leaves_the_file_alone(node_device, item, code, message):
    dev = node_device
    assert fieldnode("config", "set", "keepalive=45", "--port", dev.port).returncode == 0
    before = config_file(dev).read_bytes()
    r = fieldnode("config", "set", "wifi_ssid=other", item, "--port", dev.port)
    assert r.returncode == code
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
    # with the secrets in clear, the file is its owner's alone (it was 0644 by umask)
    clear = tmp_path / "clear.json"
    r = fieldnode("config", "export", clear, "--show-secrets", "--port", dev.port)
    assert r.returncode == 0 and json.loads(clear.read_text())["password"] == "s3cret"
    assert clear.stat().st_mode & 0o777 == 0o600
    clear.unlink()

    saved["keepalive"] = 120
    exported.write_text(json.dumps(saved))
    r = fieldnode("config", "import", exported, "--port", dev.port)
    assert r.returncode == 0, r.stderr
    on_device = json.loads(config_file(dev).read_text())
    assert on_device["keepalive"] == 120 and on_device["password"] == "s3cret"  # *** kept it
    # the replaced file is kept as the last good copy
    assert json.loads(config_file(dev, "config.last_good.json").read_text())["keepalive"] == 90

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(saved, keepalive=-5)))
    before = config_file(dev).read_bytes()
    r = fieldnode("config", "import", bad, "--port", dev.port)
    assert r.returncode == 1 and "keepalive: -5 is out of range" in r.stderr
    assert config_file(dev).read_bytes() == before
    bad.write_text("{not json")
    r = fieldnode("config", "import", bad, "--port", dev.port)
    assert r.returncode == 1 and "is not a JSON file" in r.stderr


def one_line_error(r, code, line):
    assert r.returncode == code, r.stdout + r.stderr
    assert r.stderr == "fieldnode config: %s\n" % line and "Traceback" not in r.stderr


def test_config_export_to_a_bad_path_is_one_line_and_writes_nothing(node_device, tmp_path):
    dev = node_device
    not_a_dir = tmp_path / "plain"
    not_a_dir.write_text("x")
    for path, reason in [(tmp_path, "Is a directory"),
                         (tmp_path / "nowhere" / "saved.json", "No such file or directory"),
                         (not_a_dir / "saved.json", "Not a directory")]:
        r = fieldnode("config", "export", path, "--port", dev.port)
        one_line_error(r, 1, "cannot write %s: %s" % (path, reason))
    assert sorted(os.listdir(tmp_path)) == ["board", "plain"]
    assert dev.alive()

    # a pipe (or a device: as root `config export /dev/null`) was replaced by a file
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    r = fieldnode("config", "export", fifo, "--port", dev.port)
    one_line_error(r, 1, "cannot write %s: not a regular file (a device or a pipe; without a "
                   "FILE the output goes to stdout)" % fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    fifo.unlink()

    # an existing file is replaced whole (keeping its mode), through a symlink its target
    target = tmp_path / "saved.json"
    target.write_text("old " * 5000)
    target.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(target)
    r = fieldnode("config", "export", link, "--port", dev.port)
    assert r.returncode == 0, r.stderr
    assert json.loads(target.read_text())["keepalive"] == 30 and link.is_symlink()
    assert target.stat().st_mode & 0o777 == 0o640
    fresh = tmp_path / "fresh.json"
    assert fieldnode("config", "export", fresh, "--port", dev.port).returncode == 0
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask
    assert sorted(os.listdir(tmp_path)) == ["board", "fresh.json", "link.json", "plain",
                                            "saved.json"]


def test_config_export_failing_on_the_device_leaves_the_file_as_it_was(device, tmp_path):
    target = tmp_path / "saved.json"
    target.write_text("previous export")
    r = fieldnode("config", "export", target, "--port", device.port)   # no firmware there
    assert r.returncode == 1 and "no Fieldnode firmware" in r.stderr
    assert target.read_text() == "previous export"
    assert sorted(os.listdir(tmp_path)) == ["board", "saved.json"]     # no temp file left


@pytest.mark.parametrize("fail", ["fsync", "replace"])
def test_config_export_failing_to_commit_leaves_the_file_as_it_was(tmp_path, monkeypatch, fail):
    from fieldnode import CliError, configfile

    target = tmp_path / "saved.json"
    target.write_text("previous export")

    def enospc(*args):
        raise OSError(28, os.strerror(28))

    monkeypatch.setattr(configfile.os, fail, enospc)
    with pytest.raises(CliError) as e:
        with configfile.atomic_output(str(target)) as out:
            out.write("{}" * 50000)
    assert str(e.value) == "cannot write %s: No space left on device" % target
    assert target.read_text() == "previous export"
    assert os.listdir(tmp_path) == ["saved.json"]


def test_config_import_of_an_unreadable_file_is_one_line(node_device, tmp_path):
    dev = node_device
    assert fieldnode("config", "set", "keepalive=45", "--port", dev.port).returncode == 0
    before = config_file(dev).read_bytes()
    latin = tmp_path / "latin1.json"
    latin.write_bytes(b'{"wifi_ssid": "caf\xe9"}')
    array = tmp_path / "array.json"
    array.write_text("[1, 2]")
    for path, line in [
            (tmp_path / "nope.json", "cannot read %s: No such file or directory"),
            (tmp_path, "cannot read %s: Is a directory"),
            (latin, "%s is not a JSON file: 'utf-8' codec can't decode byte 0xe9 in position 18: "
                    "invalid continuation byte"),
            (array, "%s: expected a JSON object")]:
        r = fieldnode("config", "import", path, "--port", dev.port)
        one_line_error(r, 1, line % path)
    assert config_file(dev).read_bytes() == before
    # the file is read before the port is opened: a bad file stops no running node
    r = fieldnode("config", "import", tmp_path / "nope.json", "--port", tmp_path / "ttyUSB9")
    one_line_error(r, 1, "cannot read %s: No such file or directory" % (tmp_path / "nope.json"))


def test_config_import_merges_a_file_with_only_the_keys_to_change(node_device, tmp_path):
    """A hand-written file with only the keys to change was refused without --merge,
    naming the two dozen keys it lacked (exit 2), and a typo'd key among them went
    unnamed: it is merged onto the board's config, the result checked whole, and refused
    naming the bad key only when that result is invalid."""
    dev = node_device
    assert fieldnode("config", "set", "wifi_ssid=home", "password=s3cret", "keepalive=90",
                     "sensors.humidity.interval_ms=7000", "--port", dev.port).returncode == 0
    before = config_file(dev).read_bytes()
    changes = tmp_path / "my_changes.json"
    for bad, why in [
            ({"keepalive": 1}, "keepalive: 1 is out of range 5..3600"),
            ({"keepalive": 120, "colur": "blue"}, "unknown key 'colur'"),
            ({"sensors": {"temperature": {"bogus": 1}}}, "sensors.temperature: unknown key "
             "'bogus' (known: high, hysteresis, interval_ms, low, qos)"),
            ({"sensors": {"pressure": {"qos": 0}}},
             "sensors: unknown sensor 'pressure' (this board has: humidity, temperature)"),
            ({"tls_cert": "/c.pem"}, "tls_cert and tls_key: give both or neither")]:
        changes.write_text(json.dumps(bad))
        r = fieldnode("config", "import", changes, "--port", dev.port)
        one_line_error(r, 1, "refused, nothing written: %s" % why)
        assert config_file(dev).read_bytes() == before
    assert not config_file(dev, "config.last_good.json").exists()

    changes.write_text(json.dumps({"keepalive": 120, "password": "***",
                                   "sensors": {"temperature": {"interval_ms": 5000}}}))
    r = fieldnode("config", "import", changes, "--port", dev.port)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "config: merged %s into config.json\n" % changes
    old, new = json.loads(before), json.loads(config_file(dev).read_text())
    old["keepalive"] = 120
    old["sensors"]["temperature"]["interval_ms"] = 5000
    assert new == old           # wifi_ssid, password, the humidity interval: as they were
    assert new["wifi_ssid"] == "home" and new["password"] == "s3cret"
    assert new["sensors"]["humidity"]["interval_ms"] == 7000

    # an export less one sensor's settings and a nested key: those keep theirs
    full = tmp_path / "full.json"
    assert fieldnode("config", "export", full, "--port", dev.port).returncode == 0
    saved = json.loads(full.read_text())
    del saved["sensors"]["humidity"]
    del saved["sensors"]["temperature"]["qos"]
    saved["sensors"]["temperature"]["interval_ms"] = 6000
    full.write_text(json.dumps(saved))
    r = fieldnode("config", "import", full, "--port", dev.port)
    assert r.returncode == 0 and r.stdout == "config: merged %s into config.json\n" % full
    new["sensors"]["temperature"]["interval_ms"] = 6000
    assert json.loads(config_file(dev).read_text()) == new
    # a whole file replaces the config (as before)
    assert fieldnode("config", "export", full, "--port", dev.port).returncode == 0
    r = fieldnode("config", "import", full, "--port", dev.port)
    assert r.returncode == 0 and r.stdout == "config: imported %s into config.json\n" % full


def test_config_import_with_merge(node_device, tmp_path):
    """--merge (which a FILE lacking keys needed): such a FILE merged as without it, and
    a whole FILE merged too."""
    dev = node_device
    assert fieldnode("config", "set", "wifi_ssid=home", "keepalive=90",
                     "--port", dev.port).returncode == 0
    full = tmp_path / "full.json"
    r = fieldnode("config", "export", full, "--merge", "--port", dev.port)
    assert r.returncode == 2 and r.stderr == "fieldnode config: --merge goes with config import\n"

    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"sensors": {"temperature": {"interval_ms": 5000}}}))
    r = fieldnode("config", "import", partial, "--merge", "--port", dev.port)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "config: merged %s into config.json\n" % partial
    new = json.loads(config_file(dev).read_text())
    assert new["sensors"]["temperature"]["interval_ms"] == 5000
    assert new["keepalive"] == 90 and new["wifi_ssid"] == "home"
    assert fieldnode("config", "export", full, "--port", dev.port).returncode == 0
    r = fieldnode("config", "import", full, "--merge", "--port", dev.port)
    assert r.returncode == 0 and r.stdout == "config: merged %s into config.json\n" % full
    # a file an editor saved with a UTF-8 BOM is read as the device reads one (it was
    # "not a JSON file: Unexpected UTF-8 BOM")
    partial.write_bytes(b"\xef\xbb\xbf" + json.dumps({"keepalive": 150}).encode())
    r = fieldnode("config", "import", partial, "--merge", "--port", dev.port)
    assert r.returncode == 0, r.stderr
    assert json.loads(config_file(dev).read_text())["keepalive"] == 150


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


def board_tree(device):
    return sorted(str(p.relative_to(device.fs)) for p in device.fs.rglob("*") if p.name != "tty")


def test_deploy_sends_only_a_fieldnode_build_for_the_board(device, bundle, tmp_path):
    """A random folder (its notes.txt went to the board) and an esp32 bundle deployed with
    --board unix were copied; only main.py and what package.json lists go now."""
    assert json.loads((bundle / "package.json").read_text())["board"] == "unix"
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "notes.txt").write_text("shopping list\n")
    esp = tmp_path / "esp32"
    assert fieldnode("build", "--board", "esp32", "--out", esp).returncode == 0
    older = tmp_path / "older"                      # a build from before "board" was written
    shutil.copytree(bundle, older)
    pkg = json.loads((older / "package.json").read_text())
    del pkg["board"]
    (older / "package.json").write_text(json.dumps(pkg))
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    (broken / "lib" / "payload.mpy").unlink()
    again = "run `fieldnode build --board unix` (--out DIR) again; nothing written"
    for build_dir, why in [
            (notes, "not a fieldnode build (no main.py launcher with a package.json): run "
                    "`fieldnode build --board unix` first; nothing written"),
            (esp, "a build for esp32, not unix (wrong --board or --build-dir?); nothing written"),
            (older, "its package.json names no board (an older build): " + again),
            (broken, "lib/payload.mpy is missing (an incomplete build): " + again)]:
        r = deploy(device, build_dir)
        assert r.returncode == 1 and r.stderr == "fieldnode deploy: %s: %s\n" % (build_dir, why)
    assert board_tree(device) == []

    extra = tmp_path / "extra"                      # files beside a build stay on the host
    shutil.copytree(bundle, extra)
    (extra / "notes.txt").write_text("not for the board\n")
    (extra / "lib" / "scratch.py").write_text("x = 1\n")
    r = deploy(device, extra)
    assert r.returncode == 0, r.stderr
    assert bundle_files(device.fs) == bundle_files(bundle)
    assert device.alive()


def with_modules(bundle, out, names):
    """A copy of `bundle` whose package.json also lists lib/<name> for each of `names`."""
    shutil.copytree(bundle, out)
    pkg = json.loads((out / "package.json").read_text())
    for name in names:
        (out / "lib" / name).parent.mkdir(parents=True, exist_ok=True)
        (out / "lib" / name).write_bytes(b"M\x06 " + name.encode())
        pkg["urls"].append([name, "lib/" + name])
    (out / "package.json").write_text(json.dumps(pkg))
    return out


def listing(device):
    return json.loads((device.fs / LISTING).read_text())


def test_deploy_removes_what_an_earlier_bundle_had_and_this_one_lacks(device, bundle,
                                                                      tmp_path):
    """A module an older bundle had stayed on the board for ever: a package dropped or
    made a module kept its directory, which shadows the new module on import. The
    board's fieldnode_files.json lists what deploys put there: the next deploy removes
    what the new bundle lacks, and the directories that leaves empty; a file of the
    user's own is left alone."""
    lib = [f for f in bundle_files(bundle) if f.startswith("lib/")]
    older = with_modules(bundle, tmp_path / "older", ["gone.mpy", "oldpkg/__init__.mpy",
                                                      "oldpkg/sub/x.mpy"])
    r = deploy(device, older)
    assert r.returncode == 0, r.stderr
    old_lib = sorted(lib + ["lib/gone.mpy", "lib/oldpkg/__init__.mpy", "lib/oldpkg/sub/x.mpy"])
    assert listing(device) == old_lib and "removed" not in r.stdout
    (device.fs / "lib" / "mine.py").write_text("x = 1\n")       # the user's own
    (device.fs / "lib" / "oldpkg" / "notes.txt").write_text("kept\n")

    r = deploy(device, bundle)
    assert r.returncode == 0, r.stderr
    assert ("deploy: removed 3 files an earlier deploy put there that this bundle does not "
            "have: lib/gone.mpy, lib/oldpkg/__init__.mpy, lib/oldpkg/sub/x.mpy\n") in r.stdout
    assert bundle_files(device.fs) == sorted(bundle_files(bundle)
                                             + ["lib/mine.py", "lib/oldpkg/notes.txt"])
    assert not (device.fs / "lib" / "oldpkg" / "sub").exists()     # left empty: removed
    assert listing(device) == lib

    (device.fs / "lib" / "oldpkg" / "notes.txt").unlink()
    r = deploy(device, older)                       # and back: nothing of ours removed
    assert r.returncode == 0 and "removed" not in r.stdout, r.stdout
    assert listing(device) == old_lib
    r = deploy(device, bundle)
    assert r.returncode == 0 and "removed 3 files" in r.stdout, r.stdout
    assert not (device.fs / "lib" / "oldpkg").exists()
    assert (device.fs / "lib" / "mine.py").exists()

    (device.fs / LISTING).write_text("{not json")  # a damaged list: nothing removed
    r = deploy(device, older)
    assert r.returncode == 0 and "removed" not in r.stdout, r.stdout
    assert listing(device) == old_lib
    assert device.alive()


def test_deploy_keeps_a_main_py_that_is_not_the_launcher(device, bundle):
    """A board's own main.py was silently overwritten: refused (nothing written) unless
    --replace-main, which keeps it as main.py.bak."""
    (device.fs / "main.py").write_text("import my_app\nmy_app.run()\n")
    r = deploy(device, bundle)
    assert r.returncode == 1
    assert r.stderr == ("fieldnode deploy: the board's main.py is not Fieldnode's launcher (it "
                        "starts 'import my_app'): --replace-main replaces it, keeping it as "
                        "main.py.bak; nothing written\n")
    assert board_tree(device) == ["main.py"]
    r = fieldnode("deploy", "--board", "unix", "--port", device.port, "--build-dir", bundle,
                  "--no-reset", "--replace-main")
    assert r.returncode == 0, r.stderr
    assert "deploy: the board's main.py kept as main.py.bak" in r.stdout
    assert (device.fs / "main.py.bak").read_text() == "import my_app\nmy_app.run()\n"
    assert (device.fs / "main.py").read_text() == "import fieldnode_main\n"
    # the launcher (a comment added by hand too) is Fieldnode's: deployed over without a word
    (device.fs / "main.py").write_text("import fieldnode_main  # mine\n")
    r = deploy(device, bundle)
    assert r.returncode == 0 and counts(r.stdout)[1] == 1, r.stderr
    assert "main.py.bak" not in r.stdout


def test_deploy_with_its_output_closed_does_not_report_success(device, bundle):
    """`except BrokenPipeError: return 0`: a deploy whose stdout pipe closed stopped
    half-way and exited 0."""
    import subprocess

    from runtimes import tool

    read_end, write_end = os.pipe()
    os.close(read_end)                              # like `| head` that has exited
    try:
        r = subprocess.run([tool("fieldnode"), "deploy", "--board", "unix", "--port", device.port,
                            "--build-dir", str(bundle), "--no-reset"], stdout=write_end,
                           stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert r.returncode == 1
    assert r.stderr == ("fieldnode deploy: output closed (broken pipe), stopped before the end: "
                        "it may be half done, run it again\n")
    assert device.alive()


def test_config_text_keys_take_the_text_and_keep_utf8(node_device, tmp_path):
    """wifi_password=12345678 was refused ("expected a string"); an emoji went to the board
    as JSON \\u escapes, which MicroPython's json.loads turns into CESU-8."""
    dev = node_device
    r = fieldnode("config", "set", "wifi_password=12345678", "wifi_ssid=1e3",
                  "username=\U0001F600", "--port", dev.port)
    assert r.returncode == 0, r.stderr
    raw = config_file(dev).read_bytes()
    assert b'"username": "\xf0\x9f\x98\x80"' in raw and b"\xed" not in raw
    saved = json.loads(raw.decode())
    assert saved["wifi_password"] == "12345678" and saved["wifi_ssid"] == "1e3"
    r = fieldnode("config", "get", "username", "wifi_ssid", "--port", dev.port)
    assert r.returncode == 0 and r.stdout == "\U0001F600\n1e3\n"
    # the text "null" (only an imported file can set it) is not the null value
    f = tmp_path / "null.json"
    f.write_text('{"username": "null"}')
    assert fieldnode("config", "import", f, "--merge", "--port", dev.port).returncode == 0
    r = fieldnode("config", "get", "username", "password", "--port", dev.port)
    assert r.returncode == 0 and r.stdout == '"null"\nnull\n', r.stdout
    f.write_text('{"username": "\U0001F600"}')
    assert fieldnode("config", "import", f, "--merge", "--port", dev.port).returncode == 0
    # show and export print the text itself, not \u escapes
    r = fieldnode("config", "show", "--port", dev.port)
    assert r.returncode == 0 and '"username": "\U0001F600"' in r.stdout, r.stdout
    out = tmp_path / "exported.json"
    assert fieldnode("config", "export", out, "--port", dev.port).returncode == 0
    assert b'"username": "\xf0\x9f\x98\x80"' in out.read_bytes()
    # options between the arguments
    r = fieldnode("config", "set", "--port", dev.port, "keepalive=61")
    assert r.returncode == 0 and json.loads(config_file(dev).read_text())["keepalive"] == 61


class _FakeTransport:
    """Stands in for mpremote's: `exec` returns `out` (bytes)."""

    def __init__(self, out=b"", err=None):
        self.out, self.err = out, err

    def exec(self, code):
        if self.err is not None:
            from mpremote.transport import TransportExecError

            raise TransportExecError(1, self.err.decode())     # as mpremote decodes it
        return self.out


def test_a_config_file_that_is_not_utf8_is_one_line(tmp_path):
    """A board's config.json holding invalid UTF-8 (a node's own answer, as the firmware
    before its UTF-8 check passed it on) was a UnicodeDecodeError traceback on every config
    show/get/set; `config import` replaces it."""
    from fieldnode import CliError, configure
    from fieldnode.device import Device

    answer = b'[{"wifi_ssid": "caf\xe9", "keepalive": 30}, "file", "/c", ["temperature"], []]\r\n'
    dev = Device("/dev/ttyUSB9")
    dev.transport = _FakeTransport(answer)
    with pytest.raises(CliError) as e:
        configure.read(dev)
    assert str(e.value) == (
        "the board's config file is not valid UTF-8 text (byte 0xe9): replace it with `fieldnode "
        "config import GOOD.json --port /dev/ttyUSB9` (GOOD.json: a `config export` or a file "
        "you wrote)")
    cfg, source, _, _ = configure.read(dev, lenient=True)       # what import reads
    assert cfg == {"wifi_ssid": "caf\ufffd", "keepalive": 30} and source == "file"
    # but an import that merges would write the U+FFFD it read back to the board
    for changing in ("config import --merge", lambda cfg: "config import of a file lacking"):
        with pytest.raises(CliError, match="^the board's config file is not valid UTF-8"):
            configure.read(dev, lenient=True, changing=changing)
    assert configure.read(dev, lenient=True, changing=lambda cfg: None)[0] == cfg
    # a device error whose text is not UTF-8: one line too (mpremote's decode raised)
    dev.transport = _FakeTransport(err=b"Traceback...\r\nValueError: caf\xe9\r\n")
    with pytest.raises(CliError, match="^device error: ValueError: caf\ufffd$"):
        dev.exec("x")


def test_logs_exits_1_when_the_board_goes_away():
    """It said so and exited 0: a script could not tell an unplugged board from the end
    of --duration."""
    import select
    import subprocess

    from runtimes import tool

    master, slave = os.openpty()
    tty = os.ttyname(slave)
    proc = subprocess.Popen([tool("fieldnode"), "logs", "--port", tty, "--duration", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = b""
    deadline = time.monotonic() + 30
    while b"hello" not in seen and time.monotonic() < deadline:
        os.write(master, b"hello\r\n")
        if select.select([proc.stdout], [], [], 0.3)[0]:
            seen += os.read(proc.stdout.fileno(), 4096)
    os.close(master)  # the board goes away
    os.close(slave)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, err
    assert err == ("fieldnode logs: %s closed: the board went away (unplugged, or its port "
                   "closed)\n" % tty).encode()


def test_logs_ctrl_c_exits_130(tmp_path):
    """logs swallowed Ctrl-C and exited 0."""
    import select
    import signal
    import subprocess

    from runtimes import tool

    master, slave = os.openpty()
    try:
        proc = subprocess.Popen([tool("fieldnode"), "logs", "--port", os.ttyname(slave)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        seen = b""
        deadline = time.monotonic() + 30
        while b"hello from the node" not in seen and time.monotonic() < deadline:
            os.write(master, b"hello from the node\r\n")      # until logs streams it
            if select.select([proc.stdout], [], [], 0.3)[0]:
                seen += os.read(proc.stdout.fileno(), 4096)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        os.close(master)
        os.close(slave)
    assert b"hello from the node" in seen
    assert proc.returncode == 130, err
    assert err == b"fieldnode logs: interrupted\n"


def run_with_stdout(stdout, *argv):
    """`fieldnode ARGV` with its stdout on the file `stdout` (None: closed); (rc, stderr)."""
    import subprocess

    from runtimes import tool

    argv = [tool("fieldnode")] + [str(a) for a in argv]
    if stdout is None:
        r = subprocess.run(argv, stderr=subprocess.PIPE, text=True, timeout=120,
                           preexec_fn=lambda: os.close(1))
    else:
        with open(stdout, "w") as out:
            r = subprocess.run(argv, stdout=out, stderr=subprocess.PIPE, text=True, timeout=120)
    return r.returncode, r.stderr


def test_config_output_errors_are_one_line(node_device):
    """stdout on a full disk: OSError tracebacks (config show, config set after saving);
    stdout closed: an AttributeError one (config show), after stopping the node."""
    dev = node_device
    rc, err = run_with_stdout("/dev/full", "config", "show", "--port", dev.port)
    assert rc == 1 and err.splitlines()[-1] == ("fieldnode config: cannot write the output: "
                                                "No space left on device"), err
    assert "Traceback" not in err
    rc, err = run_with_stdout("/dev/full", "config", "set", "keepalive=61", "--port", dev.port)
    assert rc == 1 and err.splitlines()[-1] == (
        "fieldnode config: cannot write the output: No space left on device (stopped there: "
        "it may be half done)"), err
    assert json.loads(config_file(dev).read_text())["keepalive"] == 61    # it was saved
    # refused before the port is opened: nothing to show the result on
    for argv in (["config", "show"], ["config", "set", "keepalive=62"], ["logs"]):
        assert run_with_stdout(None, *argv, "--port", dev.port) == (
            1, "fieldnode %s: cannot write the output: stdout is closed\n" % argv[0])
    assert json.loads(config_file(dev).read_text())["keepalive"] == 61
    assert dev.alive()


def test_logs_to_a_full_disk_is_one_line():
    import subprocess

    from runtimes import tool

    master, slave = os.openpty()
    tty = os.ttyname(slave)
    try:
        with open("/dev/full", "w") as full:
            proc = subprocess.Popen([tool("fieldnode"), "logs", "--port", tty, "--duration",
                                     "30"], stdout=full, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            os.write(master, b"hello\r\n")
            time.sleep(0.2)
        err = proc.communicate(timeout=30)[1]
    finally:
        os.close(master)
        os.close(slave)
    assert proc.returncode == 1
    assert err == "fieldnode logs: cannot write the output: No space left on device\n"


def test_config_waits_for_the_nodes_goodbye_to_a_broker_that_stopped_answering(
        tmp_path, bundle, broker_factory):
    # Ctrl-C stops the node, which says goodbye: `offline` (3 s for its ack at most),
    # then DISCONNECT (2 s at most). A broker that stopped answering (a dead link not yet
    # noticed) makes that 5 s, and the CLI gave up at 5 s: "no MicroPython REPL
    # answering" (exit 1), though the REPL came 0.2 s later.
    b = broker_factory()
    fs = tmp_path / "board"
    shutil.copytree(bundle, fs)
    (fs / "conf").mkdir()
    env = {"FIELDNODE_BROKER": b.url, "FIELDNODE_DEVICE_ID": "goodbye-node",
           "FIELDNODE_HOME": "conf"}
    from firmware_node import watch

    peer = watch(b, "goodbye-node")
    with SerialDevice(fs, script="-i main.py", env=env, ctrl_c=True) as dev:
        try:
            assert peer.wait_messages("fieldnode/v1/goodbye-node/status", 1)[0].payload \
                == b"online"
        finally:
            peer.stop()
        os.kill(b.proc.pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            r = fieldnode("config", "get", "keepalive", "--port", dev.port, timeout=60)
            took = time.monotonic() - t0
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "30", r.stdout  # (the default)
        assert took > 4, took  # (it did wait for the goodbye: the broker was paused)


def test_deploy_reads_deeply_nested_json_as_damaged(device, bundle, tmp_path):
    """A board's fieldnode_files.json (or a build's package.json) nested deeper than
    Python's json goes was a RecursionError traceback: now a damaged list (nothing
    removed) and "not a fieldnode build", as for any JSON that does not parse."""
    deep = "[" * 5000 + "]" * 5000
    broken = tmp_path / "broken"
    shutil.copytree(bundle, broken)
    (broken / "package.json").write_text(deep)
    r = deploy(device, broken)
    assert r.returncode == 1 and r.stderr == (
        "fieldnode deploy: %s: not a fieldnode build (no main.py launcher with a package.json): "
        "run `fieldnode build --board unix` first; nothing written\n" % broken), r.stderr
    (device.fs / LISTING).write_text(deep)
    r = deploy(device, bundle)
    assert r.returncode == 0 and "removed" not in r.stdout, r.stderr
    assert listing(device) == [f for f in bundle_files(bundle) if f.startswith("lib/")]


@pytest.mark.parametrize("bad, why", [
    ({"keepalive": 1}, "keepalive: 1 is out of range 5..3600"),
    ({"keepalive": 45, "colur": "blue"}, "unknown key 'colur'")])
def test_config_set_refuses_a_board_whose_config_file_is_invalid(node_device, tmp_path, bad,
                                                                  why):
    """A config.json with one bad value or a typo'd key: the board reads the defaults (or
    its last-good copy), and `set` wrote those plus its one key over the file, wiping the
    user's Wi-Fi, brokers and device id ("changed: keepalive"). Refused now, the file left
    alone; a whole-file import replaces it."""
    dev = node_device
    path = config_file(dev)
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = dict({"wifi_ssid": "home", "device_id": "mine",
                 "brokers": ["mqtt://10.0.0.2:1883"]}, **bad)
    path.write_text(json.dumps(mine))
    changes = tmp_path / "changes.json"
    changes.write_text('{"keepalive": 61}')
    for argv, change in ((["set", "keepalive=61"], "set"),
                         (["import", changes, "--merge"], "import --merge"),
                         (["import", changes], "import of a file lacking keys")):
        r = fieldnode("config", *argv, "--port", dev.port)
        one_line_error(r, 1, (
            "refused, nothing written: the board's config.json is invalid (%s), so the board "
            "reads the defaults instead, and this config %s would write that plus the change "
            "over the file, losing its other settings. Fix that in the file (mpremote edit "
            ":%s/config.json), or replace the file whole: `fieldnode config export FILE --port "
            "%s`, complete FILE, then `fieldnode config import FILE --port %s`" % (
                why, change, CONFIG_DIR, dev.port, dev.port)))
        assert json.loads(path.read_text()) == mine
    # the way out: a whole file
    full = tmp_path / "full.json"
    assert fieldnode("config", "export", full, "--port", dev.port).returncode == 0
    full.write_text(json.dumps(dict(json.loads(full.read_text()), keepalive=61,
                                    wifi_ssid="home", device_id="mine")))
    r = fieldnode("config", "import", full, "--port", dev.port)
    assert r.returncode == 0, r.stderr
    assert json.loads(path.read_text())["keepalive"] == 61
    r = fieldnode("config", "set", "keepalive=62", "--port", dev.port)      # valid again
    assert r.returncode == 0 and json.loads(path.read_text())["device_id"] == "mine"


def test_config_refuses_a_masked_secret_the_board_does_not_have(node_device, tmp_path):
    """An export (secrets as ***) imported onto a board without them, or `set
    wifi_password=***`, left the secrets empty without a word."""
    dev = node_device
    assert fieldnode("config", "set", "password=s3cret", "--port", dev.port).returncode == 0
    exported = tmp_path / "saved.json"
    assert fieldnode("config", "export", exported, "--port", dev.port).returncode == 0
    saved = json.loads(exported.read_text())
    assert saved["password"] == "***"
    saved["wifi_password"] = "***"      # as an export from a board with one
    exported.write_text(json.dumps(saved))
    before = config_file(dev).read_bytes()
    r = fieldnode("config", "import", exported, "--port", dev.port)
    one_line_error(r, 1, "refused, nothing written: %s gives wifi_password as *** (keep the "
                   "stored value), and the board has no wifi_password stored: give its value "
                   "(\"\" for none)" % exported)
    r = fieldnode("config", "set", "keepalive=50", "wifi_password=***", "password=***",
                  "--port", dev.port)
    one_line_error(r, 1, "refused, nothing written: `config set` gives wifi_password as *** "
                   "(keep the stored value), and the board has no wifi_password stored: give "
                   "its value (\"\" for none)")
    assert config_file(dev).read_bytes() == before
    # *** for a secret the board has keeps it, as before
    r = fieldnode("config", "set", "keepalive=50", "password=***", "--port", dev.port)
    assert r.returncode == 0, r.stderr
    assert json.loads(config_file(dev).read_text())["password"] == "s3cret"


def test_config_import_of_a_huge_or_deeply_nested_file_is_one_line(node_device, tmp_path):
    """json.load of /dev/zero read until a MemoryError; a file nested deeper than Python's
    json goes was a RecursionError traceback."""
    from fieldnode.configfile import MAX_IMPORT

    dev = node_device
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5000 + "]" * 5000)
    big = tmp_path / "big.json"
    big.write_text('{"wifi_ssid": "home"}' + " " * MAX_IMPORT)
    for path, line in [
            (deep, "%s is not a config file: nested too deep"),
            (big, "%%s is over %d bytes: not a config file (the board refuses a config.json "
                  "over 8192 bytes)" % MAX_IMPORT),
            ("/dev/zero", "%%s is over %d bytes: not a config file (the board refuses a "
                          "config.json over 8192 bytes)" % MAX_IMPORT)]:
        r = fieldnode("config", "import", path, "--merge", "--port", dev.port, timeout=60)
        one_line_error(r, 1, line % path)
    assert not config_file(dev).exists()
    big.write_text('{"wifi_ssid": "home"}' + " " * (MAX_IMPORT - 21))    # the most it reads
    assert fieldnode("config", "import", big, "--merge", "--port", dev.port).returncode == 0


@pytest.mark.timeout(60)
def test_a_board_that_keeps_printing_ends_a_step_at_its_deadline(node_device, bundle, tmp_path,
                                                                 monkeypatch, capsys):
    """Only entering the REPL had a time limit: a board that reset and runs its program,
    printing every half second, held `config` (or a deploy) for ever, as mpremote's own
    timeouts count only while the port is silent. Each step on the device has
    OP_TIMEOUT_S now (2 s here), and a deploy's long writes get it per chunk."""
    from fieldnode import CliError, configure, deploy, device

    monkeypatch.setattr(device, "OP_TIMEOUT_S", 2)
    dev = node_device
    (dev.fs / "lib" / "board.mpy").unlink()   # the config script imports board: it never ends
    (dev.fs / "lib" / "board.py").write_text(
        "import time\nwhile True:\n    print('node: still here')\n    time.sleep(0.5)\n")
    t0 = time.monotonic()
    with pytest.raises(CliError) as e:
        with device.Device(dev.port) as d:
            configure.read(d)
    assert time.monotonic() - t0 < 15
    assert str(e.value) == (
        "the device on %s did not finish within 2 s: it keeps sending (did the board reset, "
        "and its program runs and prints?); it may be half done, run it again" % dev.port)
    # a deploy of the whole bundle takes longer than 2 s, its steps do not
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with SerialDevice(fresh) as board:
        t0 = time.monotonic()
        assert deploy.deploy("unix", board.port, str(bundle), reset=False) == (
            len(bundle_files(bundle)), 0)
        assert time.monotonic() - t0 > 2
        assert bundle_files(fresh) == bundle_files(bundle)


def test_a_port_that_is_not_a_serial_port_says_so(tmp_path):
    """/dev/null, a regular file or a directory as --port: "cannot open serial port ...:
    Could not configure port: (25, 'Inappropriate ioctl for device')" and the like."""
    plain = tmp_path / "plain"
    plain.write_text("x")
    for port, what in [("/dev/null", "a device that is not a terminal"),
                       (plain, "a regular file"), (tmp_path, "a directory")]:
        for argv in (["config", "show"], ["logs", "--duration", "1"]):
            r = fieldnode(*argv, "--port", port)
            assert (r.returncode, r.stderr) == (2, "fieldnode %s: %s is not a serial port (%s)\n"
                                                % (argv[0], port, what))
