"""The closed-form cost model (paper Sec. 3.2), vectorised over batches.

Every objective here (latency, device energy, and their weighted sum) has the
same shape, which the solvers exploit:

* a *unary* cost ``unary[b, v, place]`` for running subtask ``v`` at ``place``;
* a *transfer* cost for each data edge: its bytes times a per-byte weight of
  every hop the data crosses. The places lie on a line device(0) - edge(1) -
  cloud(2); hop 0 joins device and edge, hop 1 edge and cloud. Moving data
  "up" (to a higher place) across hop ``h`` costs ``up[b, h]`` per byte,
  moving it "down" costs ``down[b, h]`` per byte.

For latency: unary = cycles / (p1, p2, p3), up = (1/b1, 1/b2),
down = (1/b1_down, 1/b2_down); device->cloud therefore costs d/b1 + d/b2, as
the paper's relay through the edge. For device energy: unary =
(kappa * p1^2 * cycles, 0, 0), up = (P_tx / b1, 0), down = (P_rx / b1_down, 0).

A placement ``I`` is an integer array (..., n) with 0 device, 1 edge,
2 cloud; the device input (edge source -1) and output (destination n) are
pinned to the device. The cost of a DAG is the sum of all execution and
transfer costs (serial execution, as in the paper).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .task import Instances, TaskGraph


@dataclass(frozen=True)
class Objective:
    """What a placement is scored by, and the device energy model.

    Attributes:
        latency_weight: weight of latency (seconds).
        energy_weight: weight of device energy (joules).
        kappa: effective switched capacitance; local energy = kappa * p1^2 * cycles (J).
        tx_power_w: device transmit power while sending to the edge (W).
        rx_power_w: device receive power while receiving from the edge (W).
    """

    latency_weight: float = 1.0
    energy_weight: float = 0.0
    kappa: float = 1e-27
    tx_power_w: float = 0.5
    rx_power_w: float = 0.5

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


LATENCY = Objective()


@dataclass
class Coefficients:
    """Per-instance cost coefficients: unary (B, n, 3), up (B, 2), down (B, 2)."""

    unary: np.ndarray
    up: np.ndarray
    down: np.ndarray

    def hop_matrix(self) -> np.ndarray:
        """(B, 3, 3) per-byte cost of moving data from place a to place b."""
        u0, u1 = self.up[:, 0], self.up[:, 1]
        w0, w1 = self.down[:, 0], self.down[:, 1]
        z = np.zeros_like(u0)
        with np.errstate(invalid="ignore"):
            rows = [
                [z, u0, u0 + u1],
                [w0, z, u1],
                [w0 + w1, w1, z],
            ]
        return np.stack([np.stack(r, axis=-1) for r in rows], axis=-2)


def _inv(x: np.ndarray) -> np.ndarray:
    """1/x with 1/0 = inf (a zero bandwidth or speed makes that option infinitely slow)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(x > 0, 1.0 / np.where(x > 0, x, 1.0), np.inf)


def latency_coefficients(inst: Instances) -> Coefficients:
    c = inst.cycles
    p3 = np.broadcast_to(np.asarray(inst.p3, dtype=float), (len(inst),))
    unary = np.stack(
        [c * _inv(inst.p1)[:, None], c * _inv(inst.p2)[:, None],
         np.where(np.isinf(p3)[:, None], 0.0, c * _inv(p3)[:, None])],
        axis=-1,
    )
    unary = np.where(c[..., None] == 0, 0.0, unary)  # zero cycles take zero time even on a stalled CPU
    up = np.stack([_inv(inst.up1), _inv(inst.up2)], axis=-1)
    down = np.stack([_inv(inst.down1), _inv(inst.down2)], axis=-1)
    return Coefficients(unary, up, down)


