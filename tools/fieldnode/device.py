"""A board's MicroPython REPL over serial, through mpremote's transport.

Opens the port exclusively, enters the raw REPL without a soft reset (a running
program is interrupted with Ctrl-C; the MicroPython unix port, which exits on a
soft reset, works the same way), and runs small scripts on the device: file
hashes, reads, and atomic writes (temp file + rename). Every failure becomes a
one-line CliError: port missing, port busy, no REPL answering, device error.
"""

import ast
import contextlib
import errno
import io
import os
import stat
import time

from . import CliError

CHUNK = 512
READ_TIMEOUT_S = 1
# to interrupt the running program and enter the raw REPL: a node stopped by Ctrl-C
# says goodbye first, up to 5 s when its broker stopped answering (3 s for `offline`'s
# ack, 2 s for the DISCONNECT: firmware/main.py); a 5 s limit called that "no REPL"
REPL_TIMEOUT_S = 8
# then each script run on the device (a hash of every file, a config save, one chunk of a
# file written: a long write gets it per chunk) has this long, however much the device
# sends: a board that reset and runs its program, printing, held the CLI for ever
OP_TIMEOUT_S = 30

_HASHES = """import hashlib, binascii
def _h(p):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    h = hashlib.sha256()
    b = bytearray(%d)
    m = memoryview(b)
    while True:
        n = f.readinto(b)
        if not n:
            break
        h.update(m[:n])
    f.close()
    return binascii.hexlify(h.digest()).decode()
print(repr([_h(p) for p in %r]))
"""

_MAKEDIRS = """import os
def _md(d):
    p = ''
    for part in d.split('/'):
        p = p + part if not p else p + '/' + part
        try:
            os.mkdir(p)
        except OSError:
            pass
for d in %r:
    _md(d)
"""

# os.rename replaces an existing file on every MicroPython filesystem (littlefs,
# FAT: the VFS unlinks then renames, POSIX on the unix port). One script renames
# them all: a Ctrl-C on the host stops before the board has it whole (nothing is
# renamed), or after, and the board runs it to the end.
_RENAME = "import os\nfor _p in %r:\n    os.rename(_p + '.tmp', _p)\n"

# A bundle's renames against a power loss: the finisher (FINISH) first takes main.py's
# place, then the files are renamed, main.py's own temp copy (the launcher) last. A
# board that loses power in between boots the finisher, which renames what is left
# and soft-resets into the whole bundle.
FINISH = "fieldnode_finish.py"  # written as FINISH.tmp, renamed over main.py
FINISH_MARK = b"# fieldnode: finishing a deploy"
_FINISH = FINISH_MARK.decode() + """ that power loss cut short: the files it renames
# are the new bundle's, main.py (the launcher) last; then a soft reset runs it whole
import os
for _p in %r:
    try:
        os.rename(_p + '.tmp', _p)
    except OSError:
        pass
os.rename(%r, %r)  # (no launcher copy: an error, and the REPL; no reset loop)
import machine
machine.soft_reset()
"""
_RENAME_BUNDLE = "import os\nos.rename(%r, %r)\n" + _RENAME

# removes the temp copies an earlier deploy left (interrupted, or failed part-way).
# mpremote's fs_writefile keeps its file open in `f` when a write fails or is cut:
# closed first, or littlefs keeps the removed file's blocks, and FAT's later close
# writes into a directory slot reused since
_CLEAR_TMP = """import os
try:
    f.close()
except Exception:
    pass
_n = 0
for _p in %r:
    try:
        os.remove(_p + '.tmp')
        _n += 1
    except OSError:
        pass
print(_n)
"""

# removes the files an earlier deploy put on the board that the new bundle lacks (one
# missing already is passed over), then the directories they leave empty, deepest
# first: an empty package directory would still shadow a module of its name
_REMOVE = """import os
_n = 0
for _p in %r:
    try:
        os.remove(_p)
        _n += 1
    except OSError:
        pass
for _d in %r:
    try:
        if not list(os.ilistdir(_d)):
            os.rmdir(_d)
    except OSError:
        pass
print(_n)
"""

# the filesystem's block size and free blocks (statvfs: f_frsize, f_bavail); a full
# littlefs can report its free count wrapped round (unsigned) past the total: none free
_FREE = """import os
try:
    _s = os.statvfs('.')
    print(repr((_s[1], _s[4] if _s[4] <= _s[2] else 0)))
except (AttributeError, OSError):
    print(None)
"""


def _busy_reason(port):
    """Why pyserial cannot open `port` exclusively, or None when it can."""
    import serial

    try:
        serial.Serial(port, exclusive=True).close()
    except (OSError, serial.SerialException) as e:
        return str(e).splitlines()[0]
    return None


