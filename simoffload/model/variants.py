"""Task variants (e.g. the models of one DNN family) and the accuracy requirement.

A task may offer several *variants*: alternative implementations of the same
job with the same structure (the same :class:`~simoffload.model.task.TaskGraph`)
but their own per-subtask cycles, per-edge data sizes and an *accuracy* (a
fraction in [0, 1], e.g. ImageNet top-1). A policy picks one variant and a
placement. A task without variants has exactly one implicit variant, of
accuracy 1.0 (nothing traded away), so every requirement in [0, 1] is met.

A task may carry an accuracy *requirement* ``req`` (a fraction, 0 = none). How
a variant's accuracy enters the objective is set by
:class:`~simoffload.model.cost.Objective`:

* ``accuracy_mode="constrain"`` (default): a variant with accuracy < req is
  infeasible (infinite cost). If no variant meets the requirement, the most
  accurate variant(s) count as feasible - the best the system can do - and the
  task is reported below its requirement.
* ``accuracy_mode="penalty"``: every variant is feasible and costs
  ``accuracy_weight * max(0, req - accuracy)`` extra, in the objective's units
  (seconds for latency); with accuracy as a fraction, a weight of 10 s charges
  0.1 s per accuracy point short.

The rules heuristic policies use to pick a variant without scoring placements
are in :func:`pick_variant`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

_ONE = np.ones(1)
_ONE.setflags(write=False)
_F64 = np.dtype(np.float64)

#: variant rules understood by :func:`pick_variant`
VARIANT_RULES = ("cheapest", "most-accurate")


@dataclass(frozen=True, eq=False)
class Variants:
    """The variants of one task (SI units).

    Attributes:
        accuracy: (V,) accuracy of each variant, a fraction in [0, 1].
        cycles: (V, n) CPU cycles of each subtask, per variant.
        data: (V, m) bytes on each data edge, per variant.
        names: (V,) labels (may be empty strings).
    """

    accuracy: np.ndarray
    cycles: np.ndarray
    data: np.ndarray
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        acc = np.atleast_1d(np.asarray(self.accuracy, dtype=float))
        cyc = np.atleast_2d(np.asarray(self.cycles, dtype=float))
        dat = np.atleast_2d(np.asarray(self.data, dtype=float))
        V = len(acc)
        if V < 1 or cyc.shape[0] != V or dat.shape[0] != V:
            raise ValueError(f"variants need matching lengths: accuracy {acc.shape}, cycles {cyc.shape}, data {dat.shape}")
        if np.any(~(acc >= 0) | (acc > 1)):
            raise ValueError(f"accuracy is a fraction in [0, 1], got {acc.tolist()}")
        object.__setattr__(self, "accuracy", acc)
        object.__setattr__(self, "cycles", cyc)
        object.__setattr__(self, "data", dat)
        names = tuple(self.names) or tuple("" for _ in range(V))
        if len(names) != V:
            raise ValueError(f"{V} variants need {V} names, got {len(names)}")
        object.__setattr__(self, "names", names)

    @classmethod
    def single(cls, cycles: Any, data: Any) -> "Variants":
        """The one implicit variant of a task without variants: its sizes, accuracy 1.0."""
        # built on every decision of a task without variants: skip the validation (nothing to check)
        # and the frozen dataclass's __setattr__ (fill the instance dict directly)
        v = object.__new__(cls)
        d = v.__dict__
        d["accuracy"] = _ONE
        d["cycles"] = (cycles if type(cycles) is np.ndarray and cycles.dtype == _F64 else np.asarray(cycles, dtype=float))[None, :]
        d["data"] = (data if type(data) is np.ndarray and data.dtype == _F64 else np.asarray(data, dtype=float))[None, :]
        d["names"] = ("",)
        return v

    def __len__(self) -> int:
        return len(self.accuracy)

    def __repr__(self) -> str:
        return f"Variants({len(self)}: {', '.join(f'{n or i}={a:.3f}' for i, (n, a) in enumerate(zip(self.names, self.accuracy)))})"


def feasible_mask(accuracy: np.ndarray, req: Any) -> np.ndarray:
    """(B, V) True where a variant meets the requirement; where none does, the most accurate ones.

    Args:
        accuracy: (B, V) or (V,) accuracy per variant.
        req: (B,) or scalar requirement (0 = none).
    """
    acc = np.atleast_2d(np.asarray(accuracy, dtype=float))
    r = np.broadcast_to(np.asarray(req, dtype=float), (acc.shape[0],))[:, None]
    ok = acc >= r
    none = ~ok.any(axis=1, keepdims=True)
    return ok | (none & (acc == acc.max(axis=1, keepdims=True)))


def accuracy_cost(accuracy: np.ndarray, req: Any, mode: str = "constrain", weight: float = 0.0) -> np.ndarray:
    """(B, V) cost a variant's accuracy adds to the objective (see the module docstring).

    ``constrain``: 0 for a feasible variant (:func:`feasible_mask`), inf otherwise.
    ``penalty``: ``weight * max(0, req - accuracy)``.
    """
    acc = np.atleast_2d(np.asarray(accuracy, dtype=float))
    if mode == "constrain":
        return np.where(feasible_mask(acc, req), 0.0, np.inf)
    if mode == "penalty":
        r = np.broadcast_to(np.asarray(req, dtype=float), (acc.shape[0],))[:, None]
        return float(weight) * np.maximum(0.0, r - acc)
    raise ValueError(f"accuracy mode must be 'constrain' or 'penalty', got {mode!r}")


def pick_variant(rule: str | int, accuracy: np.ndarray, cycles: np.ndarray, data: np.ndarray, req: Any) -> np.ndarray:
    """(B,) variant chosen by a fixed rule, for policies that do not score placements per variant.

    Rules:

    * ``"cheapest"`` - among the variants meeting the requirement
      (:func:`feasible_mask`), the one with the fewest total cycles, ties to
      fewer total bytes, then to the lower index. The requirement is the
      user's contract and accuracy above it earns nothing in the default
      (constrain) objective, while fewer cycles are faster on every place; so
      a heuristic that cannot compare placements should run the lightest model
      that is good enough. The static and greedy policies use it by default.
    * ``"most-accurate"`` - the most accurate variant, ties to the lower index,
      whatever the requirement: what a placement-only policy (the "state of the
      art" of arXiv 2202.10541) runs.
    * an int ``k`` - always variant ``k``.

    Args:
        accuracy: (B, V) or (V,).
        cycles: (B, V, n) or (V, n).
        data: (B, V, m) or (V, m).
        req: (B,) or scalar.
    """
    acc = np.atleast_2d(np.asarray(accuracy, dtype=float))
    B, V = acc.shape
    if isinstance(rule, (int, np.integer)) and not isinstance(rule, bool):
        if not 0 <= int(rule) < V:
            raise ValueError(f"variant {rule} does not exist ({V} variants)")
        return np.full(B, int(rule), dtype=np.int64)
    if rule == "most-accurate":
        return np.argmax(acc, axis=1).astype(np.int64)
    if rule == "cheapest":
        c = np.asarray(cycles, dtype=float)
        d = np.asarray(data, dtype=float)
        ctot = np.broadcast_to(c.sum(axis=-1), (B, V))
        dtot = np.broadcast_to(d.sum(axis=-1), (B, V))
        ok = feasible_mask(acc, req)
        big = np.where(ok, 0.0, np.inf)
        # lexicographic (cycles, bytes, index): lexsort keys go last-first
        out = np.empty(B, dtype=np.int64)
        for b in range(B):
            order = np.lexsort((np.arange(V), dtot[b], ctot[b] + big[b]))
            out[b] = order[0]
        return out
    raise ValueError(f"variant rule must be one of {VARIANT_RULES} or an index, got {rule!r}")


def pick_variant_one(rule: str | int, variants: Variants, req: float) -> int:
    """:func:`pick_variant` for one task."""
    if len(variants) == 1:
        return 0
    return int(pick_variant(rule, variants.accuracy, variants.cycles, variants.data, req)[0])


def allowed_variants(rule: str | int, inst: Any) -> np.ndarray | None:
    """(B, V) mask of the variants an exact policy may choose under ``rule`` (None = all).

    ``"best"``: all; ``"most-accurate"``: the most accurate one(s) (placement-only
    offloading); an int ``k``: only ``k``. ``inst`` is an :class:`~simoffload.model.task.Instances`.
    """
    if rule == "best":
        return None
    acc = inst.accuracy
    if rule == "most-accurate":
        return acc == acc.max(axis=1, keepdims=True)
    if isinstance(rule, (int, np.integer)) and not isinstance(rule, bool):
        if not 0 <= int(rule) < acc.shape[1]:
            raise ValueError(f"variant {rule} does not exist ({acc.shape[1]} variants)")
        return np.arange(acc.shape[1])[None, :] == int(rule)
    raise ValueError(f"variant must be 'best', one of {VARIANT_RULES[1:]} or an index, got {rule!r}")


def variant_ops(rule: str | int, per_variant: float, n_variants: int) -> float:
    """Declared ops of an exact policy over variants: the per-variant solve for each variant it
    considers ("best": all; otherwise one) plus one comparison per variant."""
    if n_variants <= 1:
        return per_variant
    return (n_variants if rule == "best" else 1) * per_variant + n_variants
