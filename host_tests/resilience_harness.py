"""The harness of the resilience tests (test_resilience_faults.py,
test_resilience_session.py, test_resilience_fleet.py; test_tls.py uses Proc): a
script spawned in the background whose JSON records are timed as they arrive
(Proc), the `procs` fixture that kills those a test leaves running, and report(),
which prints the numbers a test measured as one `RESILIENCE {...}` line (see them
with `pytest -s`) for the issue's closing note."""

import json
import threading
import time

import pytest

from runtimes import spawn


def report(**kv):
    print("RESILIENCE " + json.dumps(kv, sort_keys=True))


class Proc:
    """A script spawned in the background; its JSON lines are stamped with this
    process's monotonic clock as they arrive, so the test times what it caused."""

    def __init__(self, runtime, script, *args):
        self.p = spawn(runtime, script, *args)
        self.lines = []  # (arrival time, record)
        self.eof = False
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            t = time.monotonic()
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            with self.cond:
                self.lines.append((t, rec))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def records(self, **match):
        with self.cond:
            return [r for _, r in self.lines if all(r.get(k) == v for k, v in match.items())]

    def wait(self, pred, timeout, since=0):
        """(time, record, index) of the first record at index >= since that
        satisfies pred; AssertionError (with the script's output) on timeout."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(since, len(self.lines)):
                    t, rec = self.lines[i]
                    if pred(rec):
                        return t, rec, i
                left = end - time.monotonic()
                if left <= 0 or (self.eof and self.p.poll() is not None):
                    raise AssertionError("script: no matching record after %ss\n%s\n%s" % (
                        timeout, "\n".join(json.dumps(r) for _, r in self.lines[-30:]),
                        self._stderr()))
                self.cond.wait(min(left, 0.5))

    def _stderr(self):
        if self.p.poll() is None:
            return "(still running)"
        return self.p.stderr.read()[-4000:]

    def finish(self, timeout=30):
        try:
            self.p.wait(timeout)
        finally:
            if self.p.poll() is None:
                self.p.kill()
                self.p.wait()
        assert self.p.returncode == 0, self._stderr()

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def procs():
    made = []
    yield made
    for p in made:
        p.kill()
