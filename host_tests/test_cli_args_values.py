"""fieldnode's KEY=VALUE items: `config set` refuses a value wrong on any board before
opening the port and leaves to the board what needs it; values are taken as written
(text keys, numbers that are not JSON); `cmd ... set_config` nests and types them as
`config set` does. No board or broker needed."""

import pytest

from fieldnode_cli import fieldnode


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
