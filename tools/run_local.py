"""`make run`: the node on the unix board against a local Mosquitto.

Uses the broker on 127.0.0.1:1883 when one listens there; otherwise starts a
private, empty Mosquitto on that port (log in .cache/run-broker) and stops it on exit.
Then runs firmware/main.py under the MicroPython unix port from the venv, with
lib/, firmware/ and boards/unix/ on its path, until Ctrl-C.

    python tools/run_local.py [--port 1883] [--runtime micropython|cpython] [--heapsize 64k]
"""

import argparse
import os
import signal
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))

from broker import Broker  # noqa: E402
from runtimes import command  # noqa: E402


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

    broker = None
    if listening(args.host, args.port):
        print("run: using the broker already listening on %s:%d" % (args.host, args.port))
    elif args.host != "127.0.0.1":
        sys.exit("run: nothing listens on %s:%d" % (args.host, args.port))
    else:
        # No persistence: every `make run` starts from an empty broker, so the
        # retained messages seen are this run's.
        broker = Broker(os.path.join(ROOT, ".cache", "run-broker"), port=args.port,
                        log_types=("error", "warning", "notice"))
        broker.start()
        print("run: started Mosquitto on %s:%d (log: %s)" % (args.host, args.port, broker.log_path))
    print("run: watch it with: mosquitto_sub -V mqttv5 -t '#' -v")
    sys.stdout.flush()

    argv_, env = command(args.runtime, os.path.join(ROOT, "firmware", "main.py"),
                         heapsize=args.heapsize)
    env.setdefault("FIELDNODE_BROKER", "mqtt://%s:%d" % (args.host, args.port))
    node = subprocess.Popen(argv_, env=env, cwd=ROOT)
    try:
        return node.wait()
    except KeyboardInterrupt:
        # Ctrl-C reached the node too (same process group): let it say offline.
        try:
            return node.wait(timeout=5)
        except subprocess.TimeoutExpired:
            node.send_signal(signal.SIGKILL)
            return node.wait()
    finally:
        if broker is not None:
            broker.stop()
            print("run: stopped the private Mosquitto")


if __name__ == "__main__":
    sys.exit(main())
