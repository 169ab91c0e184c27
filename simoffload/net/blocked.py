"""A piecewise-constant bandwidth model served in blocks, for long traces and paths.

:class:`BlockedBandwidth` answers exactly what :class:`~simoffload.net.bandwidth.PiecewiseBandwidth`
answers for the same steps (the same float operations on the same numbers, so
``cumulative``, ``time_at``, ``rate`` and ``steps`` are bit-identical), but never
holds all the steps at once. It keeps a small index (the first step, first time
and first cumulative capacity of every block) and asks a *loader* for a block's
steps (times, rates, cumulative capacity at each step start) when a query lands
in it; a few recently used blocks are cached. The loader regenerates a block
from a checkpoint: a stochastic path redraws it from the saved state of its
random stream (:mod:`simoffload.net.stochastic`, which also draws blocks only when
first needed), a long trace file re-reads a stretch of its parsed steps from a
temporary file (:mod:`simoffload.net.trace_stream`).

Links move forward in time, so the common query hits the cached block or the
next one; a query anywhere else (an estimator looking back, ``bandwidth_rows``
at the end of a run) costs one index bisection and at most one block load.

Memory: the index is O(steps / block) numbers; the cache holds at most
:data:`CACHE_BLOCKS` blocks of at most the loader's block size.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from .bandwidth import BandwidthModel, PiecewiseBandwidth

#: blocks of steps a :class:`BlockedBandwidth` keeps decoded at once
CACHE_BLOCKS = 4

#: one block: (step start times, rates, cumulative capacity at each step start), as lists
Block = tuple[list[float], list[float], list[float]]


class _RatesView:
    """``model.rates`` of a blocked model: its length and items, without materialising them."""

    def __init__(self, model: "BlockedBandwidth"):
        self._m = model

    def __len__(self) -> int:
        return self._m.n_steps

    def __getitem__(self, i: int) -> float:
        n = self._m.n_steps
        if not isinstance(i, (int, np.integer)):
            raise TypeError("a blocked model's rates are indexed one at a time")
        i = int(i) + n if i < 0 else int(i)
        if not 0 <= i < n:
            raise IndexError(i)
        return self._m._r(i)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        """Every rate as one array (materialises the whole path: for tests and analysis, not for runs)."""
        m = self._m
        out = np.concatenate([np.asarray(m._loader(b)[1], dtype=float) for b in range(m.n_blocks)])
        return out.astype(dtype) if dtype is not None else out


class BlockedBandwidth(BandwidthModel):
    """Piecewise-constant capacity whose steps are loaded block by block.

    Args:
        first_idx: (B+1,) the global index of each block's first step; the last
            entry is the number of steps K. Every block holds at least one step.
        first_time: (B,) each block's first step start time (s); ``first_time[0] == 0``.
        first_cum: (B,) cumulative capacity (bytes) at each block's first step start.
        period: the end of the last step (s).
        total: cumulative capacity at ``period`` (bytes).
        after: ``loop``, ``hold`` or ``zero`` (as :class:`PiecewiseBandwidth`).
        loader: ``loader(b)`` returns block ``b``'s steps as lists (times, rates, cum).
        exact_end: ``cumulative(t)`` for ``period <= t`` within the first period is
            exactly ``total`` (the exact-bytes packet traces).
        source: a short description for ``repr``.
    """

    def __init__(self, first_idx: Any, first_time: Any, first_cum: Any, *, period: float, total: float,
                 after: str, loader: Callable[[int], Block], exact_end: bool = False, source: str = ""):
        if after not in ("loop", "hold", "zero"):
            raise ValueError(f"after must be loop, hold or zero, got {after!r}")
        self._fi = [int(x) for x in first_idx]
        self._ft = [float(x) for x in first_time]
        self._fc = [float(x) for x in first_cum]
        if len(self._fi) != len(self._ft) + 1 or len(self._ft) != len(self._fc) or not self._ft:
            raise ValueError("need B+1 first indices for B blocks (B >= 1)")
        self.n_steps = self._fi[-1]
        self.period, self.total, self.after = float(period), float(total), after
        self._loader = loader
        self._exact_end = exact_end
        self._cache: "OrderedDict[int, Block]" = OrderedDict()
        self._cur_b = -1
        self._cur: Block | None = None
        self.source = source
        self.loads = 0  # blocks decoded so far (for tests and benchmarks)

    # ------------------------------------------------------------------ blocks

    @property
    def n_blocks(self) -> int:
        return len(self._ft)

    @property
    def rates(self) -> _RatesView:
        """The rates as a sized, lazily indexed view (``len(model.rates)`` is the number of steps)."""
        return _RatesView(self)

    def _block(self, b: int) -> Block:
        if b == self._cur_b:
            return self._cur  # type: ignore[return-value]
        blk = self._cache.get(b)
        if blk is None:
            blk = self._loader(b)
            self.loads += 1
            if len(blk[0]) != self._fi[b + 1] - self._fi[b]:
                raise RuntimeError(f"block {b} of {self.source or 'a blocked model'} changed since it was indexed")
            self._cache[b] = blk
            while len(self._cache) > CACHE_BLOCKS:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(b)
        self._cur_b, self._cur = b, blk
        return blk

    def _where(self, i: int) -> tuple[Block, int]:
        b = self._cur_b
        if not (b >= 0 and self._fi[b] <= i < self._fi[b + 1]):
            b = bisect_right(self._fi, i) - 1
        blk = self._block(b)
        return blk, i - self._fi[b]

    def _t(self, i: int) -> float:
        """times[i], 0 <= i <= K (times[K] is the period)."""
        if i >= self.n_steps:
            return self.period
        blk, j = self._where(i)
        return blk[0][j]

    def _r(self, i: int) -> float:
        blk, j = self._where(i)
        return blk[1][j]

    def _c(self, i: int) -> float:
        """cum[i], 0 <= i <= K (cum[K] is the total)."""
        if i >= self.n_steps:
            return self.total
        blk, j = self._where(i)
        return blk[2][j]

    def _bisect_right_t(self, t: float) -> int:
        """``bisect_right(times, t)`` over the K+1 step boundaries."""
        ft = self._ft
        b = self._cur_b
        if not (b >= 0 and ft[b] <= t and (b + 1 >= len(ft) or t < ft[b + 1])):
            b = bisect_right(ft, t) - 1
            if b < 0:
                return 0
        blk = self._block(b)
        k = self._fi[b] + bisect_right(blk[0], t)
        if k == self.n_steps and t >= self.period:
            k += 1
        return k

    def _seg_t(self, t: float) -> tuple[Block, int]:
        """The block and local index of step ``min(max(bisect_right(times, t) - 1, 0), K - 1)``."""
        ft = self._ft
        b = self._cur_b
        if b >= 0 and ft[b] <= t and (b + 1 == len(ft) or t < ft[b + 1]):
            blk = self._cur
        else:
            b = bisect_right(ft, t) - 1
            blk = self._block(b if b > 0 else 0)
        j = bisect_right(blk[0], t) - 1  # type: ignore[index]
        return blk, (j if j > 0 else 0)  # type: ignore[return-value]

    def _bisect_left_c(self, c: float) -> int:
        """``bisect_left(cum, c)`` over the K+1 cumulative values."""
        b = bisect_left(self._fc, c) - 1
        if b < 0:
            return 0
        blk = self._block(b)
        k = self._fi[b] + bisect_left(blk[2], c)
        if k == self.n_steps and self.total < c:
            k += 1
        return k

    # ------------------------------------------------------------------ within one period

    def _c_in(self, t: float) -> float:
        if self._exact_end and t >= self.period:
            return self.total
        blk, j = self._seg_t(t)
        return blk[2][j] + blk[1][j] * (t - blk[0][j])

    def _t_in(self, c: float) -> float:
        i = self._bisect_left_c(c)
        if i == 0:
            return 0.0
        if i >= self.n_steps + 1:
            return self.period
        blk, j = self._where(i - 1)
        return blk[0][j] + (c - blk[2][j]) / blk[1][j]

    def _phase(self, t: float) -> tuple[int, int, float]:
        """As :meth:`PiecewiseBandwidth._phase`: (loop q, segment i, offset tau)."""
        period = self.period
        k = self.n_steps - 1
        q = math.floor(t / period)
        while q > 0 and q * period > t:
            q -= 1
        while (q + 1) * period <= t:
            q += 1
        base = q * period
        tau = t - base
        i = min(max(self._bisect_right_t(tau) - 1, 0), k)
        if q:
            while i < k and base + self._t(i + 1) <= t:
                i += 1
            while i > 0 and base + self._t(i) > t:
                i -= 1
        return q, i, tau

    # ------------------------------------------------------------------ the model

    def rate(self, t: float) -> float:
        if t >= self.period:
            if self.after == "hold":
                return self._r(self.n_steps - 1)
            if self.after == "zero":
                return 0.0
            return self._r(self._phase(t)[1])
        blk, j = self._seg_t(t)
        return blk[1][j]

    def cumulative(self, t: float) -> float:
        if t <= self.period:
            return self._c_in(t)
        if self.after == "hold":
            return self.total + float(self._r(self.n_steps - 1)) * (t - self.period)
        if self.after == "zero":
            return self.total
        q, i, tau = self._phase(t)
        blk, j = self._where(i)
        return q * self.total + (blk[2][j] + blk[1][j] * (tau - blk[0][j]))

    # the period / hold / loop arithmetic of the whole model, on this model's _t_in and _last_rate
    time_at = PiecewiseBandwidth.time_at

    def _last_rate(self) -> float:
        return float(self._r(self.n_steps - 1))

    def _times_between(self, lo: float, hi: float) -> list[float]:
        """Step starts ``times[i]`` (i < K) with ``lo <= times[i] <= hi``, in order."""
        out: list[float] = []
        i = self._bisect_right_t(lo) - 1
        i = max(i, 0)
        n = self.n_steps
        while i < n:
            blk, j = self._where(i)
            ts = blk[0]
            while j < len(ts):
                x = ts[j]
                if x > hi:
                    return out
                if x >= lo:
                    out.append(x)
                j += 1
                i += 1
        return out

    def steps(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        if self.after != "loop":
            inner = [x for x in self._times_between(t0, min(t1, self.period)) if t0 < x < min(t1, self.period)]
            out_t = [t0] + inner
            if self.period > t0 and self.period < t1:
                out_t.append(self.period)
            t = np.asarray(out_t, dtype=float)
            r = np.array([self.rate(x) for x in out_t], dtype=float)
        else:
            # PiecewiseBandwidth.steps lists every boundary B(q, j) of the loops around
            # [t0, t1]; here only those within a margin of [t0, t1] (far larger than any
            # rounding inversion), which leaves the validity test and the result unchanged.
            period = self.period
            q0 = max(math.floor(t0 / period) - 1, 0)
            q1 = math.floor(t1 / period) + 1
            margin = 1e-6 * (abs(t1) + period) + 1e-300
            cands: list[float] = []
            for q in range(q0, q1 + 1):
                base = q * float(period)
                lo, hi = t0 - base - margin, t1 - base + margin
                if hi < 0 or lo > period:
                    continue
                for x in self._times_between(lo, hi):
                    cands.append(base if x == 0.0 else base + x)
            cand = np.asarray(cands, dtype=float)
            if len(cand):
                later_min = np.minimum.accumulate(cand[::-1])[::-1]
                valid = np.append(cand[:-1] < later_min[1:], True)
                cand = cand[valid & (cand > t0) & (cand < t1)]
            t = np.concatenate([[float(t0)], cand])
            r = np.array([self._r(self._phase(float(x))[1]) for x in t], dtype=float)
        keep = np.concatenate([[True], r[1:] != r[:-1]])
        return t[keep], r[keep]

    def mean_rate(self) -> float:
        if self.after == "hold":
            return float(self._r(self.n_steps - 1))
        if self.after == "zero":
            return 0.0
        return self.total / self.period

    def held_bytes(self) -> int:
        """Rough bytes this model holds now: the index plus the decoded blocks (Python floats in lists)."""
        steps = sum(len(b[0]) for b in self._cache.values())
        return 3 * 32 * steps + 3 * 40 * len(self._ft)

    def __repr__(self) -> str:
        return (f"BlockedBandwidth({self.n_steps} steps in {self.n_blocks} blocks over {self.period:g} s, "
                f"after={self.after}{', ' + self.source if self.source else ''})")
