"""Run the real firmware (firmware/main.py on the unix board) as a process for tests.

    node = NodeProc(runtime, broker, tmp_path, config={...}, device="n1")
    node.wait_log("online")          # lines the node printed (stdout + stderr)
    node.press_button(); node.set_sensor("temperature", 2500)
    node.interrupt()                 # Ctrl-C: offline + DISCONNECT 0x00
    NodeProc(..., repl=True)         # then a REPL on the node's stdin (node.type(...))
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

from runtimes import M32_FROZEN, ROOT, command

# host side: the firmware's payload and config modules are shared with the tests
sys.path.insert(0, os.path.join(ROOT, "firmware"))

MAIN = os.path.join(ROOT, "firmware", "main.py")
# short cadences so tests stay fast
FAST = {"sensors": {"temperature": {"interval_ms": 500}, "humidity": {"interval_ms": 700}},
        "stats_interval_ms": 1000, "will_delay": 1, "keepalive": 5}
# A node at rest: readings and stats 10 minutes apart (the first ones still go out at
# once). For tests that Ctrl-C a node: the PyPI unix port raises Ctrl-C from its signal
# handler, and one landing in a heap allocation leaves the heap locked or hangs it (2 of
# 150 SIGINTs to a process that allocates without pause; 0 of 150 for the 32-bit build
# from source, which raises it between bytecodes as boards do; test_interrupts.py)
_SLOW = {"interval_ms": 600000}
RESTING = {"stats_interval_ms": 600000, "sensors": {"temperature": _SLOW, "humidity": _SLOW}}


STARTED = []  # the nodes the running test started: conftest shows their output on failure
# The MicroPython heap of a test node. On the 64-bit port that compiles the firmware
# from source, 256k sat at the edge: a module first loaded at a reconnect (the resend
# backlog of a resumed session) found no 1,280-byte block for its compile now and then,
# and the node went from link to link. Boards run frozen code, which needs no compile;
# the real margins are measured on the 32-bit frozen build (test_heap_exhaustion.py's
# 64 KiB node, make bench's minimum heap).
HEAP = "320k"


class NodeProc:
    def __init__(self, runtime, broker, home, config=None, device="node", heapsize=HEAP,
                 mpy=False, write_config=True, repl=False):
        self.home = str(home)
        self.device = device
        self.base = "fieldnode/v1/" + device
        os.makedirs(os.path.join(self.home, "sim"), exist_ok=True)
        if write_config:
            with open(self.config_path, "w") as f:
                json.dump(FAST if config is None else config, f)
        argv, env = command(runtime, MAIN, heapsize=heapsize, mpy=mpy)
        if runtime == M32_FROZEN:  # the frozen `main`, as a flashed board boots it
            argv[argv.index(MAIN)] = "-m"
            argv.insert(argv.index("-m") + 1, "main")
        if repl:  # -i: a REPL on stdin once main.py ends, as a board gives after Ctrl-C
            argv.insert(argv.index("-m" if runtime == M32_FROZEN else MAIN), "-i")
        env.update(FIELDNODE_HOME=self.home, FIELDNODE_DEVICE_ID=device,
                   FIELDNODE_BROKER=broker.url)
        self.lines = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                     stdin=subprocess.PIPE if repl else None,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1,
                                     start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        STARTED.append(self)

    @property
    def config_path(self):
        return os.path.join(self.home, "config.json")

    def _read(self):
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def output(self):
        with self._cond:
            return "\n".join(self.lines)

    def count(self, text):
        with self._cond:
            return sum(1 for ln in self.lines if text in ln)

    def wait_log(self, text, count=1, timeout=20):
        """Wait until `text` was printed `count` times; AssertionError after the
        timeout, or soon after the node exited without printing it."""
        end = time.monotonic() + timeout
        exited = None
        with self._cond:
            while sum(1 for ln in self.lines if text in ln) < count:
                now = time.monotonic()
                if exited is None and self.proc.poll() is not None:
                    exited = now  # give the reader thread a moment to drain
                if now >= end or (exited is not None and now - exited > 0.5):
                    raise AssertionError("node never logged %r (x%d); output:\n%s"
                                         % (text, count, "\n".join(self.lines[-80:])))
                self._cond.wait(min(end - now, 0.2))

    def press_button(self):
        open(os.path.join(self.home, "sim", "button"), "w").close()

    def set_sensor(self, name, value):
        self.sim_write(name, value)

    def sim_write(self, name, value):
        """Put ``value`` in sim/<name> whole: written aside, then renamed, so the
        node never reads the empty file that open(..., "w") leaves for a moment."""
        path = os.path.join(self.home, "sim", name)
        with open(path + ".part", "w") as f:
            f.write(str(value))
        os.replace(path + ".part", path)

    def hang(self):
        open(os.path.join(self.home, "sim", "hang"), "w").close()

    def type(self, line):
        """Send ``line`` to the REPL of a node started with ``repl=True``."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def wait(self, timeout=20):
        """The exit status, once the node has exited and all it printed is in
        `output` (its last lines may still be in the pipe when it exits)."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("node still running after %s s; its output ends:\n%s"
                                 % (timeout, self.output[-3000:]))
        self._reader.join(5)
        return rc

    def interrupt(self, timeout=20):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        return self.wait(timeout)

    def kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        return self.wait(None)


def cut_off(proxy, node):
    """The broker gone for `node`, which connects through `proxy` (host_tests/fault_proxy.py):
    new connections refused, the link cut; returns once the node logs its link down."""
    proxy.refuse(True)
    proxy.cut()
    node.wait_log("link down")


def watch(broker, device, name="watch-"):
    """A started PahoPeer subscribed (QoS 1) to everything under the node's base."""
    from paho_peer import PahoPeer

    peer = PahoPeer(broker, name + device).start()
    peer.subscribe("fieldnode/v1/%s/#" % device, qos=1)
    peer.subscribe("reply/" + device, qos=1)  # answers to ask()
    return peer


def ask(peer, device, name, cid, payload=b""):
    """Send command `name` to `device` from a watch() peer; its answer (the Message),
    the n-th on reply/<device> for the n-th ask."""
    reply = "reply/" + device
    n = len(peer.on(reply))
    peer.publish("fieldnode/v1/%s/cmd/%s" % (device, name), payload, qos=1,
                 correlation_data=cid, response_topic=reply)
    return peer.wait_messages(reply, n + 1)[-1]
