"""Exact solvers over the shared cost model.

* :func:`exhaustive` - vectorised search over all 3^n placements (the paper's "Optimal").
* :func:`chain_dp` - dynamic programming over the 3-place trellis of a chain, O(n * 9).
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np

from .cost import Coefficients, edge_cost_matrices, evaluate_all
from .task import TaskGraph

MAX_EXHAUSTIVE_N = 14  # 3^14 = 4.8M placements per instance; beyond this refuse


@lru_cache(maxsize=32)
def all_placements(n: int) -> np.ndarray:
    """(3^n, n) every placement, in lexicographic order (device first)."""
    if n > MAX_EXHAUSTIVE_N:
        raise ValueError(f"exhaustive search over 3^{n} placements refused (limit n <= {MAX_EXHAUSTIVE_N})")
    P = np.array(list(itertools.product(range(3), repeat=n)), dtype=np.int64).reshape(-1, n)
    P.setflags(write=False)
    return P


def exhaustive(coef: Coefficients, graph: TaskGraph, data: np.ndarray, chunk: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Optimal placements by scoring all 3^n placements.

    Ties go to the lexicographically smallest placement (device before edge before cloud).

    Returns:
        (B, n) placements and (B,) costs.
    """
    P = all_placements(graph.n)
    B = coef.unary.shape[0]
    chunk = chunk or max(1, int(4_000_000 // P.shape[0]))
    best = np.empty((B, graph.n), dtype=np.int64)
    val = np.empty(B)
    for lo in range(0, B, chunk):
        hi = min(B, lo + chunk)
        sub = Coefficients(coef.unary[lo:hi], coef.up[lo:hi], coef.down[lo:hi])
        c = evaluate_all(sub, graph, data[lo:hi], P)
        c = np.where(np.isnan(c), np.inf, c)
        k = np.argmin(c, axis=1)
        best[lo:hi] = P[k]
        val[lo:hi] = c[np.arange(hi - lo), k]
    return best, val


def chain_dp(coef: Coefficients, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Optimal placements of chains by dynamic programming (shortest path in a trellis).

    ``data`` is (B, n+1): the chain's d_0..d_n. Ties go to the lower place index
    at each step of the backtrack, which matches exhaustive search's
    lexicographic tie-break only up to ties of equal cost.

    Returns:
        (B, n) placements and (B,) costs.
    """
    U = coef.unary
    B, n, _ = U.shape
    pair = edge_cost_matrices(coef, data)  # (B, n+1, 3, 3)
    # cost[b, p] = best cost of subtasks 0..t with subtask t at place p
    cost = pair[:, 0, 0, :] + U[:, 0, :]
    back = np.empty((B, n, 3), dtype=np.int64)
    for t in range(1, n):
        tot = cost[:, :, None] + pair[:, t, :, :]  # (B, from, to)
        back[:, t, :] = np.argmin(tot, axis=1)
        cost = np.take_along_axis(tot, back[:, t, None, :], axis=1)[:, 0, :] + U[:, t, :]
    final = cost + pair[:, n, :, 0]
    last = np.argmin(final, axis=1)
    val = final[np.arange(B), last]
    place = np.empty((B, n), dtype=np.int64)
    place[:, n - 1] = last
    for t in range(n - 1, 0, -1):
        place[:, t - 1] = back[np.arange(B), t, place[:, t]]
    return place, val
