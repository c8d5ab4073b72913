"""Run a host_tests script on the Cortex-M MicroPython (ports/qemu, MPS2_AN385).

A fresh ``qemu-system-arm`` per run, its UART on our stdin/stdout. The harness
enters the raw REPL (Ctrl-A), sends one program and Ctrl-D, and reads back the
two sections the raw REPL prints (output, then error text, each ended by 0x04).

The board has no filesystem, so the program first mounts a read-only RAM VFS
holding the script's helper modules from host_tests/scripts/ (found by following
their ``import``/``from`` lines), so ``from session_fake import ...`` imports them
like files; the library itself is frozen into the image. The script then runs as
``__main__`` with ``sys.argv`` set; ``SystemExit`` gives the exit code.
"""

import os
import re
import select
import subprocess
import time

_IMPORT = re.compile(rb"^\s*(?:from\s+(\w+)\s+import|import\s+(\w+))", re.M)

_PRELUDE = """\
import sys, io, vfs
class _RamFS:
    def __init__(self, files):
        self.files = files
    def mount(self, readonly, mkfs):
        pass
    def umount(self):
        pass
    def stat(self, path):
        path = path.lstrip('/')
        if path in self.files:
            return (0x8000, 0, 0, 0, 0, 0, len(self.files[path]), 0, 0, 0)
        if path == '':
            return (0x4000, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        raise OSError(2)
    def ilistdir(self, path):
        return iter([(n, 0x8000, 0, len(d)) for n, d in self.files.items()])
    def open(self, path, mode):
        data = self.files.get(path.lstrip('/'))
        if data is None:
            raise OSError(2)
        return io.BytesIO(data) if 'b' in mode else io.StringIO(data.decode())
vfs.mount(_RamFS(%(files)s), '/t')
sys.path.insert(0, '/t')
sys.argv[:] = %(argv)r
del _RamFS
_rc = 0
try:
    exec(%(main)r, {'__name__': '__main__'})
except SystemExit as e:
    _rc = e.args[0] if e.args else 0
print('\\n@@rc=%%s' %% (_rc if isinstance(_rc, int) else 1))
"""


def helper_modules(script_path):
    """The modules of the script's folder it imports, transitively: {file name: bytes}."""
    folder = os.path.dirname(script_path)
    found, todo = {}, [script_path]
    while todo:
        with open(todo.pop(), "rb") as f:
            text = f.read()
        for m in _IMPORT.finditer(text):
            name = (m.group(1) or m.group(2)).decode() + ".py"
            path = os.path.join(folder, name)
            if name not in found and os.path.isfile(path):
                with open(path, "rb") as f:
                    found[name] = f.read()
                todo.append(path)
    return found


def program(script_path, args):
    with open(script_path, "rb") as f:
        main = f.read().decode()
    files = "{%s}" % ", ".join("%r: %r" % (n, d) for n, d in helper_modules(script_path).items())
    argv = [os.path.basename(script_path)] + [str(a) for a in args]
    return _PRELUDE % {"files": files, "argv": argv, "main": main}


def command(firmware):
    return ["qemu-system-arm", "-machine", "mps2-an385", "-nographic", "-monitor", "none",
            "-semihosting", "-serial", "stdio", "-kernel", firmware]


class _Serial:
    def __init__(self, proc, deadline):
        self.proc = proc
        self.deadline = deadline
        self.buf = b""

    def read_until(self, marker):
        while marker not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(self.buf[-2000:].decode(errors="replace"))
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 1.0))
            if ready:
                data = os.read(self.proc.stdout.fileno(), 65536)
                if not data:
                    raise EOFError("qemu exited: %r" % self.buf[-2000:])
                self.buf += data
        head, _, self.buf = self.buf.partition(marker)
        return head

    def write(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()


def run(firmware, script_path, args, timeout):
    """(returncode, stdout, stderr) of ``script_path`` run on the qemu board."""
    proc = subprocess.Popen(command(firmware), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    serial = _Serial(proc, time.monotonic() + timeout)
    try:
        serial.write(b"\r\x03\x03\x01")
        serial.read_until(b"raw REPL; CTRL-B to exit\r\n>")
        serial.write(program(script_path, args).encode() + b"\x04")
        serial.read_until(b"OK")
        out = serial.read_until(b"\x04").decode(errors="replace").replace("\r\n", "\n")
        err = serial.read_until(b"\x04").decode(errors="replace").replace("\r\n", "\n")
    finally:
        proc.kill()
        proc.wait()
        proc.stdin.close()
        proc.stdout.close()
        proc.stderr.close()
    rc = 1 if err.strip() else 0
    body, sep, tail = out.rpartition("\n@@rc=")
    if sep:
        out = body + "\n"
        rc = rc or int(tail.strip() or 0)
    else:
        rc = rc or 1
    return rc, out, err
