"""The pty board of the CLI's serial tests (test_cli_deploy*, test_cli_config,
test_cli_config_files, test_cli_logs_and_ports): where things are on its filesystem, a
deploy to it, and the counts a deploy reports. Its fixtures (bundle, device,
node_device) are in conftest.py."""

import os
import re

from fieldnode_cli import fieldnode

CONFIG_DIR = os.path.join(".cache", "fieldnode-home", "unix-node")   # board.config_dir() default
LISTING = "fieldnode_files.json"    # on the board: what Fieldnode's deploys put there


def bundle_files(root):
    """A bundle's files (or a board's, without deploy's own list of them)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() and p.name not in ("package.json", LISTING))


def deploy(device, build_dir):
    return fieldnode("deploy", "--board", "unix", "--port", device.port, "--build-dir", build_dir,
                     "--no-reset")


def counts(out):
    m = re.search(r"deploy: (\d+) files, (\d+) changed, (\d+) unchanged", out)
    return tuple(int(x) for x in m.groups())


def config_file(device, name="config.json"):
    return device.fs / CONFIG_DIR / name


def one_line_error(r, code, line):
    assert r.returncode == code, r.stdout + r.stderr
    assert r.stderr == "fieldnode config: %s\n" % line and "Traceback" not in r.stderr
