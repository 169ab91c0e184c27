"""Random streams keyed by stable component names.

One root seed drives a run. Each component (a device's arrivals, a link's
bandwidth, the random policy, ...) gets its own generator derived from the root
seed and a *name*, not from creation order, so adding a policy or a device never
shifts the random numbers another component sees (the ns-3 / Mesa habit).
"""

from __future__ import annotations

import hashlib

import numpy as np


def stream_key(name: str) -> tuple[int, ...]:
    """A stable spawn key for ``name`` (four 32-bit words of its SHA-256)."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))


def rng_for(seed: int, name: str) -> np.random.Generator:
    """The generator for component ``name`` under root ``seed``."""
    return np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=stream_key(name)))
