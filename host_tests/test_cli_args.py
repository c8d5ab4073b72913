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


@pytest.mark.parametrize("item, message", [
    ("keepalive=abc", "keepalive: expected an integer, got 'abc'"),
    ("watchdog_ms=5", "watchdog_ms: 0 (none) or 1000..600000, got 5"),
    ("keepalive.x=3", "keepalive is not an object: no key 'x' in it"),
    ("colour=blue", "unknown key 'colour'"),
    ("topic_prefix=$SYS", "topic_prefix: '$SYS' must not start with '$' (topics starting with $ "
     "are the broker's)"),
    ("device_id=a/b", "device_id: 'a/b' must not contain '/'"),
    ("sensors.t.bogus=1", "sensors.t: unknown key 'bogus' (known: high, hysteresis, "
     "interval_ms, low, qos)"),
    ("sensors.t.interval_ms=5", "sensors.t.interval_ms: 5 is out of range 200..86400000"),
    ("sensors=[]", "sensors: expected an object of sensor name -> settings"),
    ("tls_insecure=yes", "tls_insecure: expected true or false, got 'yes'"),
])
def test_config_set_refuses_a_value_wrong_on_any_board_before_opening_the_port(item, message):
    """These opened the port, stopping the running node, to be refused there (exit 1);
    /dev/null is no serial port, so reaching it would fail otherwise."""
    r = fieldnode("config", "set", "keepalive=60", item, "--port", "/dev/null")
    assert r.returncode == 2
    assert r.stderr == "fieldnode config: refused, nothing written: %s\n" % message


@pytest.mark.parametrize("item", ["sensors.t.high=5", "brokers=[\"mqtts://h:8883\"]",
                                  "tls_cert=/c.pem", "password=***"])
def test_config_set_leaves_checks_that_need_the_board_to_the_board(item):
    # a sensor the board may have, a CA or key it may hold, a secret kept as it is
    r = fieldnode("config", "set", item, "--port", "/nonexistent/tty")
    assert r.returncode == 1
    assert r.stderr == ("fieldnode config: serial port /nonexistent/tty not found (is the "
                        "board plugged in?)\n")


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
PERCENT = ("broker URL: a / ? or # in the user name or password must be percent-encoded "
           "(%2F %3F %23), got ")