def energy_coefficients(inst: Instances, obj: Objective) -> Coefficients:
    c = inst.cycles
    z = np.zeros_like(c)
    unary = np.stack([obj.kappa * (inst.p1**2)[:, None] * c, z, z], axis=-1)
    zb = np.zeros(len(inst))
    up = np.stack([obj.tx_power_w * _inv(inst.up1), zb], axis=-1)
    down = np.stack([obj.rx_power_w * _inv(inst.down1), zb], axis=-1)
    if obj.tx_power_w == 0:
        up[:, 0] = 0.0
    if obj.rx_power_w == 0:
        down[:, 0] = 0.0
    return Coefficients(unary, up, down)


def coefficients(inst: Instances, obj: Objective = LATENCY) -> Coefficients:
    """Cost coefficients of ``obj`` for every instance of the batch."""
    parts = []
    if obj.latency_weight:
        parts.append((obj.latency_weight, latency_coefficients(inst)))
    if obj.energy_weight:
        parts.append((obj.energy_weight, energy_coefficients(inst, obj)))
    if not parts:
        raise ValueError("the objective needs a non-zero latency_weight or energy_weight")
    w, c = parts[0]
    out = Coefficients(w * c.unary, w * c.up, w * c.down)
    for w, c in parts[1:]:
        out = Coefficients(out.unary + w * c.unary, out.up + w * c.up, out.down + w * c.down)
    return out


def edge_cost_matrices(coef: Coefficients, data: np.ndarray) -> np.ndarray:
    """(B, m, 3, 3) transfer cost of each data edge for each (from, to) pair of places."""
    hop = coef.hop_matrix()  # (B, 3, 3)
    d = data[:, :, None, None]
    with np.errstate(invalid="ignore"):
        return np.where(d > 0, d * hop[:, None, :, :], 0.0)


def evaluate(coef: Coefficients, graph: TaskGraph, data: np.ndarray, placements: Any) -> np.ndarray:
    """Cost of one placement per instance.

    Args:
        coef: from :func:`coefficients` (batch B).
        graph: task structure (n subtasks, m edges).
        data: (B, m) bytes per data edge.
        placements: (B, n), or (1, n) / (n,) applied to every instance.

    Returns:
        (B,) costs. For K shared placements scored on every instance use :func:`evaluate_all`.
    """
    B = coef.unary.shape[0]
    n = graph.n
    P = np.asarray(placements, dtype=np.int64)
    P = np.broadcast_to(P.reshape(-1, n) if P.ndim == 1 else P, (B, n)) if P.ndim == 1 or P.shape[0] == 1 else P
    if P.shape != (B, n):
        raise ValueError(f"placements must have shape ({B}, {n}), got {P.shape}")
    if P.size and (P.min() < 0 or P.max() > 2):
        raise ValueError("placements must be 0 (device), 1 (edge) or 2 (cloud)")
    pair = edge_cost_matrices(coef, data).reshape(B, graph.m, 9)
    total = np.take_along_axis(coef.unary, P[:, :, None], axis=2)[:, :, 0].sum(axis=1)
    ext = np.concatenate([P, np.zeros((B, 1), dtype=np.int64)], axis=1)  # index n -> device output
    a = np.where(graph.src[None, :] < 0, 0, ext[:, np.maximum(graph.src, 0)])
    b = ext[:, graph.dst]
    return total + np.take_along_axis(pair, (3 * a + b)[:, :, None], axis=2)[:, :, 0].sum(axis=1)


def evaluate_all(coef: Coefficients, graph: TaskGraph, data: np.ndarray, P: np.ndarray,
                 pair: np.ndarray | None = None) -> np.ndarray:
    """(B, K) cost of each of K shared placements ``P`` (K, n) for every instance."""
    B = coef.unary.shape[0]
    if pair is None:
        pair = edge_cost_matrices(coef, data).reshape(B, graph.m, 9)
    total = np.zeros((B, P.shape[0]))
    for v in range(graph.n):
        total += coef.unary[:, v, :][:, P[:, v]]
    ext = np.concatenate([P, np.zeros((P.shape[0], 1), dtype=np.int64)], axis=1)
    for k in range(graph.m):
        s, d = int(graph.src[k]), int(graph.dst[k])
        a = np.zeros(P.shape[0], dtype=np.int64) if s < 0 else ext[:, s]
        total += pair[:, k, :][:, 3 * a + ext[:, d]]
    return total


