"""fieldnode's face: --help on every subcommand, argument errors (exit 2: argparse's, and
the ones checked after parsing, like an unknown board, a broker URL or a device id that
cannot go in a topic), one-line failures (exit 1) for a missing file or port. No board or
broker needed."""

import pytest

from fieldnode_cli import fieldnode

SUBCOMMANDS = ("build", "flash", "deploy", "config", "monitor", "cmd", "logs")


def test_top_level_help_lists_every_subcommand():
    r = fieldnode("--help")
    assert r.returncode == 0
    for name in SUBCOMMANDS:
        assert "\n    %s " % name in r.stdout
    r = fieldnode()
    assert r.returncode == 2 and "required: SUBCOMMAND" in r.stderr


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_has_help(name):
    r = fieldnode(name, "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: fieldnode %s" % name)
    assert "`fieldnode %s" % name in r.stdout          # its description, with an example line


@pytest.mark.parametrize("argv, message", [
    (["build"], "the following arguments are required: --board"),
    (["build", "--board"], "argument --board: expected one argument"),
    (["flash", "--board", "esp32"], "the following arguments are required: --firmware"),
    (["flash", "--board", "esp32", "--firmware", "x.bin", "--wait", "soon"],
     "argument --wait: invalid float value: 'soon'"),
    (["deploy", "--board", "unix"], "the following arguments are required: --port"),
    (["config", "--port", "/dev/null"], "the following arguments are required: action"),
    (["config", "erase", "--port", "/dev/null"], "argument action: invalid choice: 'erase'"),
    (["monitor", "--count", "many"], "argument --count: invalid int value: 'many'"),
    (["cmd", "node-1"], "the following arguments are required: NAME"),
    (["cmd", "node-1", "ping", "--timeout", "x"], "argument --timeout: invalid float value: 'x'"),
    (["logs"], "the following arguments are required: --port"),
    (["frobnicate"], "argument SUBCOMMAND: invalid choice: 'frobnicate'"),
])
def test_argument_errors_exit_2(argv, message):
    r = fieldnode(*argv)
    assert r.returncode == 2
    assert r.stderr.startswith("usage: fieldnode") and message in r.stderr


@pytest.mark.parametrize("argv, message", [
    (["config", "set", "--port", "/dev/null"], "config set takes KEY=VALUE ..."),
    (["config", "show", "extra", "--port", "/dev/null"], "config show takes no arguments"),
    (["config", "import", "--port", "/dev/null"], "config import takes FILE"),
    (["cmd", "node-1", "ping", "noequals"], "expected key=value, got 'noequals'"),
    (["cmd", "node-1", "ping", "--timeout", "0"], "--timeout must be positive and finite"),
    (["flash", "--board", "esp32", "--firmware", "x.bin"], "--port is required for esp32"),
    (["flash", "--board", "unix", "--firmware", "x.bin"],
     "board unix is not flashed (it runs on the host)"),
])
def test_checked_arguments_exit_2_with_one_line(argv, message):
    r = fieldnode(*argv)
    assert r.returncode == 2
    assert r.stderr == "fieldnode %s: %s\n" % (argv[0], message)


@pytest.mark.parametrize("argv", [
    ["build", "--board", "esp33"],
    ["deploy", "--board", "esp33", "--port", "/dev/null"],
    ["flash", "--board", "esp33", "--firmware", "x.bin"],
    ["build", "--board", "../lib"],
])
def test_unknown_board_is_an_argument_error(argv):
    r = fieldnode(*argv)
    assert r.returncode == 2
    assert r.stderr == "fieldnode %s: unknown board %r (known: esp32, rp2_pico_w, unix)\n" % (
        argv[0], argv[2])


def test_missing_files_and_ports(tmp_path):
    r = fieldnode("flash", "--board", "esp32", "--port", "/dev/null", "--firmware", tmp_path / "x.bin")
    assert r.returncode == 1 and r.stderr == "fieldnode flash: firmware file %s not found\n" % (
        tmp_path / "x.bin")
    r = fieldnode("logs", "--port", tmp_path / "ttyACM3")
    assert r.returncode == 1
    assert r.stderr == "fieldnode logs: serial port %s not found (is the board plugged in?)\n" % (
        tmp_path / "ttyACM3")


URL_FORM = "broker URL must look like mqtt://host[:port] or mqtts://host[:port] (port 1-65535)"


@pytest.mark.parametrize("argv, message", [
    (["cmd", "unix-node", "ping", "--url", "mqtt://127.0.0.1:abc"],
     URL_FORM + ", got 'mqtt://127.0.0.1:abc'"),
    (["monitor", "--url", "mqtt://127.0.0.1:70000"], URL_FORM + ", got 'mqtt://127.0.0.1:70000'"),
    (["monitor", "--url", "mqtt://127.0.0.1:0"], URL_FORM + ", got 'mqtt://127.0.0.1:0'"),
    (["monitor", "--url", "http://example.com"], URL_FORM + ", got 'http://example.com'"),
    (["cmd", "node-1", "ping", "--url", "mqtt://:1883"], URL_FORM + ", got 'mqtt://:1883'"),
    (["cmd", "unix-node", "a/#"], "command name 'a/#' must not contain '#'"),
    (["cmd", "unix-node", "get/state"], "command name 'get/state' must not contain '/'"),
    (["cmd", "x+", "ping"], "device id 'x+' must not contain '+'"),
    (["cmd", "", "ping"], "device id must not be empty"),
    (["cmd", "node-1", ""], "command name must not be empty"),
    (["cmd", "node-1", "ping", "--prefix", "site/+"], "--prefix 'site/+' must not contain '+'"),
    (["cmd", "node-1", "ping", "--timeout", "inf"], "--timeout must be positive and finite"),
    (["monitor", "--device", "a/b"], "--device 'a/b' must not contain '/'"),
    (["monitor", "--device", "#"], "--device '#' must not contain '#'"),
    (["monitor", "--prefix", ""], "--prefix must not be empty"),
    (["monitor", "--duration", "nan"], "--duration must be positive and finite"),
])
def test_broker_url_and_topic_parts_are_checked_before_connecting(argv, message):
    """Refused before any connection is tried: these raised a traceback from urllib or
    paho, waited for ever, or watched a topic no device publishes."""
    r = fieldnode(*argv)
    assert r.returncode == 2
    assert r.stderr == "fieldnode %s: %s\n" % (argv[0], message)
