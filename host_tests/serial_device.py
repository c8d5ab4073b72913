"""A MicroPython "board" on a serial port: the unix port's REPL on a pseudo-terminal.

socat runs `.venv/bin/micropython` (the REPL, which speaks mpremote's raw REPL)
with its stdin/stdout on a pty, and exposes the other end as `<workdir>/tty`.
The board's filesystem is `workdir` (the process's cwd); MICROPYPATH holds
`lib` (relative, like /lib on a board) and `.frozen` (asyncio). Or, with
`script`, the pty carries a running program's output (a board running main.py).
"""

import os
import signal
import subprocess
import time

from runtimes import tool


class SerialDevice:
    def __init__(self, workdir, script=None, env=None, exe=None, ctrl_c=False):
        self.workdir = str(workdir)
        self.port = os.path.join(self.workdir, "tty")
        self.script = script
        self.exe = exe or tool("micropython")  # another build: e.g. one with the node frozen
        self.env = dict(os.environ, MICROPYPATH=".frozen:lib", **(env or {}))
        # ctrl_c: a Ctrl-C on the pty reaches the program as SIGINT, as a board's UART
        # interrupts its program (the pty its controlling terminal, signals on: after
        # `raw`, which turns them off)
        self.pty_opts = "setsid,ctty,isig," if ctrl_c else ""
        self.proc = None

    def start(self, timeout=10.0):
        exe = self.exe + ((" " + self.script) if self.script else "")
        # raw,echo=0 on both ends: no newline translation or echo by the pty layer
        self.proc = subprocess.Popen(
            ["socat", "PTY,link=%s,raw,echo=0" % self.port,
             "EXEC:%s,pty,raw,echo=0,%sstderr" % (exe, self.pty_opts)],
            cwd=self.workdir, env=self.env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.port):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("socat did not create %s" % self.port)
            time.sleep(0.05)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)   # socat and its micropython child
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