def cost(inst: Instances, placements: Any, obj: Objective = LATENCY) -> np.ndarray:
    """Objective value of one placement per instance: (B, n) -> (B,)."""
    return evaluate(coefficients(inst, obj), inst.graph, inst.data, placements)


def latency(inst: Instances, placements: Any) -> np.ndarray:
    """End-to-end latency L(S, I) in seconds, (B, n) placements -> (B,)."""
    return cost(inst, placements, LATENCY)


def energy(inst: Instances, placements: Any, obj: Objective = LATENCY) -> np.ndarray:
    """Device energy in joules (the energy parameters of ``obj``), (B, n) -> (B,)."""
    e = energy_coefficients(inst, obj)
    return evaluate(e, inst.graph, inst.data, placements)


def coefficients_one(cycles: Any, p1: float, p2: float, b1: float, b2: float,
                     b1_down: float | None = None, b2_down: float | None = None,
                     p3: float = float("inf"), obj: Objective = LATENCY
                     ) -> tuple[list[tuple[float, float, float]], tuple[float, float], tuple[float, float]]:
    """The coefficients of :func:`coefficients` for ONE instance, in plain Python floats.

    Same formulas, evaluated in the same order as the vectorised path, so the
    values are bit-for-bit equal (tested); it exists because numpy's per-call
    overhead dominates a single small decision, which the engine may time on
    the wall clock.

    Returns:
        ``unary`` (n tuples of 3 costs), ``up`` (hop 0, hop 1) and ``down`` (hop 0, hop 1) per-byte costs.
    """
    inf = float("inf")

    def inv(x: float) -> float:
        return 1.0 / x if x > 0 else inf

    lw, ew = obj.latency_weight, obj.energy_weight
    if not lw and not ew:
        raise ValueError("the objective needs a non-zero latency_weight or energy_weight")
    cyc = cycles.tolist() if hasattr(cycles, "tolist") else list(cycles)
    b1d = b1 if b1_down is None else b1_down
    b2d = b2 if b2_down is None else b2_down
    unary: list[tuple[float, float, float]] = []
    up = [0.0, 0.0]
    down = [0.0, 0.0]
    if lw:
        i1, i2 = inv(p1), inv(p2)
        i3 = None if p3 == inf else inv(p3)
        for c in cyc:
            if c == 0:
                unary.append((0.0, 0.0, 0.0))
            else:
                unary.append((lw * (c * i1), lw * (c * i2), 0.0 if i3 is None else lw * (c * i3)))
        up = [lw * inv(b1), lw * inv(b2)]
        down = [lw * inv(b1d), lw * inv(b2d)]
    if ew:
        k = obj.kappa * (p1 * p1)
        e = [ew * (k * c) for c in cyc]
        if lw:
            unary = [(u0 + x, u1 + 0.0, u2 + 0.0) for (u0, u1, u2), x in zip(unary, e)]
        else:
            unary = [(x, 0.0, 0.0) for x in e]
        eu = ew * (obj.tx_power_w * inv(b1)) if obj.tx_power_w else 0.0
        ed = ew * (obj.rx_power_w * inv(b1d)) if obj.rx_power_w else 0.0
        up = [up[0] + eu, up[1] + 0.0]
        down = [down[0] + ed, down[1] + 0.0]
    return unary, (up[0], up[1]), (down[0], down[1])


def hop_rows(up: tuple[float, float], down: tuple[float, float]) -> tuple[tuple[float, float, float], ...]:
    """Per-byte cost of moving data from place a (row) to place b (column), as :meth:`Coefficients.hop_matrix`."""
    u0, u1 = up
    w0, w1 = down
    return ((0.0, u0, u0 + u1), (w0, 0.0, u1), (w0 + w1, w1, 0.0))
