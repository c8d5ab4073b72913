"""fieldnode: the host CLI for Fieldnode nodes (build, flash, deploy, config, monitor, cmd, logs).

The ecosystem's own tools do the work underneath: mpy-cross compiles, esptool
flashes, mpremote talks to the board over serial, paho-mqtt watches the broker.
"""

import os


class CliError(Exception):
    """A user-facing failure: printed as one line `fieldnode SUBCOMMAND: <message>`, exit
    code `code` (1; 2 for a wrong argument)."""

    def __init__(self, message, code=1):
        super().__init__(message)
        self.code = code


def run():
    """The `fieldnode` console script: cli.main(), which imports every subcommand. A
    Ctrl-C while it loads (or parses the arguments) is one line too, not a traceback."""
    try:
        from .cli import main

        return main()
    except KeyboardInterrupt:   # main() itself handles it once a subcommand runs
        import sys

        print("fieldnode: interrupted", file=sys.stderr)
        return 130


# The repository root: tools/fieldnode/ is two levels below it (editable install).
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def subparser(sub, name, doc):
    """Add subcommand `name` with the module docstring `doc` as its --help text.

    The docstring's first line reads "`fieldnode NAME ...`: what it does"; the
    part after the colon is the one-line help in `fieldnode --help`.
    """
    import argparse

    return sub.add_parser(name, help=doc.split("`: ", 1)[1].splitlines()[0].rstrip("."),
                          description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
