"""`fieldnode logs --port P`: stream the node's serial output (its log) to the terminal.

Opens the port through mpremote's serial transport and copies what the board
prints, without interrupting the running program. --reset soft-resets first
(Ctrl-C, Ctrl-D) to see the boot. Stop with Ctrl-C (exit code 130), or after
--duration S seconds (exit code 0). A board that goes away (unplugged, the port
closed) ends it with exit code 1.
"""

import contextlib
import sys
import time

from . import CliError, subparser
from .device import open_port
from .options import check_seconds


def stream(port, duration=None, reset=False, out=None, baud=115200):
    """Copy the port's output to `out` until `duration` seconds (Ctrl-C: KeyboardInterrupt;
    the port closed: CliError); returns bytes seen."""
    check_seconds("--duration", duration, None)
    out = out or sys.stdout.buffer
    transport = open_port(port, baud)
    seen = 0
    deadline = None if duration is None else time.monotonic() + duration
    try:
        ser = transport.serial
        ser.timeout = 0.1
        if reset:
            ser.write(b"\r\x03\x03\x04")
        while deadline is None or time.monotonic() < deadline:
            try:
                data = ser.read(256)
            except OSError:     # the board went away (unplugged, or the process ended)
                out.write(b"\n")  # (the error line then starts a line of its own)
                out.flush()
                raise CliError("%s closed: the board went away (unplugged, or its port "
                               "closed)" % port) from None
            if data:
                seen += len(data)
                out.write(data)
                out.flush()
    finally:
        with contextlib.suppress(OSError):
            transport.close()
    return seen


def add_parser(sub):
    p = subparser(sub, "logs", __doc__)
    p.add_argument("--port", required=True, help="serial port, e.g. /dev/ttyACM0")
    p.add_argument("--reset", action="store_true", help="soft-reset first to see the boot")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.set_defaults(run=lambda a: stream(a.port, a.duration, a.reset) and 0)
