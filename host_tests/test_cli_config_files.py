"""fieldnode config export and import: the file on the host written whole or not at
all, read with one-line errors, merged onto the board's config or replacing it (the pty
board and its fixtures: cli_board.py, conftest.py)."""

import json
import os
import stat

import pytest

from cli_board import config_file, one_line_error
from fieldnode_cli import fieldnode


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
