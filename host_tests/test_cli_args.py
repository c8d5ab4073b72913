"""fieldnode's face: --help on every subcommand, argument errors (exit 2: argparse's, and
the ones checked after parsing, like an unknown board or an empty option), options
between positional arguments, unknown options, one-line failures (exit 1) for a missing
file or port. No board or broker needed. KEY=VALUE items: test_cli_args_values.py;
broker URLs, topic parts and TLS options: test_cli_args_broker.py."""

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
    (["config", "--port", "/dev/null"], "the following arguments are required: action\n"),
    (["config", "erase", "--port", "/dev/null"], "argument action: invalid choice: 'erase'"),
    (["monitor", "--count", "many"], "argument --count: invalid int value: 'many'"),
    (["cmd", "node-1"], "the following arguments are required: NAME\n"),  # not key=value
    (["cmd"], "the following arguments are required: DEVICE, NAME\n"),
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
    (["cmd", "node-1", "ping", "--timeout", "0"], "--timeout must be above 0 and at most 604800 (a week), in seconds"),
    (["flash", "--board", "esp32", "--firmware", "x.bin"], "--port is required for esp32"),
    (["flash", "--board", "unix", "--firmware", "x.bin"],
     "board unix is not flashed (it runs on the host)"),
    # checked before the port is opened (and the running node stopped): was exit 1, after
    (["config", "set", "keepalive", "--port", "/dev/null"], "expected KEY=VALUE, got 'keepalive'"),
    (["config", "set", "--port", "/dev/null", "=5"], "expected KEY=VALUE, got '=5'"),
    (["build", "--board", "unix", "--add", "/nonexistent"], "--add /nonexistent: not a directory"),
    # seconds and counts: were accepted (a negative wait, a monitor that never stops)
    (["flash", "--board", "rp2_pico_w", "--firmware", "x.uf2", "--wait", "-1"],
     "--wait must be above 0 and at most 604800 (a week), in seconds"),
    (["logs", "--port", "/dev/null", "--duration", "-1"], "--duration must be positive and finite"),
    (["logs", "--port", "/dev/null", "--duration", "0"], "--duration must be positive and finite"),
    (["monitor", "--count", "0"], "--count must be a positive number of messages"),
    (["monitor", "--count", "-1"], "--count must be a positive number of messages"),
    # was silently ignored: a UF2 copy erases nothing
    (["flash", "--board", "rp2_pico_w", "--firmware", "x.uf2", "--erase"],
     "--erase is for esptool boards: a UF2 copy cannot erase rp2_pico_w's flash (to wipe it, "
     "copy Raspberry Pi's flash_nuke.uf2 to the drive first)"),
    # an empty option was taken for no option: the default build dir deployed, the
    # port wait after a UF2 copy skipped
    (["build", "--board", "unix", "--out", ""], "--out must not be empty"),
    (["deploy", "--board", "unix", "--port", "/dev/null", "--build-dir", ""],
     "--build-dir must not be empty"),
    (["flash", "--board", "rp2_pico_w", "--firmware", "x.uf2", "--port", ""],
     "--port must not be empty"),
    (["monitor", "--cafile", "", "--url", "mqtts://127.0.0.1:1"], "--cafile must not be empty"),
    # a key no board has: refused before the port is opened (the node stopped)
    (["config", "get", "nokey", "--port", "/dev/null"],
     "no config key 'nokey'"),
    (["config", "get", "keepalive.x", "--port", "/dev/null"],
     "no config key 'keepalive.x': keepalive is not an object"),
    # the whole key, as `set` checks it (only its first part was: the port was opened)
    (["config", "get", "sensors.temperature.bogus", "--port", "/dev/null"],
     "no config key 'sensors.temperature.bogus': sensors.temperature has no key 'bogus' "
     "(known: high, hysteresis, interval_ms, low, qos)"),
    (["config", "get", "sensors.t.qos.x", "--port", "/dev/null"],
     "no config key 'sensors.t.qos.x': sensors.t.qos is not an object"),
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


def test_options_may_sit_between_positional_arguments():
    """`config set --port P keepalive=61` and `cmd DEV NAME --timeout 1 k=v` were refused as
    "unrecognized arguments" under the top-level usage."""
    from fieldnode import cli

    args = cli.parse_args(["config", "set", "--port", "P", "keepalive=61", "wifi_ssid=x"])
    assert (args.subcommand, args.action, args.items, args.port) == (
        "config", "set", ["keepalive=61", "wifi_ssid=x"], "P")
    args = cli.parse_args(["cmd", "node-1", "set_interval", "--timeout", "1",
                           "sensor=temperature", "interval_ms=5000"])
    assert (args.device, args.name, args.args, args.timeout) == (
        "node-1", "set_interval", ["sensor=temperature", "interval_ms=5000"], 1.0)
    assert args.run is not None and args.url
    # end to end: past argparse, to the port and the broker that are not there
    r = fieldnode("config", "set", "--port", "/nonexistent/tty", "keepalive=61")
    assert r.returncode == 1 and r.stderr == (
        "fieldnode config: serial port /nonexistent/tty not found (is the board plugged in?)\n")
    r = fieldnode("cmd", "node-1", "set_interval", "--timeout", "1", "sensor=temperature",
                  "interval_ms=5000", "--url", "mqtt://127.0.0.1:1")
    assert r.returncode == 1 and r.stderr.startswith("fieldnode cmd: no broker at mqtt://127.0.0.1:1")


@pytest.mark.parametrize("argv", [
    ["config", "set", "--port", "P", "keepalive=61", "--bogus"],
    ["cmd", "node-1", "ping", "--timeout", "1", "x=1", "--bogus"],
])
def test_unknown_arguments_between_positionals_exit_2_with_the_subcommand_usage(argv):
    r = fieldnode(*argv)
    assert r.returncode == 2
    assert r.stderr.startswith("usage: fieldnode %s " % argv[0])
    assert r.stderr.endswith("fieldnode %s: error: unrecognized arguments: --bogus\n" % argv[0])


@pytest.mark.parametrize("argv", [
    ["--dry-run", "config", "set", "keepalive=50", "--port", "/nonexistent/tty"],
    ["--bogus", "build", "--board", "unix", "--out", "OUT"],
])
def test_unknown_options_before_the_subcommand_exit_2_and_nothing_runs(argv, tmp_path):
    """They were dropped: `fieldnode --dry-run config set ...` wrote the config, exit 0."""
    out = tmp_path / "out"
    r = fieldnode(*[out if a == "OUT" else a for a in argv])
    assert r.returncode == 2
    assert r.stderr == ("usage: fieldnode [-h] SUBCOMMAND ...\n"
                        "fieldnode: error: unrecognized arguments: %s\n" % argv[0])
    # (before, build wrote OUT, and config set tried the port: exit 1, port not found)
    assert not out.exists()


def test_a_duration_longer_than_a_week_is_taken():
    """A month of `monitor`/`logs` output is a real use: only a timeout or a wait is
    capped (7263d12 refused it with exit 2)."""
    r = fieldnode("logs", "--port", "/nonexistent/ttyUSB9", "--duration", "2592000")
    assert (r.returncode, r.stderr) == (1, "fieldnode logs: serial port /nonexistent/ttyUSB9 "
                                           "not found (is the board plugged in?)\n")