NOT_A_TERMINAL = "%s is not a serial port (a device that is not a terminal)"


def check_port(port, terminal=False):
    """A CliError unless `port` exists and is a character device: missing, exit 1 (the
    board unplugged); a file, a directory, exit 2 (a wrong argument). `terminal`: also
    open it a moment and refuse a device that is no terminal (/dev/null, exit 2); one
    that cannot be opened (busy, no permission) passes, for its user to say why."""
    if not os.path.exists(port):
        raise CliError("serial port %s not found (is the board plugged in?)" % port)
    mode = os.stat(port).st_mode
    if not stat.S_ISCHR(mode):  # a wrong argument, whatever is plugged in
        raise CliError("%s is not a serial port (%s)" % (port, "a directory" if stat.S_ISDIR(
            mode) else "a regular file" if stat.S_ISREG(mode) else "not a device"), code=2)
    if terminal:
        try:
            fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError:
            return
        try:
            tty = os.isatty(fd)
        finally:
            os.close(fd)
        if not tty:
            raise CliError(NOT_A_TERMINAL % port, code=2)


def open_port(port, baud=115200):
    """The opened mpremote SerialTransport on `port` (no REPL interaction yet).

    A read gives up after READ_TIMEOUT_S of silence (mpremote's default waits
    forever), so a port where nothing answers ends in an error, not a hang."""
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport

    check_port(port)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return SerialTransport(port, baudrate=baud, timeout=READ_TIMEOUT_S)
    except TransportError:
        reason = _busy_reason(port)
        if reason and os.strerror(errno.ENOTTY) in reason:    # /dev/null, say
            raise CliError(NOT_A_TERMINAL % port, code=2) from None
        if reason and ("lock" in reason or "busy" in reason.lower()):
            raise CliError("serial port %s is busy: another program holds it "
                           "(close mpremote, screen, a monitor...)" % port) from None
        raise CliError("cannot open serial port %s: %s" % (port, reason or "unknown error")) from None


def _deadline(ser, until):
    """Reads on `ser` fail once the time until() returns (None: no limit; a TransportError
    or a CliError to raise, with it) has passed. mpremote's timeouts count only while the
    port is silent, so a device that sends without pause (a GPS, a chatty program that
    ignores Ctrl-C, a board reset and running its program) held it for ever."""
    def timed(fn):
        def call(*args):
            limit = until()
            if limit is not None and time.monotonic() > limit[0]:
                raise limit[1]
            return fn(*args)
        return call

    ser.read, ser.inWaiting = timed(ser.read), timed(ser.inWaiting)


def finisher(order):
    """The finisher's source (bytes), renaming `order`'s temp copies in that order (the
    launcher last: then it soft-resets)."""
    return (_FINISH % (list(order[:-1]), order[-1] + ".tmp", order[-1])).encode()


def finish_renames(source):
    """The renames of a finisher's `source` (bytes), without its soft reset, the
    launcher's not there passed over: what a deploy runs first when it finds one in
    main.py's place (the deploy sends the launcher if it differs)."""
    body, last = source.split(b"\nimport machine\n")[0].rsplit(b"\n", 1)
    return (body + b"\ntry:\n    " + last + b"\nexcept OSError:\n    pass\n").decode()


