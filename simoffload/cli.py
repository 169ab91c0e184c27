"""The ``simoffload`` command line.

Subcommands live in their own modules; each exposes ``register_cli(subparsers)``
that adds its parser and sets ``func`` (called with the parsed arguments,
returning an exit status). A :class:`~simoffload.errors.UserError` becomes one
line ``error: ...`` and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .errors import UserError

# modules providing subcommands, in the order they appear in --help
COMMAND_MODULES = [
    "simoffload.commands",      # validate, run, policies
    "simoffload.learn.datasets",      # dataset
    "simoffload.learn.cli",     # train, reproduce
    "simoffload.experiments.sweep",         # sweep, plot
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own status)
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="simoffload", description="Discrete-event simulator for mobile edge computation offloading.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue  # that part of the tool is not installed/written yet
            raise
        module.register_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        status = args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    return int(status or 0)


if __name__ == "__main__":
    sys.exit(main())
