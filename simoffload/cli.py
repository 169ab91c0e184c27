"""The ``simoffload`` command line.

Subcommands live in their own modules; each exposes ``register_cli(subparsers)``
that adds its parser and sets ``func`` (called with the parsed arguments,
returning an exit status). A :class:`~simoffload.errors.UserError` becomes one
line ``error: ...`` and exit status 2.

Every subcommand accepts the same common flags, before or after its name:
``-v/--verbose`` (log details), ``-q/--quiet`` (no progress bars, no notices;
``--no-progress`` is an alias) and ``--progress`` (draw bars even when stderr
is not a terminal). Bars are drawn only on a terminal by default. Commands read
the outcome as ``args.quiet`` / ``args.no_progress`` (true when no bar is drawn).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys

from .errors import UserError

# modules providing subcommands, in the order they appear in --help
COMMAND_MODULES = [
    "simoffload.commands",      # validate, run, policies
    "simoffload.learn.datasets",      # dataset
    "simoffload.learn.cli",     # train, reproduce
    "simoffload.experiments.sweep",         # sweep, plot
    "simoffload.sim.calibration",   # calibrate
]

_COMMON = ("verbose", "quiet", "progress")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own status)
        self.exit(2, f"error: {message}\n")


def _add_common(parser: argparse.ArgumentParser, top: bool) -> None:
    """The flags every (sub)command accepts; below the top level they default to 'not given'."""
    kw = {} if top else {"default": argparse.SUPPRESS}
    g = parser.add_argument_group("common options")
    g.add_argument("-v", "--verbose", action="store_true", help="log progress details", **kw)
    g.add_argument("-q", "--quiet", "--no-progress", dest="quiet", action="store_true",
                   help="no progress bars or notices (--no-progress is an alias)", **kw)
    g.add_argument("--progress", action="store_true", help="draw progress bars even when stderr is not a terminal", **kw)


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """Every parser below ``parser`` (subcommands and their own subcommands)."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for p in dict.fromkeys(action.choices.values()):
                out += [p, *_subparsers(p)]
    return out


def _version() -> str:
    from . import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="simoffload", description="Discrete-event simulator for mobile edge computation offloading.")
    parser.add_argument("--version", action="version", version=f"simoffload {_version()}")
    _add_common(parser, top=True)
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
    for p in _subparsers(parser):
        _add_common(p, top=False)
    return parser


def _settle_common(args: argparse.Namespace) -> None:
    """Resolve the common flags: bars only on a terminal, unless ``--progress``; never with ``-q``."""
    from . import _progress

    for k in _COMMON:
        setattr(args, k, bool(getattr(args, k, False)))
    show = not args.quiet and (args.progress or sys.stderr.isatty())
    _progress.set_enabled(show)
    args.no_progress = not show
    args.notices = not args.quiet


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _settle_common(args)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    previous = _terminate_like_ctrl_c()
    try:
        status = args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        print("error: terminated (SIGTERM); unfinished output removed", file=sys.stderr)
        return 143
    except (MemoryError, RecursionError) as exc:  # a limit in simoffload/limits.py missed this input
        kind = "out of memory" if isinstance(exc, MemoryError) else "nested too deeply"
        print(f"error: {args.file if hasattr(args, 'file') else '<input>'}:1: (input): {kind} "
              f"({type(exc).__name__}); lower the workload or see README 'Bad input' for the limits", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        from . import _progress

        _progress.set_enabled(True)  # main() may be called again in-process (tests)
    return int(status or 0)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same clean-up runs (exit status 143)."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated()


def _terminate_like_ctrl_c() -> object | None:
    """Make SIGTERM raise :class:`Terminated` in the main thread; returns the previous handler."""
    try:
        return signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread
        return None


if __name__ == "__main__":
    sys.exit(main())
