"""The Pico W image in the RP2040 emulator (rp2040js under Node), driven over its
emulated USB serial: the boot log, Ctrl-C, and MicroPython's raw REPL.

``tools/emulator/boot.mjs`` does the emulation and bridges the USB CDC serial to
its stdin/stdout; this module talks to it. ``ensure_node_packages()`` installs the
pinned npm packages (``npm ci``) when they are missing.
"""

import os
import shutil
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMU_DIR = os.path.join(ROOT, "tools", "emulator")
# with the rp2 tarballs: $FIELDNODE_RP2_VENDOR, else ../shared/vendor/rp2 (tools/rp2_firmware.py)
BOOTROM = os.path.join(os.environ.get("FIELDNODE_RP2_VENDOR") or os.path.join(
    ROOT, "..", "shared", "vendor", "rp2"), "rp2040-bootrom-b1.ts")


def node_missing():
    """Why the emulator cannot run here (Node or npm absent), or None."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return "%s is not installed: the RP2040 emulator (npm rp2040js) needs Node.js" % tool
    return None


def ensure_node_packages():
    """`npm ci` in tools/emulator when rp2040js is not installed yet (pinned by its lockfile)."""
    if os.path.isdir(os.path.join(EMU_DIR, "node_modules", "rp2040js")):
        return
    proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=EMU_DIR,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode:
        raise RuntimeError("npm ci in %s failed:\n%s" % (EMU_DIR, proc.stdout[-2000:]))


class Pico:
    """One emulated board: ``Pico(uf2, adc={4: 876}, gpio={15: 1}, watch=(16,))``;
    ``close()`` when done.  ``gpio``: what input pins read from the start (nothing
    pulls a pin up in the emulator); ``set_input()`` changes that later; ``watch``:
    pins whose level changes show in ``events`` as "@gpio N V"."""

    def __init__(self, uf2, adc=None, bootrom=BOOTROM, gpio=None, watch=()):
        if not os.path.isfile(bootrom):
            raise RuntimeError("RP2040 boot ROM not found at %s (../shared/vendor/rp2, "
                               "or $FIELDNODE_RP2_VENDOR)" % bootrom)
        argv = ["node", os.path.join(EMU_DIR, "boot.mjs"), "--uf2", uf2, "--bootrom", bootrom]
        for ch, value in sorted((adc or {}).items()):
            argv += ["--adc", "%d=%d" % (ch, value)]
        for pin, value in sorted((gpio or {}).items()):
            argv += ["--gpio", "%d=%d" % (pin, value)]
        for pin in watch:
            argv += ["--watch", "%d" % pin]
        control, self._control = os.pipe()  # "gpio N V" lines: set_input()
        argv += ["--control", "%d" % control]
        self.started = time.monotonic()
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, pass_fds=(control,))
        finally:
            os.close(control)
        self.out = bytearray()
        self.events = []
        self._lock = threading.Condition()
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.out), daemon=True).start()
        threading.Thread(target=self._pump_events, daemon=True).start()

    def _pump(self, pipe, sink):
        while True:
            chunk = pipe.read1(4096)
            if not chunk:
                break
            with self._lock:
                sink += chunk
                self._lock.notify_all()

    def _pump_events(self):
        for line in self.proc.stderr:
            with self._lock:
                self.events.append(line.decode(errors="replace").strip())
                self._lock.notify_all()

    def wait_connected(self, timeout=120):
        """Wait until the board's USB serial enumerated; returns the seconds it took."""
        self._wait(lambda: "@connected" in self.events, timeout, "USB enumeration")
        return time.monotonic() - self.started

    def _wait(self, cond, timeout, what):
        deadline = time.monotonic() + timeout
        with self._lock:
            while not cond():
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError("emulator: no %s after %ss (exit %s); output:\n%s\n%s" % (
                        what, timeout, self.proc.poll(), self.out[-3000:].decode(errors="replace"),
                        "\n".join(self.events[-20:])))
                self._lock.wait(min(left, 0.5))

    def read_until(self, marker, timeout=60, start=0):
        """Wait for ``marker`` (bytes) in the output from offset ``start``; returns the
        offset just past it."""
        self._wait(lambda: self.out.find(marker, start) >= 0, timeout, repr(marker))
        return self.out.find(marker, start) + len(marker)

    def write(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def set_input(self, pin, value):
        """What input ``pin`` reads from now on (1 or 0): a button released or pressed."""
        os.write(self._control, b"gpio %d %d\n" % (pin, 1 if value else 0))

    def set_inputs(self, pin, *levels):
        """Drive input ``pin`` through ``levels`` in one step of the emulator (no
        instruction runs between them: their edges are latched together)."""
        os.write(self._control, b"".join(b"gpio %d %d\n" % (pin, 1 if v else 0)
                                         for v in levels))

    def wait_event_prefix(self, prefix, timeout=60, start=0):
        """The first harness event line from index ``start`` that begins with ``prefix``
        (e.g. "@watchdog"), waited for."""
        def found():
            return [e for e in self.events[start:] if e.startswith(prefix)]
        self._wait(found, timeout, repr(prefix))
        return found()[0]

    def wait_event(self, event, timeout=60, start=0):
        """Wait for harness event line ``event`` (e.g. "@gpio 16 1") among the events from
        index ``start``; returns the index just past it."""
        self._wait(lambda: event in self.events[start:], timeout, repr(event))
        return self.events.index(event, start) + 1

    def interrupt(self, timeout=60):
        """Ctrl-C until the friendly REPL prompt shows; returns the output before it."""
        mark = len(self.out)
        deadline = time.monotonic() + timeout
        while True:
            self.write(b"\x03")
            try:
                self.read_until(b">>> ", timeout=3, start=mark)
                return bytes(self.out[:mark])
            except AssertionError:
                if time.monotonic() > deadline:
                    raise

    def raw_repl(self, soft_reset=False, timeout=60):
        """Enter the raw REPL (Ctrl-A); with ``soft_reset`` also soft-reset in it
        (a raw-REPL soft reset does not run main.py: a clean heap)."""
        mark = len(self.out)
        self.write(b"\r\x01")
        end = self.read_until(b"raw REPL; CTRL-B to exit\r\n>", timeout, mark)
        if soft_reset:
            self.write(b"\x04")
            self.read_until(b"raw REPL; CTRL-B to exit\r\n>", timeout, end)

    def exec(self, code, timeout=120):
        """Run ``code`` in the raw REPL; returns (stdout, stderr) as text."""
        return self.exec_end(self.exec_start(code), timeout)

    def exec_start(self, code):
        """Send ``code`` to the raw REPL without waiting; exec_end(mark) waits for it."""
        mark = len(self.out)
        self.write(code.encode() + b"\x04")
        return mark

    def exec_end(self, mark, timeout=120):
        """(stdout, stderr) as text of the code exec_start() sent (it returned mark)."""
        start = self.read_until(b"OK", timeout, mark)
        end = self.read_until(b"\x04", timeout, start)
        err_end = self.read_until(b"\x04>", timeout, end)
        return (self.out[start:end - 1].decode(errors="replace"),
                self.out[end:err_end - 2].decode(errors="replace"))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self._control is not None:
            os.close(self._control)
            self._control = None
