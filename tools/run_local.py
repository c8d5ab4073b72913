"""`make run`: the node on the unix board against a local Mosquitto.

Uses the broker on 127.0.0.1:1883 (or MQTT_URL) when one listens there; otherwise
starts a private, empty Mosquitto on that port (log in .cache/run-broker/<port>) and stops
it on exit. Then runs firmware/main.py under the MicroPython unix port from the
venv, with lib/, firmware/ and boards/unix/ on its path, until Ctrl-C or, with
RUN_SECONDS=N, for N seconds followed by the same clean stop as Ctrl-C; a second
Ctrl-C is passed on to the node (it cuts its goodbye short), and a node still running
8 s after the first (_GOODBYE_S) is killed. A node that reboots (the `reboot` command) is
started again, reporting reset cause `hard_reset` as a board does; one that ends
otherwise ends the run, which says so. A bad MQTT_URL, RUN_SECONDS or DEVICE_ID is
refused on one line (exit 2) before anything starts.

The node's config directory is .cache/run-node/<device id> ($FIELDNODE_HOME); a
demo config.json (readings every 2-3 s, stats every 5 s) is written there when
it has none, and the simulated button is pressed every 7 s, so a short run shows
status, state, events and stats.

    DEVICE_ID=node-1 MQTT_URL=mqtt://127.0.0.1:1883 RUN_SECONDS=20 make run
    python tools/run_local.py [--port 1883] [--runtime micropython|cpython] [--heapsize 64k]
"""

import argparse
import ctypes
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))

from broker import Broker  # noqa: E402
from runtimes import command  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "lib"))
from mqtt5.transport import parse_url  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fieldnode.firmware import module  # noqa: E402  (firmware/config.py, as the CLI loads it)

DEMO_CONFIG = {"sensors": {"temperature": {"interval_ms": 2000, "high": 2300, "hysteresis": 50},
                           "humidity": {"interval_ms": 3000}},
               "stats_interval_ms": 5000, "will_delay": 2}
BUTTON_EVERY_S = 7
_REBOOT = 3  # the unix board's reset(): the `reboot` command
# The node's goodbye takes at most 6 s (firmware/main.py Node.stop(): 3 s for the
# `offline` ack, then Supervisor.stop(): 1 s for its task and Client.disconnect(): 2 s
# for the broker to close); it is killed (the last resort) 2 s after that
_GOODBYE_S = 8


def listening(host, port):
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--runtime", choices=("micropython", "cpython"), default="micropython")
    ap.add_argument("--heapsize", default="256k", help="MicroPython heap (default 256k)")
    args = ap.parse_args(argv)
    url = os.environ.get("MQTT_URL")
    if url:
        try:
            scheme, args.host, args.port = parse_url(url)
        except ValueError as e:
            print("run: MQTT_URL: %s" % e, file=sys.stderr)
            return 2
        if scheme != "mqtt":
            print("run: MQTT_URL: make run speaks plain MQTT (mqtt://host:port); for TLS "
                  "give the node a config with tls_ca (docs/config.md)", file=sys.stderr)
            return 2
    text = os.environ.get("RUN_SECONDS") or ""  # (unset or empty: until Ctrl-C)
    try:
        run_s = float(text) if text else 0
    except ValueError:
        run_s = -1
    if text and not 0 < run_s < math.inf:  # (nan, inf, <= 0: never, or at once)
        print("run: RUN_SECONDS: expected a positive number of seconds, got %r" % text,
              file=sys.stderr)
        return 2
    name = "DEVICE_ID" if os.environ.get("DEVICE_ID") else "FIELDNODE_DEVICE_ID"
    device = os.environ.get(name) or "unix-node"
    why = _bad_device_id(device)
    if why:
        print("run: %s: %s" % (name, why), file=sys.stderr)
        return 2

    broker = node = None
    # `kill`, a closed terminal or a process manager stop `make run` as Ctrl-C does:
    # without this the node outlived us (still `online`, reconnecting for ever)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stopped_by)
    try:
        if listening(args.host, args.port):
            print("run: using the broker already listening on %s:%d" % (args.host, args.port))
        elif args.host not in ("127.0.0.1", "localhost"):
            sys.exit("run: nothing listens on %s:%d" % (args.host, args.port))
        else:
            # No persistence: every `make run` starts from an empty broker, so the
            # retained messages seen are this run's.
            # a folder per port: runs on other ports keep their own conf and log
            broker = Broker(os.path.join(ROOT, ".cache", "run-broker", str(args.port)),
                            port=args.port,
                            log_types=("error", "warning", "notice"))
            broker.start()
            print("run: started Mosquitto on %s:%d (log: %s)"
                  % (args.host, args.port, broker.log_path))
        where = "[%s]" % args.host if ":" in args.host else args.host  # (IPv6)
        print("run: watch it with: mosquitto_sub -h %s -p %d -V mqttv5 -t 'fieldnode/#' -v"
              % (args.host, args.port))
        print("run:            or: .venv/bin/fieldnode monitor --url mqtt://%s:%d"
              % (where, args.port))
        sys.stdout.flush()

        argv_, env = command(args.runtime, os.path.join(ROOT, "firmware", "main.py"),
                             heapsize=args.heapsize)
        env["FIELDNODE_BROKER"] = url or "mqtt://%s:%d" % (args.host, args.port)
        if os.environ.get("DEVICE_ID"):
            env["FIELDNODE_DEVICE_ID"] = os.environ["DEVICE_ID"]
        home = env.setdefault("FIELDNODE_HOME", os.path.join(ROOT, ".cache", "run-node", device))
        os.makedirs(os.path.join(home, "sim"), exist_ok=True)
        if not os.path.exists(os.path.join(home, "config.json")):
            with open(os.path.join(home, "config.json"), "w") as f:
                json.dump(DEMO_CONFIG, f)
        print("run: node %s, config in %s%s" % (device, home,
              ", stopping after %g s" % run_s if run_s else " (Ctrl-C to stop)"))
        sys.stdout.flush()
        # its own process group: a signal to ours (a closed terminal's SIGHUP, a service
        # manager's SIGTERM) reaches us only, and we hand the node one Ctrl-C
        deadline = time.monotonic() + run_s if run_s else None
        while True:
            node = subprocess.Popen(argv_, env=env, cwd=ROOT, preexec_fn=_node_child,
                                    process_group=0)
            rc = _drive(node, home, deadline, run_s)
            if rc != _REBOOT or (deadline and time.monotonic() >= deadline):
                break
            # the `reboot` command: a board comes back by itself, so the node here does
            # too, and says why as a board does (the unix board reads it from here)
            env["FIELDNODE_RESET_CAUSE"] = "hard_reset"
            print("run: the node rebooted (status 3): starting it again", flush=True)
        if rc and not (deadline and time.monotonic() >= deadline):
            print("run: the node exited by itself, status %d%s (its log above says why)"
                  % (rc, " (killed: its watchdog)" if rc == -signal.SIGKILL else ""),
                  flush=True)
        return 0 if rc == _REBOOT else rc
    except (KeyboardInterrupt, _Stopped) as e:
        return _interrupted(node, getattr(e, "signum", signal.SIGINT))
    finally:
        # a Ctrl-C (or another signal) must not cut the cleanup short: it is bounded
        # (the node's goodbye _GOODBYE_S, the broker's stop 10 s)
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        if broker is not None:
            broker.stop()
            print("run: stopped the private Mosquitto")


