"""fieldnode config set, get and show on the pty board (the unix port's REPL, through the
real mpremote): values checked before anything is written, secrets masked, text kept as
UTF-8, output errors in one line, and a board whose config file is damaged or invalid
(the pty board and its fixtures: cli_board.py, conftest.py)."""

import json
import os

import pytest

from cli_board import CONFIG_DIR, config_file, one_line_error
from fieldnode_cli import fieldnode


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
    # U+2028, U+2029 and U+0085, which MicroPython's JSON leaves unescaped: the answer's
    # line was cut there (splitlines()), and every config command then died on a traceback
    ssid = "a\u2028b\u2029c\x85d"
    assert fieldnode("config", "set", "wifi_ssid=" + ssid, "--port", dev.port).returncode == 0
    r = fieldnode("config", "get", "wifi_ssid", "--port", dev.port)
    assert r.returncode == 0 and r.stdout == ssid + "\n", (r.stdout, r.stderr)
    r = fieldnode("config", "show", "--port", dev.port)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert fieldnode("config", "set", "wifi_ssid=1e3", "--port", dev.port).returncode == 0


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