@pytest.mark.parametrize("argv, message", [
    (["cmd", "unix-node", "ping", "--url", "mqtt://127.0.0.1:abc"],
     URL_FORM + ", got 'mqtt://127.0.0.1:abc'"),
    (["monitor", "--url", "mqtt://127.0.0.1:70000"], URL_FORM + ", got 'mqtt://127.0.0.1:70000'"),
    (["monitor", "--url", "mqtt://127.0.0.1:0"], URL_FORM + ", got 'mqtt://127.0.0.1:0'"),
    (["monitor", "--url", "http://example.com"], URL_FORM + ", got 'http://example.com'"),
    (["cmd", "node-1", "ping", "--url", "mqtt://:1883"], URL_FORM + ", got 'mqtt://:1883'"),
    (["cmd", "unix-node", "a/#"], "command name: 'a/#' must not contain '#'"),
    (["cmd", "unix-node", "get/state"], "command name: 'get/state' must not contain '/'"),
    (["cmd", "x+", "ping"], "device id: 'x+' must not contain '+'"),
    (["cmd", "", "ping"], "device id must not be empty"),
    (["cmd", "node-1", ""], "command name must not be empty"),
    (["cmd", "node-1", "ping", "--prefix", "site/+"], "--prefix: 'site/+' must not contain '+'"),
    (["cmd", "node-1", "ping", "--prefix", "$SYS"],  # waited out its timeout before
     "--prefix: '$SYS' must not start with '$' (topics starting with $ are the broker's)"),
    (["cmd", "node-1", "ping", "--timeout", "inf"], "--timeout must be above 0 and at most 604800 (a week), in seconds"),
    (["monitor", "--device", "a/b"], "--device: 'a/b' must not contain '/'"),
    (["monitor", "--device", "#"], "--device: '#' must not contain '#'"),
    (["monitor", "--prefix", ""], "--prefix must not be empty"),
    (["monitor", "--duration", "nan"], "--duration must be positive and finite"),
    # a password in a bad URL is not echoed, also one holding a / or an @
    (["monitor", "--url", "mqtt://me:se/cr@t@127.0.0.1:0"], PERCENT +
     "'mqtt://me:***@127.0.0.1:0'"),
    (["monitor", "--url", "mqtt://me:se@cr@127.0.0.1:0"], URL_FORM + ", got "
     "'mqtt://me:***@127.0.0.1:0'"),
    # bytes that are not UTF-8 (a traceback when the request was encoded)
    (["cmd", "node-1", "set_config", "device_id=\udcff"], "arguments must be UTF-8 text"),
    # were tracebacks (urllib's ValueError, the idna codec, paho's topic checks, the
    # struct of a Message Expiry Interval, socket.settimeout), some after connecting
    (["monitor", "--url", "mqtt://[::1"], URL_FORM + ", got 'mqtt://[::1'"),
    (["cmd", "node-1", "ping", "--url", "mqtt://[zz]:1"], URL_FORM + ", got 'mqtt://[zz]:1'"),
    (["monitor", "--url", "mqtt://a\udcffb:1883"], URL_FORM + ", got 'mqtt://a\\udcffb:1883'"),
    (["monitor", "--url", "mqtt://%s:1883" % ("h" * 64)],
     URL_FORM + ", got 'mqtt://%s:1883'" % ("h" * 64)),
    (["cmd", "a\udcffb", "ping"], "device id must be UTF-8 text"),
    (["cmd", "node-1", "p\udcff"], "command name must be UTF-8 text"),
    (["monitor", "--prefix", "x\udcff"], "--prefix must be UTF-8 text"),
    (["monitor", "--device", "d" * 70000], "--device must be at most 64 characters, got 70000"),
    (["cmd", "d" * 65, "ping"], "device id must be at most 64 characters, got 65"),
    (["cmd", "node-1", "ping", "--timeout", "5000000000"],
     "--timeout must be above 0 and at most 604800 (a week), in seconds"),
    (["cmd", "node-1", "ping", "--timeout", "1e12"],
     "--timeout must be above 0 and at most 604800 (a week), in seconds"),
    (["monitor", "--duration", "inf"], "--duration must be positive and finite"),
    # a raw / ? or # in a password ends the host part: the message showed a URL that
    # looked right (and mqtt://user/x@h connected to the host "user")
    (["monitor", "--url", "mqtt://u:pa/ss@127.0.0.1:18832"], PERCENT + "'mqtt://u:***@127.0.0.1:18832'"),
    (["cmd", "node-1", "ping", "--url", "mqtt://u:p?w@h"], PERCENT + "'mqtt://u:***@h'"),
    (["monitor", "--url", "mqtt://u:p#w@h:1"], PERCENT + "'mqtt://u:***@h:1'"),
    (["monitor", "--url", "mqtt://user/x@h"], PERCENT + "'mqtt://user/x@h'"),
])
def test_broker_url_and_topic_parts_are_checked_before_connecting(argv, message):
    """Refused before any connection is tried: these raised a traceback from urllib or
    paho, waited for ever, or watched a topic no device publishes."""
    r = fieldnode(*argv)
    assert r.returncode == 2
    assert r.stderr == "fieldnode %s: %s\n" % (argv[0], message)


def test_a_bad_broker_url_from_the_environment_says_where_it_came_from():
    r = fieldnode("cmd", "node-1", "ping", env={"FIELDNODE_BROKER": "garbage"})
    assert r.returncode == 2
    assert r.stderr == "fieldnode cmd: %s, got 'garbage' (from $FIELDNODE_BROKER)\n" % URL_FORM


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