class Device:
    """`with Device(port) as dev:` the raw REPL of the board on `port`."""

    def __init__(self, port, baud=115200):
        self.port = port
        self.baud = baud
        self.transport = None
        self._limit = None      # (monotonic deadline, the exception past it) or None
        self._overdue = None    # the CliError of a step that ran out of time

    def __enter__(self):
        from mpremote.transport import TransportError

        self.transport = open_port(self.port, self.baud)
        _deadline(self.transport.serial, lambda: self._limit)
        self._limit = (time.monotonic() + REPL_TIMEOUT_S,
                       TransportError("no raw REPL within %d s" % REPL_TIMEOUT_S))
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                self.transport.enter_raw_repl(soft_reset=False, timeout_overall=REPL_TIMEOUT_S)
        except (TransportError, OSError):
            self.close()
            raise CliError("no MicroPython REPL answering on %s (wrong port, or the running "
                           "program ignores Ctrl-C?)" % self.port) from None
        self._limit = None
        run = self.transport.exec   # every script, those of mpremote's fs_writefile too

        def step(*args, **kwargs):
            if self._overdue is not None:   # no answer to wait for any more
                raise self._overdue
            self._limit = (time.monotonic() + OP_TIMEOUT_S, CliError(
                "the device on %s did not finish within %d s: it keeps sending (did the "
                "board reset, and its program runs and prints?); it may be half done, run "
                "it again" % (self.port, OP_TIMEOUT_S)))
            try:
                return run(*args, **kwargs)
            except CliError as e:
                self._overdue = e
                raise
            finally:
                self._limit = None
        self.transport.exec = step
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        t, self.transport = self.transport, None
        if t is None:
            return
        with contextlib.suppress(Exception):
            if t.in_raw_repl:
                t.exit_raw_repl()
        with contextlib.suppress(Exception):
            t.close()

    def exec(self, code):
        """Run `code` on the device; its stdout as bytes. A device exception is a CliError."""
        from mpremote.transport import TransportError, TransportExecError

        try:
            return self.transport.exec(code)
        except TransportExecError as e:
            lines = e.error_output.strip().splitlines() or ["error"]
            raise CliError("device error: %s" % lines[-1]) from None
        except UnicodeDecodeError as e:     # mpremote decodes the device's error output
            lines = e.object.decode("utf-8", "replace").strip().splitlines() or ["error"]
            raise CliError("device error: %s" % lines[-1]) from None
        except (TransportError, OSError) as e:
            raise CliError("lost the device on %s: %s (what it was doing may be half done: "
                           "run the command again once the board is back)"
                           % (self.port, e)) from None

    def eval_repr(self, code):
        """Run `code`, whose last output line is a repr(); return that value."""
        out = self.exec(code).decode().strip().splitlines()
        return ast.literal_eval(out[-1])

    def hashes(self, paths):
        """SHA-256 hex digest of each device file in `paths` (None: missing), hashed on the device."""
        return dict(zip(paths, self.eval_repr(_HASHES % (CHUNK, list(paths))))) if paths else {}

    def read(self, path):
        """The device file's bytes, or None when it does not exist."""
        code = ("try:\n _f = open(%r, 'rb')\nexcept OSError:\n _f = None\n"
                "print(repr(_f.read() if _f else None))\nif _f: _f.close()\n" % path)
        return self.eval_repr(code)

    def makedirs(self, dirs):
        if dirs:
            self.exec(_MAKEDIRS % sorted(set(dirs)))

    def write_atomic(self, path, data, progress=None):
        """Write `data` to `path` via `path.tmp` and a rename: a cut leaves the old file whole."""
        self.write_tmp(path, data, progress)
        self.rename_tmp([path])

    def write_tmp(self, path, data, progress=None):
        """Write `data` to `path.tmp`, for rename_tmp() to put in place."""
        from mpremote.transport import TransportError

        try:
            self.transport.fs_writefile(path + ".tmp", data, chunk_size=CHUNK,
                                        progress_callback=progress)
        except (TransportError, OSError) as e:
            raise CliError("writing %s on the device failed: %s" % (path, e)) from None

    def rename_tmp(self, paths):
        """Rename every `path.tmp` over its `path`, in one script on the device: all of
        them or, interrupted before the board has it whole, none."""
        if paths:
            self.exec(_RENAME % list(paths))

    def rename_bundle(self, paths, launcher):
        """rename_tmp() for a bundle's files, whose temp copies include `launcher`'s
        (main.py), safe from a power loss: main.py is first the finisher (FINISH), the
        launcher is renamed back last."""
        order = [p for p in paths if p != launcher] + [launcher]
        self.write_tmp(FINISH, finisher(order))
        self.exec(_RENAME_BUNDLE % (FINISH + ".tmp", launcher, order))

    def clear_tmp(self, paths):
        """Remove every `path.tmp` on the device; how many there were."""
        return self.eval_repr(_CLEAR_TMP % list(paths)) if paths else 0

    def remove(self, paths):
        """Remove the device files `paths`, then the directories under lib/ they leave
        empty; how many of the files there were."""
        dirs = set()
        for p in paths:
            parts = p.split("/")[:-1]
            dirs.update("/".join(parts[:i]) for i in range(2, len(parts) + 1))
        deepest = sorted(dirs, key=lambda d: (-d.count("/"), d))
        return self.eval_repr(_REMOVE % (list(paths), deepest)) if paths else 0

    def free_space(self):
        """(block size, free blocks) of the filesystem the device runs in, or None when
        its MicroPython has no os.statvfs."""
        return self.eval_repr(_FREE)

    def soft_reset(self):
        """Leave the raw REPL and soft-reset (Ctrl-D): the board runs main.py again."""
        t = self.transport
        t.exit_raw_repl()
        t.serial.write(b"\x04")
        t.serial.flush()
