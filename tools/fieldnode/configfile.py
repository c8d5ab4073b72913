"""The host's files of `fieldnode config`: the JSON file `config import` reads (bounded,
its faults one line naming it), and the file `config export` writes (atomically: an
existing one replaced whole or left as it was)."""

import contextlib
import errno
import io
import json
import os
import stat
import tempfile

from . import CliError
from .firmware import module


# a file `config import` reads at most: the board refuses a config.json over 8192 bytes
# (firmware/config.py), which it writes without indentation; an export is indented
MAX_IMPORT = 16384


def load_file(path):
    """The JSON object in the file `path`; CliError naming it otherwise."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_IMPORT + 1)   # (not all of /dev/zero)
    except OSError as e:
        raise CliError("cannot read %s: %s" % (path, e.strerror or e)) from None
    if len(data) > MAX_IMPORT:
        schema = module("config")
        raise CliError("%s is over %d bytes: not a config file (the board refuses a %s over "
                       "%d bytes)" % (path, MAX_IMPORT, schema.FILE, schema._MAX_FILE))
    try:        # (a BOM an editor wrote: skipped, as the device does)
        obj = json.loads(data.decode("utf-8-sig"))
    except ValueError as e:     # bad JSON, or not UTF-8
        raise CliError("%s is not a JSON file: %s" % (path, e)) from None
    except RecursionError:      # [[[[...: deeper than Python's parser goes
        raise CliError("%s is not a config file: nested too deep" % path) from None
    if not isinstance(obj, dict):
        raise CliError("%s: expected a JSON object" % path)
    return obj


@contextlib.contextmanager
def atomic_output(path, private=False):
    """A text buffer that becomes the file `path` when the block ends without error: written
    to a temp file in the same directory (created up front, so an unwritable `path` fails
    first), then renamed over it (os.replace), so an existing `path` is replaced whole or
    left untouched. `private`: the file is readable by its owner only (0600: secrets in
    it). An OS error on `path` is a CliError naming it."""
    def failed(e):      # an OSError, or its message
        return CliError("cannot write %s: %s" % (path, getattr(e, "strerror", None) or e))

    target = os.path.realpath(path)     # through a symlink: its target is replaced
    if os.path.isdir(target) or path.endswith(os.sep):
        raise failed(os.strerror(errno.EISDIR))
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        regular = True                  # none yet (or unreachable: mkstemp says why)
    if not regular:   # a device or a pipe: a rename would put a file in its place
        raise failed("not a regular file (a device or a pipe; without a FILE the "
                     "output goes to stdout)")
    try:
        mode = os.stat(target).st_mode & 0o7777     # a replaced file keeps its mode
    except OSError:
        mode = 0o666 & ~_umask()                    # a new one: as open() would make it
    if private:
        mode &= 0o600
    try:
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target),
                                   prefix="." + os.path.basename(target) + ".", suffix=".tmp")
    except OSError as e:
        raise failed(e) from None
    buf = io.StringIO()     # the block writes here: an OS error can only come from the commit
    committing = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yield buf
            committing = True
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as e:
        if not committing:
            raise
        raise failed(e) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)      # left only when the block or the commit failed


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
