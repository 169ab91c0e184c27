"""Bandwidth models: a link's capacity as a deterministic function of time.

A model is piecewise constant in time (bytes/s). The engine never samples it
step by step: it asks for the *cumulative* capacity C(t) (bytes the link could
carry in [0, t]) and its inverse, so a transfer's completion is one scheduled
event however many bandwidth steps it spans. Zero-rate stretches are flat parts
of C: a transfer stalls there and resumes, nothing divides by zero. A model
whose capacity never reaches the target returns ``inf``.

Stochastic models draw their sample path from their own random stream, so every
policy in a run sees the same bandwidth (common random numbers): whole when it is
short, block by block (:class:`~simoffload.net.blocked.BlockedBandwidth`, the same
draws) when it is long; long trace files are read block by block the same way.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from typing import Any

import numpy as np


class BandwidthModel:
    """Interface of a bandwidth model (bytes/s, piecewise constant)."""

    def rate(self, t: float) -> float:
        """Capacity at time ``t`` (bytes/s)."""
        raise NotImplementedError

    def cumulative(self, t: float) -> float:
        """Bytes the link can carry in [0, t]."""
        raise NotImplementedError

    def time_at(self, c: float) -> float:
        """Earliest t with ``cumulative(t) >= c`` (``inf`` if never)."""
        raise NotImplementedError

    def steps(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        """Change points in [t0, t1): (times, rates), the first at ``t0``."""
        raise NotImplementedError

    def mean_rate(self) -> float:
        """Long-run time-averaged capacity (bytes/s)."""
        raise NotImplementedError


class ConstantBandwidth(BandwidthModel):
    """A constant capacity ``rate_Bps`` (bytes/s); zero means the link never delivers."""

    def __init__(self, rate_Bps: float):
        if not (rate_Bps >= 0 and math.isfinite(rate_Bps)):
            raise ValueError(f"bandwidth must be finite and non-negative, got {rate_Bps}")
        self.rate_Bps = float(rate_Bps)

    def rate(self, t: float) -> float:
        return self.rate_Bps

    def cumulative(self, t: float) -> float:
        return self.rate_Bps * t

    def time_at(self, c: float) -> float:
        if c <= 0:
            return 0.0
        return c / self.rate_Bps if self.rate_Bps > 0 else math.inf

    def steps(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        return np.array([t0]), np.array([self.rate_Bps])

    def mean_rate(self) -> float:
        return self.rate_Bps

    def __repr__(self) -> str:
        return f"ConstantBandwidth({self.rate_Bps:g} B/s)"


class PiecewiseBandwidth(BandwidthModel):
    """Piecewise-constant capacity: ``rates[i]`` holds on ``[times[i], times[i+1])``.

    Args:
        times: (K+1,) strictly increasing step boundaries, ``times[0] == 0``.
        rates: (K,) non-negative rates (bytes/s).
        after: what happens after ``times[-1]``: ``"loop"`` (replay from 0 with
            period ``times[-1]``, as Mahimahi and Pensieve do), ``"hold"`` (keep
            the last rate) or ``"zero"``.

    Memory is O(K) once, shared by every transfer on the link.
    """

    def __init__(self, times: Any, rates: Any, after: str = "loop"):
        t = np.asarray(times, dtype=float)
        r = np.asarray(rates, dtype=float)
        if t.ndim != 1 or r.ndim != 1 or len(t) != len(r) + 1 or len(r) == 0:
            raise ValueError("need K+1 step boundaries for K rates (K >= 1)")
        if t[0] != 0:
            raise ValueError("the first step must start at time 0")
        if np.any(np.diff(t) <= 0):
            raise ValueError("step boundaries must be strictly increasing")
        if np.any(r < 0) or not np.all(np.isfinite(r)):
            raise ValueError("rates must be finite and non-negative")
        if after not in ("loop", "hold", "zero"):
            raise ValueError(f"after must be loop, hold or zero, got {after!r}")
        self.times, self.rates, self.after = t, r, after
        self.period = float(t[-1])
        self.cum = np.concatenate([[0.0], np.cumsum(r * np.diff(t))])
        self.total = float(self.cum[-1])

    def _lists(self) -> tuple[list[float], list[float], list[float]]:
        # plain lists + bisect: ~10x faster than numpy calls on scalars, and the
        # engine asks for one point at a time. Built lazily, after any subclass
        # has finished adjusting ``cum``.
        lists = self.__dict__.get("_lists_cache")
        if lists is None:
            lists = (self.times.tolist(), self.rates.tolist(), self.cum.tolist())
            self.__dict__["_lists_cache"] = lists
        return lists

    # cumulative within one period, t in [0, period]
    def _c_in(self, t: float) -> float:
        times, rates, cum = self._lists()
        i = min(max(bisect_right(times, t) - 1, 0), len(rates) - 1)
        return cum[i] + rates[i] * (t - times[i])

    # earliest t in [0, period] with C_in(t) >= c, for 0 <= c <= total
    def _t_in(self, c: float) -> float:
        times, rates, cum = self._lists()
        i = bisect_left(cum, c)
        if i == 0:
            return 0.0
        if i >= len(cum):  # rounding above total
            return self.period
        j = i - 1
        return times[j] + (c - cum[j]) / rates[j]

    # ------------------------------------------------------------------ the phase
    #
    # Looping replays the period from loop starts S(q) = q * period (as a float)
    # and puts segment j of loop q at B(q, j) = S(q) + times[j] (as a float). These
    # float boundaries ARE the model: rate, cumulative and steps all locate a time
    # through _phase / _phase_vec below, so they cannot disagree. (Reducing t with
    # fmod or t - q * period alone is not enough: 20 + 3.7 rounds to 23.699999...,
    # and 23.7 - 20 = 3.6999... falls in the previous segment.)

    def _phase(self, t: float) -> tuple[int, int, float]:
        """(loop q, segment i, offset tau = t - S(q)) of time ``t`` in a looping model, t >= 0."""
        period = self.period
        times, _, _ = self._lists()
        k = len(times) - 2  # last segment
        q = math.floor(t / period)
        # t / period rounds: correct q so that S(q) <= t < S(q + 1)
        while q > 0 and q * period > t:
            q -= 1
        while (q + 1) * period <= t:
            q += 1
        base = q * period
        tau = t - base  # exact for q >= 1 (Sterbenz: S(q) <= t <= 2 S(q))
        i = min(max(bisect_right(times, tau) - 1, 0), k)
        if q:
            while i < k and base + times[i + 1] <= t:  # tau just below a breakpoint the boundary has passed
                i += 1
            while i > 0 and base + times[i] > t:
                i -= 1
        return q, i, tau

    def _phase_vec(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised :meth:`_phase` (loop and segment indices); the same float operations."""
        period = self.period
        k = len(self.rates) - 1
        q = np.floor(t / period)
        while True:
            m = (q > 0) & (q * period > t)
            if not m.any():
                break
            q[m] -= 1
        while True:
            m = (q + 1) * period <= t
            if not m.any():
                break
            q[m] += 1
        base = q * period
        i = np.clip(np.searchsorted(self.times, t - base, side="right") - 1, 0, k)
        while True:
            j = np.minimum(i + 1, k)
            m = (q > 0) & (i < k) & (base + self.times[j] <= t)
            if not m.any():
                break
            i[m] += 1
        while True:
            m = (q > 0) & (i > 0) & (base + self.times[i] > t)
            if not m.any():
                break
            i[m] -= 1
        return q, i

    def rate(self, t: float) -> float:
        times, rates, _ = self._lists()
        if t >= self.period:
            if self.after == "hold":
                return rates[-1]
            if self.after == "zero":
                return 0.0
            return rates[self._phase(t)[1]]
        return rates[min(max(bisect_right(times, t) - 1, 0), len(rates) - 1)]

    def cumulative(self, t: float) -> float:
        if t <= self.period:
            return self._c_in(t)
        if self.after == "hold":
            return self.total + float(self.rates[-1]) * (t - self.period)
        if self.after == "zero":
            return self.total
        q, i, tau = self._phase(t)
        times, rates, cum = self._lists()
        return q * self.total + (cum[i] + rates[i] * (tau - times[i]))

    def time_at(self, c: float) -> float:
        if c <= 0:
            return 0.0
        if c <= self.total:
            return self._t_in(c)
        if self.after == "hold":
            last = self._last_rate()
            return self.period + (c - self.total) / last if last > 0 else math.inf
        if self.after == "zero" or self.total <= 0:
            return math.inf
        q = math.floor(c / self.total)
        r = c - q * self.total
        if r <= 0:
            q, r = q - 1, self.total
        return q * self.period + self._t_in(r)

    def _last_rate(self) -> float:
        return float(self.rates[-1])

    def steps(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        if self.after != "loop":
            inner = self.times[(self.times > t0) & (self.times < min(t1, self.period))]
            out_t = [t0] + inner.tolist()
            if self.period > t0 and self.period < t1:
                out_t.append(self.period)
            t = np.asarray(out_t, dtype=float)
            r = np.array([self.rate(x) for x in out_t], dtype=float)
        else:
            # every candidate boundary B(q, j) in (t0, t1), labelled by the phase itself
            q0 = max(math.floor(t0 / self.period) - 1, 0)
            q1 = math.floor(t1 / self.period) + 1
            qs = np.arange(q0, q1 + 1, dtype=float)
            base = qs * self.period
            cand = (base[:, None] + self.times[None, :-1]).ravel()
            cand[:: len(self.rates)] = base  # B(q, 0) = S(q)
            # a boundary that rounding pushed past a later one never starts a segment
            later_min = np.minimum.accumulate(cand[::-1])[::-1]
            valid = np.append(cand[:-1] < later_min[1:], True)
            cand = cand[valid & (cand > t0) & (cand < t1)]
            t = np.concatenate([[float(t0)], cand])
            r = self.rates[self._phase_vec(t)[1]]
        keep = np.concatenate([[True], r[1:] != r[:-1]])  # drop steps that do not change the rate
        return t[keep], r[keep]

    def mean_rate(self) -> float:
        if self.after == "hold":
            return float(self.rates[-1])
        if self.after == "zero":
            return 0.0
        return self.total / self.period

    def __repr__(self) -> str:
        return f"PiecewiseBandwidth({len(self.rates)} steps over {self.period:g} s, after={self.after})"
