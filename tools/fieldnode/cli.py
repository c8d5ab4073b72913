"""fieldnode: build, flash, deploy, configure and watch Fieldnode nodes.

One module per subcommand; this file only wires them into argparse and turns
failures into one line on stderr and a non-zero exit code (1 for a failure,
2 for wrong arguments, 130 for Ctrl-C).
"""

import argparse
import sys

from . import CliError, build, command, configure, deploy, flash, logs, monitor

SUBCOMMANDS = (build, flash, deploy, configure, monitor, command, logs)


def parser():
    ap = argparse.ArgumentParser(prog="fieldnode", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return ap


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.run(args) or 0
    except CliError as e:
        print("fieldnode %s: %s" % (args.subcommand, e), file=sys.stderr)
        return e.code
    except BrokenPipeError:     # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("fieldnode %s: interrupted" % args.subcommand, file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
