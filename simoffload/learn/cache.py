"""A cache of trained models keyed by a hash of their training configuration.

A scenario that names a learned policy without a weights file gets the model
trained for that exact configuration: the first time it is trained (with a
progress bar) and written to ``$SIMOFFLOAD_CACHE`` (default
``~/.cache/simoffload``) as ``<policy>-<key>.pt``; later runs load it. The key
is the first 16 hex digits of the SHA-256 of the canonical JSON of the
configuration (policy name, every training parameter, the data distribution,
the seed, the feature set and the code's model-format version), so changing any
of them trains a new model and never silently reuses a stale one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable

from ..errors import UserError
from .io import VERSION, jsonable, load_model

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """``$SIMOFFLOAD_CACHE`` if set, else ``~/.cache/simoffload``."""
    env = os.environ.get("SIMOFFLOAD_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "simoffload"


def config_key(config: dict) -> str:
    """16 hex digits identifying a training configuration."""
    text = json.dumps({"format_version": VERSION, **jsonable(config)}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_path(policy: str, config: dict) -> Path:
    """Where the model for ``config`` lives (whether or not it exists yet)."""
    return cache_dir() / f"{policy}-{config_key(config)}.pt"


def get_or_train(policy: str, config: dict, train: Callable[[Path], None]) -> Path:
    """The cached model file for ``config``, training it with ``train(path)`` if missing or unreadable.

    Args:
        policy: the policy's registry name (file name prefix and load check).
        config: the full training configuration (hashed).
        train: writes the model to the given path.
    """
    path = cached_path(policy, config)
    if path.is_file():
        try:
            mf = load_model(path, expect_policy=policy)
            if mf.config == jsonable(config):
                log.info("model cache hit: %s", path)
                return path
            log.warning("model cache %s holds another configuration; retraining", path)
        except UserError as exc:
            log.warning("model cache entry unusable (%s); retraining", exc)
    log.info("training %s (cache miss) -> %s", policy, path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"model cache {path.parent}: cannot create ({exc}); set SIMOFFLOAD_CACHE to a writable directory") from None
    train(path)
    return path


def training_notice(policies: list) -> list[str]:  # noqa: ANN001 - (label, policy) pairs
    """Lines announcing the models that preparing these (label, policy) pairs will train, with rough times.

    Empty when every learned model is given as a file, already fitted or in the cache.
    """
    items, seen = [], set()
    for label, pol in policies:
        plan = getattr(pol, "training_plan", None)
        if plan is None:
            continue
        for what, seconds, key in plan():
            if key not in seen:  # a teacher shared by two policies is trained once
                seen.add(key)
                items.append((label, what, seconds))
    if not items:
        return []
    total = sum(s for _, _, s in items)
    lines = [f"note: {len(items)} model(s) are not in the model cache ({cache_dir()}) and will be trained first, "
             f"roughly {_duration(total)} at most on one core (set SIMOFFLOAD_CACHE, or give params: {{weights: FILE}}):"]
    lines += [f"note:   {label}: {what}, about {_duration(s)}" for label, what, s in items]
    return lines


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    return f"{seconds / 60:.0f} min"


def store(pol) -> Path | None:  # noqa: ANN001 - a fitted learned policy
    """Put a policy trained outside the cache (e.g. by ``reproduce paper``) into it.

    The entry is keyed by the policy's own training configuration, so a later
    scenario naming the same policy with the same parameters loads it instead
    of training again. Existing entries are left alone. Returns the path, or
    ``None`` if the cache directory cannot be written.
    """
    path = cached_path(pol.name, pol.training_config())
    if path.is_file():
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        pol.save(path)
    except OSError as exc:
        log.warning("could not store %s in the model cache (%s)", pol.name, exc)
        return None
    return path