@pytest.mark.parametrize("key, text, value", [
    ("wifi_password", "12345678", "12345678"),     # was refused: "expected a string"
    ("wifi_ssid", "1e3", "1e3"),
    ("wifi_ssid", "true", "true"),
    ("username", '"quoted"', '"quoted"'),
    ("username", "null", None),                    # a key whose default is null: cleared
    ("wifi_password", "null", "null"),             # its default is "": text
    ("keepalive", "60", 60),
    ("brokers", '["mqtt://h:1883"]', ["mqtt://h:1883"]),
    ("sensors.temperature.interval_ms", "5000", 5000),
    ("keepalive", "soon", "soon"),                 # refused later by the schema, naming it
])
def test_config_values_of_text_keys_are_taken_as_written(key, text, value):
    from fieldnode.configure import parse_value

    assert parse_value(text, key) == value
    assert parse_value("12345678") == 12345678      # cmd arguments (no schema): JSON


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999",
                                  "[1, 1e400]", '{"x": NaN}'])
def test_values_that_python_reads_as_numbers_but_are_not_json_are_text(text):
    """`cmd DEV ping x=NaN` sent {"x": NaN}, which is not JSON: the node answered
    "payload is not JSON". Python's json reads NaN, Infinity, and 1e999 as inf."""
    from fieldnode.configure import parse_value

    assert parse_value(text) == text
    assert parse_value("1e308") == 1e308 and parse_value("-0.5") == -0.5


@pytest.mark.parametrize("item, message", [
    ("keepalive=NaN", "keepalive: expected an integer, got 'NaN'"),     # was: got nan
    ("sensors.t.high=1e999", "sensors.t.high: expected an integer, got '1e999'"),  # got inf
])
def test_config_set_names_a_non_json_number_as_written(item, message):
    r = fieldnode("config", "set", item, "--port", "/dev/null")
    assert r.returncode == 2
    assert r.stderr == "fieldnode config: refused, nothing written: %s\n" % message


@pytest.mark.parametrize("argv, message", [
    (["monitor", "--url", "mqtt://127.0.0.1:1883", "--cafile", "ca.pem"],
     "--cafile is a TLS option: the URL must be mqtts://, got 'mqtt://127.0.0.1:1883'"),
    (["monitor", "--url", "mqtt://h", "--cert", "c.pem", "--key", "k.pem", "--insecure"],
     "--cert, --key, --insecure are TLS options: the URL must be mqtts://, got 'mqtt://h'"),
    (["cmd", "node-1", "ping", "--url", "mqtts://h", "--cert", "c.pem"],
     "--cert needs --key (the client certificate's private key)"),
    (["cmd", "node-1", "ping", "--url", "mqtts://h", "--key", "k.pem"],
     "--key needs --cert (the client certificate)"),
    (["cmd", "node-1", "ping", "--url", "mqtts://h", "--cafile", "/nonexistent/ca.pem"],
     "--cafile /nonexistent/ca.pem: no such file"),
    (["monitor", "--url", "mqtts://h", "--cafile", "/"], "--cafile /: a directory, not a file"),
    (["monitor", "--url", "mqtts://h", "--cert", "/nonexistent/c.pem", "--key", "/nonexistent/k"],
     "--cert /nonexistent/c.pem: no such file"),
    # the other arguments are checked first
    (["cmd", "node-1", "ping", "--url", "mqtts://h", "--cert", "c.pem", "--timeout", "0"],
     "--timeout must be above 0 and at most 604800 (a week), in seconds"),
])
def test_tls_options_are_checked_before_connecting(argv, message):
    """TLS options (mosquitto_sub's names) only with mqtts://, --cert with --key, files that
    can be read: else exit 2 before any connection (the host `h` is never looked up)."""
    r = fieldnode(*argv)
    assert r.returncode == 2
    assert r.stderr == "fieldnode %s: %s\n" % (argv[0], message)


