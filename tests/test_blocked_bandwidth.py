"""Blocked (lazily drawn / read) bandwidth models answer bit for bit what the whole path answers."""

from __future__ import annotations

import bisect
import math

import numpy as np
import pytest

from simoffload.net import stochastic
from simoffload.net.bandwidth import PiecewiseBandwidth
from simoffload.net.blocked import CACHE_BLOCKS, BlockedBandwidth
from simoffload.rng import rng_for


def _queries(period: float, total: float, seed: int = 0, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Times and capacities to probe: random ones over a few periods plus exact step-ish points."""
    r = np.random.default_rng(seed)
    t = np.concatenate([r.uniform(0, 3.5 * period, n), [0.0, period, 2 * period, period * (1 - 1e-12), 1e-9]])
    c = np.concatenate([r.uniform(0, 3.5 * total, n), [0.0, total, 2 * total, 1e-9]])
    return t, c


def assert_same_model(whole: PiecewiseBandwidth, blocked: BlockedBandwidth, seed: int = 0, n: int = 400) -> None:
    """Every query of the model interface gives the identical float on both (``n`` random queries of each kind).

    The queries come first (a lazily drawn path is then drawn by them, in their order), the
    step count, period and total last.
    """
    t, c = _queries(whole.period, max(whole.total, 1.0), seed, n)
    for order in (np.sort, lambda a: a):  # forward (as a link) and random (as an estimator)
        for x in order(t):
            x = float(x)
            assert blocked.cumulative(x) == whole.cumulative(x), x
            assert blocked.rate(x) == whole.rate(x), x
        for y in order(c):
            y = float(y)
            a, b = blocked.time_at(y), whole.time_at(y)
            assert a == b or (math.isinf(a) and math.isinf(b)), y
    # every step boundary and a point just inside each step of a stretch
    for x in whole.times[:50].tolist() + whole.times[-50:].tolist():
        for y in (x, x + 1e-7, whole.period + x, 2 * whole.period + x):
            assert blocked.cumulative(y) == whole.cumulative(y) and blocked.rate(y) == whole.rate(y)
    for x in whole.cum[:50].tolist() + whole.cum[-50:].tolist():
        for y in (x, whole.total + x, 3 * whole.total + x):
            assert blocked.time_at(y) == whole.time_at(y)
    r = np.random.default_rng(seed + 1)
    for _ in range(max(n // 20, 3)):
        a, b = sorted(r.uniform(0, 2.5 * whole.period, 2))
        tw, rw = whole.steps(a, b)
        tb, rb = blocked.steps(a, b)
        assert np.array_equal(tw, tb) and np.array_equal(rw, rb)
    assert len(blocked._cache) <= CACHE_BLOCKS
    assert len(blocked.rates) == blocked.n_steps == len(whole.rates)
    assert blocked.period == whole.period and blocked.total == whole.total
    assert blocked.mean_rate() == whole.mean_rate()


@pytest.mark.parametrize("after", ["loop", "hold"])
@pytest.mark.parametrize("block", [3, 1000])
def test_gauss_markov_blocked_equals_whole_path(after, block):
    kw = dict(step_s=0.25, horizon_s=1000.0, after=after)
    whole = stochastic.gauss_markov(5e6, 3e6, correlation=0.95, rng=rng_for(5, "gm"), **kw)  # clips at 0 often
    n = len(whole.rates)
    assert n == 4000 and np.mean(whole.rates == 0) > 0.01
    blocked = stochastic._gauss_markov_blocked(5e6, 3e6, 0.95, 0.25, n, rng_for(5, "gm"), after, block=block)
    assert blocked.n_blocks == math.ceil(n / block)
    assert_same_model(whole, blocked, seed=block)


@pytest.mark.parametrize("step_s", [None, 0.5])
@pytest.mark.parametrize("block", [2, 500])
def test_gilbert_elliott_blocked_equals_whole_path(step_s, block):
    kw = dict(mean_good_s=2.0, mean_bad_s=1.0, step_s=step_s, horizon_s=3000.0)
    whole = stochastic.gilbert_elliott(8e6, 0.0, rng=rng_for(9, "ge"), **kw)
    rng = rng_for(9, "ge")
    good = bool(rng.random() < 2.0 / 3.0)
    blocked = stochastic._gilbert_elliott_blocked(8e6, 0.0, np.array([1.0, 2.0]), step_s, 3000.0, good, rng,
                                                  "loop", block=block)
    assert len(whole.rates) > 1500
    assert_same_model(whole, blocked, seed=block)


def test_long_paths_are_blocked_with_the_same_numbers(monkeypatch):
    """Above WHOLE_STEPS the public functions return blocked models equal to the whole path."""
    monkeypatch.setattr(stochastic, "WHOLE_STEPS", 1000)
    monkeypatch.setattr(stochastic, "BLOCK_STEPS", 256)
    gm = stochastic.gauss_markov(1e6, 2e5, tau_s=3.0, step_s=0.1, horizon_s=500.0, rng=rng_for(1, "x"))
    ge = stochastic.gilbert_elliott(1e6, 1e5, mean_good_s=0.3, mean_bad_s=0.2, horizon_s=500.0, rng=rng_for(2, "y"))
    assert isinstance(gm, BlockedBandwidth) and isinstance(ge, BlockedBandwidth)
    monkeypatch.setattr(stochastic, "WHOLE_STEPS", 10**9)
    gm_w = stochastic.gauss_markov(1e6, 2e5, tau_s=3.0, step_s=0.1, horizon_s=500.0, rng=rng_for(1, "x"))
    ge_w = stochastic.gilbert_elliott(1e6, 1e5, mean_good_s=0.3, mean_bad_s=0.2, horizon_s=500.0, rng=rng_for(2, "y"))
    assert isinstance(gm_w, PiecewiseBandwidth)
    assert_same_model(gm_w, gm)
    assert_same_model(ge_w, ge)


def test_blocked_path_statistics_and_bounded_cache():
    """A long blocked path is an AR(1) path: its mean within a CI of the stationary mean; few blocks kept."""
    mu, sigma, rho = 10e6, 1e6, 0.8
    n = 1_000_000
    m = stochastic.gauss_markov(mu, sigma, correlation=rho, step_s=0.01, horizon_s=n * 0.01, rng=rng_for(4, "s"))
    se = sigma * math.sqrt((1 + rho) / (1 - rho) / n)
    assert abs(m.mean_rate() - mu) < 4 * se
    assert isinstance(m, BlockedBandwidth) and m.n_steps == n
    # walking forward through the whole path decodes each block once and keeps at most CACHE_BLOCKS
    loads = m.loads
    for t in np.linspace(0, m.period, 5 * m.n_blocks):
        m.cumulative(float(t))
    assert m.loads - loads == m.n_blocks and len(m._cache) <= CACHE_BLOCKS


def test_memory_estimate_counts_what_bandwidth_paths_hold(monkeypatch):
    """The estimate adds per link: a short path whole (120 B a step), a long one as checkpoints + cache."""
    from simoffload import limits
    from simoffload.config import parse_scenario

    monkeypatch.setenv("SIMOFFLOAD_LIMIT_MEMORY_BYTES", str(10**15))
    monkeypatch.setenv("SIMOFFLOAD_LIMIT_BANDWIDTH_STEPS", str(10**9))

    def est(wireless, horizon):
        sc = parse_scenario({"name": "m", "devices": {"count": 3}, "policies": ["local"], "horizon": horizon,
                             "network": {"wireless": {"up": wireless}}})
        return limits.memory_estimate(sc, streamed=True)[0]

    def gm(step):
        return {"gauss_markov": {"mean": "2 MB/s", "std": "1 MB/s", "tau_s": 5, "step_s": step}}

    # 1 h at 1 s: 3601 steps held whole on each of the 3 devices' links: 3 x 3601 x 120 B
    assert est(gm(1.0), 3600) - est("5 MB/s", 3600) == 3 * 3601 * 120
    # a day at 10 ms: 8,640,001 steps, drawn in 2110 blocks of 4096: 4 decoded blocks + 2110 checkpoints a link
    assert est(gm(0.01), 86400) - est("5 MB/s", 86400) == 3 * (4 * 4096 * 120 + 2110 * 1000)


def test_a_run_over_blocked_paths_gives_the_whole_paths_tables(monkeypatch):
    """A whole run (every policy, estimators looking back, link rows) is identical with blocked paths."""
    import pandas as pd
    import yaml

    from simoffload.config import parse_scenario
    from simoffload.sim.results import tables_from
    from simoffload.sim.scenario import run_scenario

    data = {"name": "b", "seed": 5, "horizon": "20 min", "task": {"subtasks": 4, "distribution": "paper-5.2"},
            "devices": {"count": 3, "arrivals": {"poisson": {"rate": "0.05 /s"}}},
            "network": {"wireless": {"up": {"gauss_markov": {"mean": "2 MB/s", "std": "1 MB/s", "tau_s": 5,
                                                             "step_s": 0.05}}},
                        "wan": {"up": {"gilbert_elliott": {"good": "3 MB/s", "bad": "0.1 MB/s", "mean_good_s": 0.02,
                                                           "mean_bad_s": 0.01}}}},
            "decision": {"estimator": {"kind": "ewma", "sample_s": 2, "alpha": 0.3, "lookback": 8}},
            "policies": ["local", "edge", "cloud", "random", "greedy"]}

    def run():
        return tables_from(run_scenario(parse_scenario(yaml.safe_load(yaml.safe_dump(data)))))

    monkeypatch.setattr(stochastic, "WHOLE_STEPS", 10**9)
    whole = run()
    monkeypatch.setattr(stochastic, "WHOLE_STEPS", 1000)
    monkeypatch.setattr(stochastic, "BLOCK_STEPS", 512)
    blocked = run()
    assert len(whole.tasks) > 100
    for name in ("tasks", "subtasks", "links"):
        pd.testing.assert_frame_equal(getattr(whole, name), getattr(blocked, name))


@pytest.mark.parametrize("kind", ["gauss_markov", "gilbert_elliott"])
def test_a_long_path_is_drawn_when_first_needed_each_block_once(kind):
    """Building draws one block; a link moving forward draws each block once, just before it needs it."""
    if kind == "gauss_markov":
        whole = stochastic.gauss_markov(5e6, 3e6, correlation=0.95, rng=rng_for(5, "gm"), step_s=0.25,
                                        horizon_s=1000.0)

        def lazy():
            return stochastic._gauss_markov_blocked(5e6, 3e6, 0.95, 0.25, 4000, rng_for(5, "gm"), "loop", block=50)
    else:
        whole = stochastic.gilbert_elliott(8e6, 1e6, rng=rng_for(9, "ge"), mean_good_s=2.0, mean_bad_s=1.0,
                                           step_s=None, horizon_s=3000.0)

        def lazy():
            rng = rng_for(9, "ge")
            good = bool(rng.random() < 2.0 / 3.0)
            return stochastic._gilbert_elliott_blocked(8e6, 1e6, np.array([1.0, 2.0]), None, 3000.0, good, rng,
                                                       "loop", block=50)
    m = lazy()
    assert m.drawn == 1 and not m.done
    n_blocks = math.ceil(len(whole.rates) / 50)
    # forward, as a link: rate, capacity and completion times interleaved, up to three periods
    for k, x in enumerate(np.linspace(0.0, 3 * whole.period, 3001).tolist()):
        assert m.cumulative(x) == whole.cumulative(x) and m.rate(x) == whole.rate(x), x
        c = whole.cumulative(x) + 1e5
        assert m.time_at(c) == whole.time_at(c)
        if x < 0.5 * whole.period:  # drawn at most one block ahead of the queries
            assert m.drawn <= bisect.bisect_right(whole.times.tolist(), x + 3 * whole.period / 3000) // 50 + 2
        if k and x < 0.9 * whole.period and k % 100 == 0:  # steps over a stretch behind the frontier
            tw, rw = whole.steps(x - 7.3, x)
            tb, rb = m.steps(x - 7.3, x)
            assert np.array_equal(tw, tb) and np.array_equal(rw, rb)
            assert not m.done
    assert m.done and m.drawn == n_blocks == m.n_blocks
    assert m.loads <= 3 * n_blocks  # later periods reload blocks (the cache holds 4), never redraw ahead
    # a fresh path queried out of order (an estimator looking back, the link rows at the end)
    assert_same_model(whole, lazy(), seed=3, n=200)
