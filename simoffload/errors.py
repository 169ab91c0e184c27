"""User-facing errors.

Anything raised as :class:`UserError` (or a subclass) is printed by the CLI as
one line ``error: <message>`` with exit status 2 and no traceback. Messages
name the field (dotted path) or the ``file:line`` and the bad value.
"""


class UserError(Exception):
    """Bad input from the user: a scenario, a trace file, a CLI argument."""


def shown_path(path: object) -> str:
    """``path`` relative to the working directory when it lies below it (shorter error messages)."""
    from pathlib import Path

    try:
        return str(Path(str(path)).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)
