"""Progress bars that follow the command line's choice (private).

Library code asks for a bar with :func:`bar`; whether it is drawn is the
caller's ``enabled`` flag and the process-wide setting :data:`ENABLED`, which
the command line sets: bars only on a terminal unless ``--progress``, never
with ``-q``. Library users keep the default (bars wherever asked for).
"""

from __future__ import annotations

from typing import Any

#: process-wide switch; the CLI sets it from ``-q``/``--progress`` and whether stderr is a terminal
ENABLED = True


def set_enabled(value: bool) -> None:
    """Turn every progress bar of this process on or off."""
    global ENABLED
    ENABLED = bool(value)


def shown(enabled: bool = True) -> bool:
    """Whether a bar asked for with ``enabled`` is drawn."""
    return bool(enabled) and ENABLED


def bar(*args: Any, enabled: bool = True, **kwargs: Any) -> Any:
    """A ``tqdm.auto.tqdm`` bar, disabled unless :func:`shown` (``enabled``)."""
    from tqdm.auto import tqdm

    kwargs.pop("disable", None)
    return tqdm(*args, disable=not shown(enabled), **kwargs)
