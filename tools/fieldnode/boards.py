"""Board data: boards/<board>/board.json, read-only (owned by the boards folder)."""

import json
import os

from . import ROOT, CliError

BOARDS_DIR = os.path.join(ROOT, "boards")


def names():
    """The boards that have a board.json, sorted."""
    return sorted(d for d in os.listdir(BOARDS_DIR)
                  if os.path.isfile(os.path.join(BOARDS_DIR, d, "board.json")))


def load(name):
    """The parsed board.json of `name`; an unknown board is a wrong argument (CliError,
    exit code 2) naming the known ones."""
    path = os.path.join(BOARDS_DIR, name, "board.json")
    if os.sep in name or not os.path.isfile(path):
        raise CliError("unknown board %r (known: %s)" % (name, ", ".join(names())), code=2)
    with open(path) as f:
        data = json.load(f)
    data["dir"] = os.path.dirname(path)
    return data


def add_argument(parser, required=True):
    """The --board option, shared by the subcommands that need one."""
    parser.add_argument("--board", required=required, metavar="BOARD",
                        help="board folder under boards/ (%s)" % ", ".join(names()))
