"""A real Mosquitto broker for tests: started on a free loopback port from a
generated config, stopped by pid.

Configs are composable: ``Broker(tmp, persistence=True)`` keeps its data and can
be killed and restarted on the same port; ``options`` adds listener-level lines
(``max_inflight_messages 5``), ``extra_config`` adds whole blocks (TLS, password
file, ACL listeners). Every broker started here is also killed when the test
process dies (PR_SET_PDEATHSIG) or exits (atexit), so no mosquitto outlives a run.
"""

import atexit
import ctypes
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import time

_LIVE = set()          # brokers whose process is running, for the failure hook


def find_mosquitto():
    """Path of the mosquitto binary (Debian puts it in /usr/sbin)."""
    path = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.access(path, os.X_OK):
        raise RuntimeError("mosquitto not found: run `make test` (it apt-get installs it)")
    return path


_GIVEN = set()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now. Under pytest-xdist
    each worker picks from its own range below the kernel's ephemeral ports (32768
    and up), never twice the same, so a port one worker picked and has not bound yet
    is never the other's pick (bind(0) would draw both from one pool)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ...
    if not worker[2:].isdigit():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1))
    span = 20000 // count
    base = 10000 + span * (int(worker[2:]) % count)  # within 10000..29999
    for _ in range(200):
        port = random.randrange(base, base + span)
        if port in _GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError("no free port in %d..%d" % (base, base + span - 1))


def _die_with_parent():
    # Runs in the child before exec: SIGKILL it when the test process dies,
    # however it dies (Ctrl-C, SIGKILL, crash).
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    os.setpgrp()        # Ctrl-C in the terminal reaches pytest, not the broker


class Broker:
    """One mosquitto process with its own directory, config and log."""

    def __init__(self, workdir, port=None, persistence=False, options=(),
                 extra_config="", allow_anonymous=True, log_types=("all",)):
        self.workdir = str(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.persistence = persistence
        self.options = list(options)
        self.extra_config = extra_config
        self.allow_anonymous = allow_anonymous
        self.log_types = log_types
        self.config_path = os.path.join(self.workdir, "mosquitto.conf")
        self.log_path = os.path.join(self.workdir, "mosquitto.log")
        self.proc = None

    @property
    def url(self):
        return "mqtt://%s:%d" % (self.host, self.port)

    def config_text(self):
        lines = [
            # Stay the user who runs the tests: a root-started mosquitto would
            # switch to user "mosquitto", lose access to this directory, and
            # (credentials changed) lose its parent-death signal.
            "user %s" % pwd.getpwuid(os.getuid()).pw_name,
            "per_listener_settings false",
            "allow_anonymous %s" % ("true" if self.allow_anonymous else "false"),
            "log_dest file %s" % self.log_path,
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            "connection_messages true",
        ]
        lines += ["log_type %s" % t for t in self.log_types]
        if self.persistence:
            lines += [
                "persistence true",
                "persistence_location %s/" % self.workdir,
                # Save at every change Mosquitto counts (subscriptions, retained and
                # queued messages; not QoS 2 flow steps), so that a SIGKILL after a
                # quiet second loses nothing the broker acknowledged.
                "autosave_on_changes true",
                "autosave_interval 1",
            ]
        lines.append("listener %d %s" % (self.port, self.host))
        lines += self.options
        if self.extra_config:
            lines.append(self.extra_config)
        return "\n".join(lines) + "\n"

    def start(self, timeout=10.0):
        """Start the broker and wait until it accepts TCP connections."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        with open(self.config_path, "w") as f:
            f.write(self.config_text())
        self.proc = subprocess.Popen(
            [find_mosquitto(), "-c", self.config_path],
            stdout=subprocess.DEVNULL, stderr=open(self.log_path + ".stderr", "ab"),
            preexec_fn=_die_with_parent, cwd=self.workdir)
        _LIVE.add(self)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                _LIVE.discard(self)
                raise RuntimeError("mosquitto exited with %s:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("mosquitto did not listen on %d:\n%s"
                                       % (self.port, self.log_tail()))
                time.sleep(0.02)

    def _signal(self, sig, timeout=10.0):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        _LIVE.discard(self)

    def stop(self):
        """Graceful stop (SIGTERM): a persistent broker saves its data."""
        self._signal(signal.SIGTERM)

    def kill(self):
        """Hard crash (SIGKILL): only what was already saved survives."""
        self._signal(signal.SIGKILL)

    def restart(self, hard=False):
        """Stop (or kill) and start again on the same port with the same data."""
        self.kill() if hard else self.stop()
        return self.start()

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        """The whole broker log so far (str)."""
        text = ""
        for path in (self.log_path, self.log_path + ".stderr"):
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    text += f.read()
        return text

    def wait_log(self, text, timeout=5.0):
        """Wait until the broker has logged `text` (it logs a packet a moment after
        the client sent it); AssertionError with the log's tail after `timeout`."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            assert time.monotonic() < deadline, "broker never logged %r:\n%s" % (
                text, self.log_tail(10))
            time.sleep(0.02)

    def log_tail(self, lines=60):
        return "\n".join(self.log().splitlines()[-lines:])


def _kill_all():
    for b in list(_LIVE):
        b.kill()


atexit.register(_kill_all)
