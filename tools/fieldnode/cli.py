"""fieldnode: build, flash, deploy, configure and watch Fieldnode nodes.

One module per subcommand; this file only wires them into argparse and turns
failures into one line on stderr and a non-zero exit code (1 for a failure,
2 for wrong arguments, 130 for Ctrl-C).
"""

import argparse
import os
import sys

from . import CliError, build, command, configure, deploy, flash, logs, monitor

SUBCOMMANDS = (build, flash, deploy, configure, monitor, command, logs)


def parser():
    ap = argparse.ArgumentParser(prog="fieldnode", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return ap


def parse_args(argv=None):
    """The parsed arguments; a subcommand's options may sit between its positional
    arguments (`config set --port P keepalive=61`). A wrong argument exits 2 with the
    subcommand's usage."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = parser()
    args, extra = ap.parse_known_args(argv)
    if not extra:
        return args
    # the top level takes only -h: anything before the subcommand is unknown (it was
    # dropped, and `fieldnode --dry-run config set ...` wrote the config)
    before = argv[:argv.index(args.subcommand)]
    if before:
        ap.error("unrecognized arguments: %s" % " ".join(before))
    # argparse gives a subcommand's positionals one chance, before its first option:
    # parse the subcommand's arguments again, options and positionals intermixed
    sub = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    rest = argv[argv.index(args.subcommand) + 1:]       # the top level takes only -h
    return sub.choices[args.subcommand].parse_intermixed_args(
        rest, argparse.Namespace(subcommand=args.subcommand))


def check_args(args):
    """Wrong arguments that argparse cannot see: a CliError with exit code 2 before the
    subcommand runs (the subcommands check their own others)."""
    # an option given as "" would pass for one not given (its default taken)
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    for action in sub.choices[args.subcommand]._actions:
        if action.option_strings and getattr(args, action.dest, None) == "":
            raise CliError("%s must not be empty" % action.option_strings[-1], code=2)
    if args.subcommand == "build":
        for d in args.add:
            if not os.path.isdir(d):
                raise CliError("--add %s: not a directory" % d, code=2)


def writes(args):
    """Whether the subcommand changes something (the board, a file, a node's state): its
    output cut off by a closed pipe must not pass for success."""
    if args.subcommand in ("monitor", "logs"):
        return False
    return args.subcommand != "config" or args.action in ("set", "import")


class OutputError(Exception):
    """Writing to stdout failed (a full disk, an I/O error): not an OSError, so that the
    subcommands' own `except OSError` (for their files and ports) cannot take it."""

    def __init__(self, error):
        super().__init__(error.strerror or str(error))


class _Output:
    """sys.stdout (or its .buffer) whose write and flush failures are OutputError; a
    BrokenPipeError stays one (handled on its own below)."""

    def __init__(self, stream):
        self._stream = stream

    def _guard(self, fn, *args):
        try:
            return fn(*args)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise OutputError(e) from None

    def write(self, data):
        return self._guard(self._stream.write, data)

    def writelines(self, lines):
        return self._guard(self._stream.writelines, lines)

    def flush(self):
        return self._guard(self._stream.flush)

    @property
    def buffer(self):
        return _Output(self._stream.buffer)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def main(argv=None):
    args = parse_args(argv)
    if sys.stdout is None:      # started with stdout closed (`>&-`): refused before anything
        # is done (a file or port opened later would get fd 1, and the output with it)
        print("fieldnode %s: cannot write the output: stdout is closed" % args.subcommand,
              file=sys.stderr)
        return 1
    stdout = sys.stdout
    sys.stdout = _Output(stdout)
    try:
        check_args(args)
        code = args.run(args) or 0
        sys.stdout.flush()      # what is still buffered fails here, not at the exit
        return code
    except OutputError as e:    # stdout on a full disk, say: one line, not a traceback
        # the interpreter's last flush of what is left goes nowhere instead of failing
        os.dup2(os.open(os.devnull, os.O_WRONLY), stdout.fileno())
        print("fieldnode %s: cannot write the output: %s%s" % (
            args.subcommand, e, " (stopped there: it may be half done)" if writes(args) else ""),
            file=sys.stderr)
        return 1
    except CliError as e:
        print("fieldnode %s: %s" % (args.subcommand, e), file=sys.stderr)
        return e.code
    except BrokenPipeError:     # output piped into `head` and the like, which exited
        # later writes (and the interpreter's last flush) go nowhere instead of failing
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if not writes(args):
            return 0
        try:
            print("fieldnode %s: output closed (broken pipe), stopped before the end: it may "
                  "be half done, run it again" % args.subcommand, file=sys.stderr)
        except OSError:
            pass
        return 1
    except KeyboardInterrupt:
        print("fieldnode %s: interrupted" % args.subcommand, file=sys.stderr)
        return 130
    finally:
        sys.stdout = stdout


if __name__ == "__main__":
    sys.exit(main())