_PARENT = os.getpid()


def _node_child():
    # In the node before exec (Linux): a Ctrl-C (its goodbye) when we die, however we
    # die (SIGKILL too), so that no node outlives `make run`
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != _PARENT:  # we died before prctl took effect
        os.kill(os.getpid(), signal.SIGINT)


class _Stopped(Exception):
    def __init__(self, signum):
        Exception.__init__(self, signum)
        self.signum = signum


def _stopped_by(signum, frame):
    raise _Stopped(signum)


def _bad_device_id(device):
    # The node's check of the board's id (firmware/main.py, config.validate): before,
    # `a/b` made .cache/run-node/a/b and a node that exited 1. The id names a folder too.
    config = module("config")
    try:
        config.validate({"device_id": device})
    except config.ConfigError as e:
        return str(e).replace("device_id: ", "", 1)
    if device in (".", ".."):
        return "%r cannot name its folder .cache/run-node/<device id>" % device
    return None


def _interrupted(node, signum):
    # The node says offline and disconnects, as on Ctrl-C; exit status 128 + signal
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
    if node is None:
        print("run: interrupted (%s) before the node started" % name, flush=True)
        return 128 + signum
    print("run: interrupted (%s): stopping the node" % name, flush=True)
    _goodbye(node)
    return 128 + signum


def _goodbye(node):
    # One Ctrl-C to the node (its own process group: the terminal's reached us only),
    # then its goodbye; a second Ctrl-C is passed on (the node closes its link, the
    # broker publishes the will), as the terminal would if the node were in our group
    signal.signal(signal.SIGINT, lambda signum, frame: node.send_signal(signal.SIGINT))
    node.send_signal(signal.SIGINT)
    try:
        return node.wait(timeout=_GOODBYE_S)
    except subprocess.TimeoutExpired:
        print("run: the node did not stop within %d s: killed (the broker publishes its "
              "will)" % _GOODBYE_S, flush=True)
        node.kill()
        return node.wait()


def _drive(node, home, deadline, run_s):
    # press the simulated button now and then; stop like Ctrl-C at the deadline
    press = time.monotonic() + BUTTON_EVERY_S
    while node.poll() is None:
        now = time.monotonic()
        if deadline and now >= deadline:
            print("run: %g s are up: stopping the node (as Ctrl-C does)" % run_s, flush=True)
            for sig in (signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)  # (the goodbye is under way)
            return _goodbye(node)
        if now >= press:
            press = now + BUTTON_EVERY_S
            open(os.path.join(home, "sim", "button"), "w").close()
        time.sleep(0.2)
    return node.returncode


if __name__ == "__main__":
    sys.exit(main())