@pytest.mark.parametrize("name", ["monitor", "cmd"])
def test_tls_options_in_help(name):
    r = fieldnode(name, "--help")
    assert r.returncode == 0
    for option in ("--cafile FILE", "--cert FILE", "--key FILE", "--insecure"):
        assert "\n  %s " % option in r.stdout
    assert "NOT verified" in r.stdout
    r = fieldnode(name, "--cafile")
    assert r.returncode == 2 and "argument --cafile: expected one argument" in r.stderr


def test_a_duration_longer_than_a_week_is_taken():
    """A month of `monitor`/`logs` output is a real use: only a timeout or a wait is
    capped (7263d12 refused it with exit 2)."""
    r = fieldnode("logs", "--port", "/nonexistent/ttyUSB9", "--duration", "2592000")
    assert (r.returncode, r.stderr) == (1, "fieldnode logs: serial port /nonexistent/ttyUSB9 "
                                           "not found (is the board plugged in?)\n")


NO_PLACE = "broker URL: %r has no place in mqtt[s]://host[:port] (MQTT has no path, query or " \
           "fragment), got %r"


@pytest.mark.parametrize("argv, message", [
    (["monitor", "--url", "mqtt://h:1883/ws"], NO_PLACE % ("/ws", "mqtt://h:1883/ws")),
    (["cmd", "node-1", "ping", "--url", "mqtts://h/a/b"], NO_PLACE % ("/a/b", "mqtts://h/a/b")),
    (["monitor", "--url", "mqtt://h:1883?x=1"], NO_PLACE % ("?x=1", "mqtt://h:1883?x=1")),
    (["monitor", "--url", "mqtt://h#top"], NO_PLACE % ("#top", "mqtt://h#top")),
    (["monitor", "--url", "mqtt://h//"], NO_PLACE % ("//", "mqtt://h//")),
    # with a user name and password (taken, percent-encoded): the password not echoed
    (["cmd", "node-1", "ping", "--url", "mqtt://me:p%2Fw@h:1883/ws"],
     NO_PLACE % ("/ws", "mqtt://me:***@h:1883/ws")),
])
def test_a_broker_url_with_a_path_query_or_fragment_is_refused(argv, message):
    """mqtt://h:1883/ws was taken and the /ws dropped without a word (the node's config
    refuses it: firmware/config.py)."""
    r = fieldnode(*argv)
    assert (r.returncode, r.stderr) == (2, "fieldnode %s: %s\n" % (argv[0], message))


def test_a_broker_url_with_a_trailing_slash_is_taken(broker):
    r = fieldnode("monitor", "--url", broker.url + "/", "--duration", 0.3)
    assert r.returncode == 0, r.stderr
    user = broker.url.replace("//", "//me:p%2Fw@") + "/"    # (anonymous: the user is ignored)
    r = fieldnode("cmd", "nobody", "ping", "--url", user, "--timeout", 0.5)
    assert r.returncode == 1 and "no answer from nobody" in r.stderr, r.stderr


def test_cmd_set_config_arguments_are_nested_and_typed_as_config_set_takes_them():
    """`cmd ID set_config sensors.temperature.high=2600` sent the key
    "sensors.temperature.high" (rc 3 unknown key), where `config set` takes it; a text
    key's digits went as a number (rc 3). Other commands' arguments are sent as given."""
    from fieldnode import cli, command

    args = cli.parse_args(["cmd", "node-1", "set_config", "sensors.temperature.high=2600",
                           "sensors.temperature.low=1000", "sensors.humidity.interval_ms=5000",
                           "topic_prefix=2024", "stats_interval_ms=60000"])
    kwargs, tls = command.check_args(args)
    assert kwargs == {"sensors": {"temperature": {"high": 2600, "low": 1000},
                                  "humidity": {"interval_ms": 5000}},
                      "topic_prefix": "2024", "stats_interval_ms": 60000} and tls is None
    args = cli.parse_args(["cmd", "node-1", "my_command", "a.b=1", "n=2024"])
    assert command.check_args(args)[0] == {"a.b": 1, "n": 2024}
