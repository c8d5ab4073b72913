"""`fieldnode cmd` against a real node (test_cli_node's: the built firmware on the unix port,
a real Mosquitto): set_config's key=value arguments as `config set` takes them, and a
closed stdout."""

import json
import os
import subprocess

from fieldnode_cli import fieldnode
from runtimes import tool
from test_cli_node import node  # noqa: F401  (the fixture: a node of this module's own)


def cmd(node, *args):
    return fieldnode("cmd", node["id"], *args, "--url", node["url"])


def test_cmd_set_config_takes_dotted_keys_and_text_keys_as_config_set_does(node):  # noqa: F811
    """`cmd ID set_config sensors.temperature.high=2600` went as the key
    "sensors.temperature.high" (rc 3 unknown key), and topic_prefix=2024 as a number
    (rc 3), where `fieldnode config set` takes both."""
    r = cmd(node, "set_config", "sensors.temperature.high=2600",
            "sensors.temperature.low=1000", "topic_prefix=2024")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["rc"] == 0
    r = cmd(node, "get_config")
    assert r.returncode == 0, r.stderr
    config = json.loads(r.stdout)["config"]
    temperature = config["sensors"]["temperature"]
    assert (temperature["high"], temperature["low"]) == (2600, 1000)
    assert temperature["interval_ms"] == 500            # the node's other settings kept
    assert config["sensors"]["humidity"]["high"] is None
    assert config["topic_prefix"] == "2024"             # (applies at the next boot)
    # the node still names a key it does not have
    r = cmd(node, "set_config", "sensors.temperature.colour=red")
    assert r.returncode == 1 and json.loads(r.stdout)["rc"] == 3


def closed_stdout(*argv):
    """`fieldnode ARGV` whose stdout is a pipe nobody reads (`| head` that has exited)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run([tool("fieldnode")] + list(argv), stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)


def test_cmd_with_its_output_closed_ends_quietly_with_the_answers_exit_code(node):  # noqa: F811
    """A closed stdout ended `cmd` with "it may be half done, run it again", exit 1: the
    command had run and been answered (advice to run a `reboot` again)."""
    r = closed_stdout("cmd", node["id"], "get_config", "--url", node["url"])
    assert (r.returncode, r.stderr) == (0, "")
    r = closed_stdout("cmd", node["id"], "set_interval", "sensor=pressure", "interval_ms=1000",
                      "--url", node["url"])
    assert r.returncode == 1
    assert r.stderr.startswith("fieldnode cmd: %s answered rc 3 (bad arguments): sensor:"
                               % node["id"]), r.stderr
    assert "half done" not in r.stderr and len(r.stderr.splitlines()) == 1
