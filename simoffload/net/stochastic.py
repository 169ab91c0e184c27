"""Stochastic bandwidth models: a sample path as a piecewise-constant model.

Each generator draws the sample path over ``[0, horizon_s]`` (at least) from the
generator it is given, so every policy in a run that builds the link from the
same stream sees the same bandwidth (common random numbers), and the engine
treats it exactly like a replayed trace.

A path of at most :data:`WHOLE_STEPS` steps is drawn whole into a
:class:`PiecewiseBandwidth`. A longer one is drawn block by block
(:data:`BLOCK_STEPS` steps) into a :class:`~simoffload.net.blocked.BlockedBandwidth`
(:class:`_LazyPath`): building it draws the first block; a query draws the
blocks up to the one it needs, in order, keeping a checkpoint per block (the
random stream's state, the filter state, the clock and the cumulative
capacity); a block evicted from the cache and needed again is redrawn from its
checkpoint. The draws are the same numbers in the same order as the whole
path's (the streams fill arrays element by element and the filter carries its
state), so both give bit-identical models; memory stays O(steps / block) for a
day-long path, and a link moving forward draws each block once.

After the generated stretch the path loops by default (``after="loop"``): a run
that outlives the horizon keeps fluctuating with the same statistics, and
``mean_rate()`` is the path's time average. ``after="hold"`` keeps the last value.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Callable

import numpy as np
from scipy.signal import lfilter

from .bandwidth import PiecewiseBandwidth
from .blocked import CACHE_BLOCKS, BlockedBandwidth

#: longest path (steps) drawn whole; longer ones are drawn block by block
WHOLE_STEPS = 65_536
#: steps per block of a path drawn block by block
BLOCK_STEPS = 4_096


def _restore(state: dict) -> np.random.Generator:
    """A generator continuing from a saved ``bit_generator.state``."""
    bg = getattr(np.random, state["bit_generator"])()
    bg.state = copy.deepcopy(state)
    return np.random.Generator(bg)


def _cum(times: np.ndarray, rates: np.ndarray, c0: float) -> np.ndarray:
    """Cumulative capacity at ``times`` continuing from ``c0`` (the same sums as one whole-path cumsum)."""
    return np.cumsum(np.concatenate([[c0], rates * np.diff(times)]))


class _LazyPath(BlockedBandwidth):
    """A long path whose blocks are drawn when a query first needs them, in order, each once.

    ``make(state)`` returns one block: step boundaries (k+1,) (``times[-1]`` is
    the next block's first start, or the path's end), rates (k,) and the state
    the next block starts from (None after the last block). A state is what a
    block needs to be redrawn exactly (the random stream's saved state, the
    clock, a filter's state). A block's start state is only known once every
    block before it is drawn (a normal or exponential draw takes a varying number
    of the stream's words), so blocks are drawn in order: a query at time ``t``
    draws the blocks up to the one holding ``t`` (the *frontier* moves forward),
    and a block drawn earlier and since evicted from the cache is redrawn from its
    checkpoint. Until the last block is drawn, the period and total are unknown
    (held as infinity); a query that needs them (a time past the frontier that
    turns out to be past the end, ``mean_rate``, the rates view) draws the rest.

    Every answer is the eager index's (:class:`BlockedBandwidth` over the same
    blocks): a query is answered only from blocks that lie wholly before the
    frontier, where the partial index equals the full one.
    """

    def __init__(self, make: Callable[[Any], tuple[np.ndarray, np.ndarray, Any]], state0: Any, after: str,
                 source: str):
        self._make = make
        self._next = state0
        self._states: list[Any] = []
        self._front_t = 0.0   # start of the first block not drawn yet (the path's end once done)
        self._front_c = 0.0   # cumulative capacity there
        self.done = False
        self.drawn = 0        # blocks drawn so far, first draws only (for tests and benchmarks)
        first = None
        while first is None and self._next is not None:
            first = self._draw()
        if first is None:
            raise ValueError("a path needs at least one step")
        super().__init__([0, len(first[0])], [first[0][0]], [0.0], period=math.inf, total=math.inf, after=after,
                         loader=self._redraw, source=source)
        self._keep(0, first)
        self._finish_if_done()

    def _draw(self) -> tuple[list[float], list[float], list[float]] | None:
        """Draw the next block from the saved state; its lists, or None if it holds no step."""
        state = self._next
        times, rates, nxt = self._make(state)
        self._next = nxt
        if not len(rates):
            return None
        self._states.append(state)
        self.drawn += 1
        cum = _cum(times, rates, self._front_c)
        blk = (times[:-1].tolist(), rates.tolist(), cum[:-1].tolist())
        self._front_t, self._front_c = float(times[-1]), float(cum[-1])
        return blk

    def _redraw(self, b: int) -> tuple[list[float], list[float], list[float]]:
        times, rates, _ = self._make(self._states[b])
        return times[:-1].tolist(), rates.tolist(), _cum(times, rates, self._fc[b])[:-1].tolist()

    def _keep(self, b: int, blk: tuple[list[float], list[float], list[float]]) -> None:
        self._cache[b] = blk
        while len(self._cache) > CACHE_BLOCKS:
            self._cache.popitem(last=False)

    def _finish_if_done(self) -> None:
        if self._next is None and not self.done:
            self.done = True
            self.period, self.total = self._front_t, self._front_c

    def _grow(self) -> None:
        """Draw one more block with steps (or find there is none) and index it."""
        c0 = self._front_c
        blk = self._draw()
        while blk is None and self._next is not None:
            blk = self._draw()
        if blk is not None:
            self._ft.append(blk[0][0])
            self._fc.append(c0)
            self._fi.append(self._fi[-1] + len(blk[0]))
            self.n_steps = self._fi[-1]
            self._keep(len(self._ft) - 1, blk)
        self._finish_if_done()

    def _to_time(self, t: float) -> None:
        while not self.done and t >= self._front_t:
            self._grow()

    def complete(self) -> None:
        """Draw every remaining block (the index is then the eager one)."""
        while not self.done:
            self._grow()

    # ------------------------------------------------------------------ the model, frontier first

    def rate(self, t: float) -> float:
        self._to_time(t)
        return super().rate(t)

    def cumulative(self, t: float) -> float:
        self._to_time(t)
        return super().cumulative(t)

    def time_at(self, c: float) -> float:
        while not self.done and c >= self._front_c:
            self._grow()
        return super().time_at(c)

    def steps(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        self._to_time(t1)
        if self.done or t0 < 0:
            self.complete()
            return super().steps(t0, t1)
        # t0 <= t1 < the frontier < the period: one pass of the first period, as BlockedBandwidth.steps
        # gives it there (its loop branch's candidates past t1 or from other loops are all filtered out)
        t = np.asarray([t0] + [x for x in self._times_between(t0, t1) if t0 < x < t1], dtype=float)
        r = np.array([self.rate(x) for x in t], dtype=float)
        keep = np.concatenate([[True], r[1:] != r[:-1]])
        return t[keep], r[keep]

    def mean_rate(self) -> float:
        self.complete()
        return super().mean_rate()

    @property
    def rates(self) -> Any:
        self.complete()
        return super().rates

    @property
    def n_blocks(self) -> int:
        self.complete()
        return len(self._ft)

    def __repr__(self) -> str:
        if self.done:
            return super().__repr__()
        return (f"BlockedBandwidth({self.n_steps} steps in {len(self._ft)} blocks drawn so far, up to "
                f"{self._front_t:g} s, after={self.after}, {self.source})")


def _blocked(make: Callable[[Any], tuple[np.ndarray, np.ndarray, Any]], state0: Any,
             after: str, source: str) -> BlockedBandwidth:
    """A long path served block by block, each block drawn when a query first needs it (:class:`_LazyPath`)."""
    return _LazyPath(make, state0, after, source)


def _check_after(after: str) -> None:
    if after not in ("loop", "hold"):
        raise ValueError(f"after must be loop or hold, got {after!r}")


def gauss_markov(
    mean_Bps: float,
    std_Bps: float,
    *,
    correlation: float | None = None,
    tau_s: float | None = None,
    step_s: float = 1.0,
    horizon_s: float,
    rng: np.random.Generator,
    after: str = "loop",
) -> PiecewiseBandwidth:
    """Gauss-Markov (AR(1)) bandwidth around a mean, clipped at zero.

    ``x[k+1] = mean + rho * (x[k] - mean) + sqrt(1 - rho^2) * std * e[k]`` with
    ``e`` standard normal and ``x[0]`` drawn from the stationary law
    ``N(mean, std^2)``, so the unclipped process is stationary from the start with
    mean ``mean_Bps``, standard deviation ``std_Bps`` and lag-k correlation
    ``rho^k``. Each value holds for ``step_s``. Values below zero become zero
    (so with ``std`` comparable to ``mean`` the clipped mean is above ``mean``).

    Args:
        mean_Bps: stationary mean (bytes/s), >= 0.
        std_Bps: stationary standard deviation (bytes/s), >= 0.
        correlation: rho, the correlation between consecutive steps, in [0, 1).
        tau_s: alternatively the correlation time (s): rho = exp(-step_s / tau_s).
        step_s: sample spacing (s).
        horizon_s: the path covers at least [0, horizon_s].
        rng: the random stream (from :func:`simoffload.rng.rng_for`).
        after: ``loop`` (default) or ``hold`` after the generated stretch.

    Returns:
        The sample path as a piecewise-constant model.
    """
    _check_after(after)
    if not (mean_Bps >= 0 and math.isfinite(mean_Bps)):
        raise ValueError(f"mean must be finite and >= 0, got {mean_Bps}")
    if not (std_Bps >= 0 and math.isfinite(std_Bps)):
        raise ValueError(f"std must be finite and >= 0, got {std_Bps}")
    if not (step_s > 0 and math.isfinite(step_s)):
        raise ValueError(f"step must be > 0, got {step_s}")
    if (correlation is None) == (tau_s is None):
        raise ValueError("give exactly one of correlation and tau_s")
    if tau_s is not None:
        if not tau_s > 0:
            raise ValueError(f"tau_s must be > 0, got {tau_s}")
        rho = math.exp(-step_s / tau_s)
    else:
        rho = float(correlation)
        if not 0 <= rho < 1:
            raise ValueError(f"correlation must be in [0, 1), got {rho}")
    n = max(1, math.ceil(horizon_s / step_s))
    if n > WHOLE_STEPS:
        return _gauss_markov_blocked(mean_Bps, std_Bps, rho, step_s, n, rng, after)
    e = rng.standard_normal(n)
    x0 = e[0] * std_Bps  # stationary start
    innov = e[1:] * (std_Bps * math.sqrt(1.0 - rho * rho))
    # y[k] = rho * y[k-1] + innov[k], y[0] = x0 (deviations from the mean)
    y = np.empty(n)
    y[0] = x0
    if n > 1:
        y[1:] = lfilter([1.0], [1.0, -rho], innov, zi=[rho * x0])[0]
    rates = np.maximum(mean_Bps + y, 0.0)
    times = np.arange(n + 1) * step_s
    return PiecewiseBandwidth(times, rates, after=after)


def _gauss_markov_blocked(mean_Bps: float, std_Bps: float, rho: float, step_s: float, n: int,
                          rng: np.random.Generator, after: str, block: int | None = None) -> BlockedBandwidth:
    """:func:`gauss_markov`'s path drawn ``block`` steps at a time (the same draws, the same model)."""
    block = block or BLOCK_STEPS
    scale = std_Bps * math.sqrt(1.0 - rho * rho)

    def make(state: dict) -> tuple[np.ndarray, np.ndarray, dict | None]:
        k0 = state["k0"]
        k1 = min(k0 + block, n)
        g = _restore(state["rng"])
        e = g.standard_normal(k1 - k0)
        if k0 == 0:  # the stationary start, then the filter from it
            x0 = e[0] * std_Bps
            y = np.empty(k1)
            y[0] = x0
            zf = np.array([rho * x0])
            if k1 > 1:
                y[1:], zf = lfilter([1.0], [1.0, -rho], e[1:] * scale, zi=zf)
        else:
            y, zf = lfilter([1.0], [1.0, -rho], e * scale, zi=state["zi"])
        rates = np.maximum(mean_Bps + y, 0.0)
        times = np.arange(k0, k1 + 1) * step_s
        nxt = None if k1 == n else {"k0": k1, "rng": g.bit_generator.state, "zi": zf}
        return times, rates, nxt

    return _blocked(make, {"k0": 0, "rng": copy.deepcopy(rng.bit_generator.state), "zi": None}, after,
                    f"gauss_markov, blocks of {block}")


def gilbert_elliott(
    good_Bps: float,
    bad_Bps: float,
    *,
    mean_good_s: float,
    mean_bad_s: float,
    step_s: float | None = None,
    horizon_s: float,
    rng: np.random.Generator,
    after: str = "loop",
) -> PiecewiseBandwidth:
    """Gilbert-Elliott two-state bandwidth: a good and a bad state with their own rates.

    Dwell times are exponential with means ``mean_good_s`` / ``mean_bad_s``
    (a continuous-time Markov chain) when ``step_s`` is None; with ``step_s`` they
    are geometric multiples of ``step_s`` with the same means (a discrete-time
    chain that leaves a state with probability ``step_s / mean_s`` per step, so
    each mean must be >= ``step_s``). The initial state is drawn from the
    stationary law, P(good) = mean_good / (mean_good + mean_bad), and the first
    dwell is a full one (memoryless, so this is stationary for the exponential case).

    Args:
        good_Bps: rate in the good state (bytes/s).
        bad_Bps: rate in the bad state (bytes/s), may be 0 (an outage).
        mean_good_s: mean time in the good state (s).
        mean_bad_s: mean time in the bad state (s).
        step_s: None for exponential dwells, else the time step of a discrete chain.
        horizon_s: the path covers at least [0, horizon_s].
        rng: the random stream.
        after: ``loop`` (default) or ``hold`` after the generated stretch.

    Returns:
        The sample path as a piecewise-constant model.
    """
    _check_after(after)
    for name, v in (("good", good_Bps), ("bad", bad_Bps)):
        if not (v >= 0 and math.isfinite(v)):
            raise ValueError(f"{name} rate must be finite and >= 0, got {v}")
    for name, v in (("mean_good_s", mean_good_s), ("mean_bad_s", mean_bad_s)):
        if not (v > 0 and math.isfinite(v)):
            raise ValueError(f"{name} must be > 0, got {v}")
        if step_s is not None and v < step_s:
            raise ValueError(f"{name} ({v}) must be >= step_s ({step_s})")
    if step_s is not None and not step_s > 0:
        raise ValueError(f"step_s must be > 0, got {step_s}")
    horizon_s = max(float(horizon_s), step_s or 0.0, 1e-9)
    p_good = mean_good_s / (mean_good_s + mean_bad_s)
    good = bool(rng.random() < p_good)
    means = np.array([mean_bad_s, mean_good_s])
    if 2.0 * horizon_s / (mean_good_s + mean_bad_s) > WHOLE_STEPS:
        return _gilbert_elliott_blocked(good_Bps, bad_Bps, means, step_s, horizon_s, good, rng, after)
    dwells: list[np.ndarray] = []
    states: list[np.ndarray] = []
    total = 0.0
    while total < horizon_s:
        # enough alternating dwells for the remaining time in one batch (plus slack)
        m = 2 * int(math.ceil((horizon_s - total) / (mean_good_s + mean_bad_s))) + 16
        st = (np.arange(m) % 2 == 0) == good  # alternate, starting with the current state
        mu = means[st.astype(int)]
        if step_s is None:
            d = rng.exponential(mu)
        else:
            d = rng.geometric(step_s / mu) * step_s
        dwells.append(d)
        states.append(st)
        total += float(d.sum())
        good = not bool(st[-1])
    d = np.concatenate(dwells)
    st = np.concatenate(states)
    ends = np.cumsum(d)
    k = int(np.searchsorted(ends, horizon_s, side="left")) + 1  # dwells needed to cover the horizon
    times = np.concatenate([[0.0], ends[:k]])
    rates = np.where(st[:k], good_Bps, bad_Bps).astype(float)
    keep = np.diff(times) > 0  # a dwell too short to move the float clock carries no weight
    if not keep.all():
        times, rates = np.append(times[:-1][keep], times[-1]), rates[keep]
    return PiecewiseBandwidth(times, rates, after=after)


def _gilbert_elliott_blocked(good_Bps: float, bad_Bps: float, means: np.ndarray, step_s: float | None,
                             horizon_s: float, good: bool, rng: np.random.Generator, after: str,
                             block: int | None = None) -> BlockedBandwidth:
    """:func:`gilbert_elliott`'s path drawn ``block`` dwells at a time (the same draws, the same model).

    ``good`` is the first dwell's state (already drawn from ``rng``); ``means`` are
    (mean_bad_s, mean_good_s). The whole-path code draws a little slack beyond the
    horizon, this one does not: the dwells up to the horizon are the same numbers.
    """
    block = block or BLOCK_STEPS

    def make(state: dict) -> tuple[np.ndarray, np.ndarray, dict | None]:
        g = _restore(state["rng"])
        st = (np.arange(block) % 2 == 0) == state["good"]
        mu = means[st.astype(int)]
        d = g.exponential(mu) if step_s is None else g.geometric(step_s / mu) * step_s
        ends = np.cumsum(np.concatenate([[state["end"]], d]))  # the clock, continuing the whole path's sum
        k = int(np.searchsorted(ends[1:], horizon_s, side="left")) + 1  # dwells to cover the horizon
        last = k <= block
        k = min(k, block)
        times = ends[: k + 1]
        rates = np.where(st[:k], good_Bps, bad_Bps).astype(float)
        keep = np.diff(times) > 0  # a dwell too short to move the float clock carries no weight
        if not keep.all():
            times, rates = np.append(times[:-1][keep], times[-1]), rates[keep]
        nxt = None if last else {"rng": g.bit_generator.state, "good": not bool(st[-1]), "end": float(ends[-1])}
        return times, rates, nxt

    return _blocked(make, {"rng": copy.deepcopy(rng.bit_generator.state), "good": good, "end": 0.0}, after,
                    f"gilbert_elliott, blocks of {block}")
