"""Find policies by name.

Built-in names map to ``"module:Class"`` entry points that are imported only
when used, so the engine never imports concrete policies. A scenario may also
name any importable class as ``"package.module:Class"`` (a third-party policy);
it must subclass :class:`simoffload.policy.Policy`.
"""

from __future__ import annotations

import importlib
from typing import Any

from .policy import Policy

_REGISTRY: dict[str, str] = {
    "local": "policies.static:LocalPolicy",
    "edge": "policies.static:EdgePolicy",
    "cloud": "policies.static:CloudPolicy",
    "random": "policies.static:RandomPolicy",
    "greedy": "policies.greedy:GreedyPolicy",
    "optimal": "policies.optimal:OptimalPolicy",
    "exhaustive": "policies.optimal:ExhaustivePolicy",
    "large-dil": "policies.dil:LargeDILPolicy",
    "kd-dil": "policies.dil:KDDILPolicy",
    "baseline-dil": "policies.dil:BaselineDILPolicy",
    "dqn": "policies.dqn:DQNPolicy",
    "queue-aware": "policies.queue_aware:QueueAwarePolicy",
}


class PolicyNotFound(ValueError):
    pass


def register(name: str, entry_point: str) -> None:
    """Make ``name`` resolve to ``"module:Class"``."""
    if ":" not in entry_point:
        raise ValueError(f"entry point must look like 'package.module:Class', got {entry_point!r}")
    _REGISTRY[name] = entry_point


def registered() -> dict[str, str]:
    """All built-in and registered names and their entry points."""
    return dict(_REGISTRY)


def resolve(spec: str) -> type[Policy]:
    """The policy class for a registered name or a ``"package.module:Class"`` string."""
    entry = _REGISTRY.get(spec, spec)
    if ":" not in entry:
        raise PolicyNotFound(f"unknown policy {spec!r} (known: {', '.join(sorted(_REGISTRY))}; or 'package.module:Class')")
    module_name, _, attr = entry.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PolicyNotFound(f"policy {spec!r}: cannot import module {module_name!r} ({exc})") from None
    cls = getattr(module, attr, None)
    if cls is None:
        raise PolicyNotFound(f"policy {spec!r}: module {module_name!r} has no attribute {attr!r}")
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise PolicyNotFound(f"policy {spec!r}: {entry} is not a subclass of simoffload.policy.Policy")
    return cls


def make_policy(spec: str, **params: Any) -> Policy:
    """Instantiate a policy by name with keyword parameters."""
    cls = resolve(spec)
    try:
        return cls(**params)
    except TypeError as exc:
        raise PolicyNotFound(f"policy {spec!r}: bad parameters {params!r} ({exc})") from None
