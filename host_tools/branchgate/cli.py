"""The `branchgate` command. Each subcommand lives in its own module with a `register(subparsers)`
function that adds its parser and sets `func`; errors are reported as one line and a non-zero exit."""
import argparse
import importlib
import sys

from . import __version__

COMMAND_MODULES = ("provision", "sim", "image", "flash", "firmware", "hqconf", "check", "fleet", "status", "logs")


class CliError(Exception):
    """A failure to report to the user as one line (no traceback)."""


def build_parser():
    parser = argparse.ArgumentParser(prog="branchgate", description=__doc__.split(".")[0])
    parser.add_argument("--version", action="version", version="branchgate " + __version__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module("branchgate." + name).register(sub)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except CliError as e:
        print("branchgate: error: %s" % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("branchgate: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # `python -m branchgate.cli` (tests, scripts) as well as `python -m branchgate`
    sys.exit(main())
