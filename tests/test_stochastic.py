"""Stochastic bandwidth: stationary statistics within confidence intervals, seeding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simoffload.errors import UserError
from simoffload.net.channels import build_bandwidth
from simoffload.net.stochastic import gauss_markov, gilbert_elliott
from simoffload.rng import rng_for

Z = 4.0  # half-width of the confidence intervals in standard errors (false alarm ~6e-5 each)


def test_gauss_markov_stationary_mean_variance_correlation():
    mu, sigma, rho, n = 10e6, 2e6, 0.9, 200_000  # clipping at 0 has probability ~3e-7: negligible
    m = gauss_markov(mu, sigma, correlation=rho, step_s=1.0, horizon_s=n, rng=rng_for(7, "gm"))
    x = np.asarray(m.rates)  # a path this long is drawn block by block: materialise it to test it
    assert len(x) == n and m.period == n
    # AR(1): Var(sample mean) = sigma^2/n * (1+rho)/(1-rho)
    se_mean = sigma * math.sqrt((1 + rho) / (1 - rho) / n)
    assert abs(x.mean() - mu) < Z * se_mean
    assert abs(m.mean_rate() - mu) < Z * se_mean  # time average of the path
    # Var(sample variance) ~ 2 sigma^4/n * (1+rho^2)/(1-rho^2)
    se_var = sigma**2 * math.sqrt(2 * (1 + rho**2) / (1 - rho**2) / n)
    assert abs(x.var() - sigma**2) < Z * se_var
    # lag-1 autocorrelation, standard error ~ sqrt((1-rho^2)/n)
    r1 = np.corrcoef(x[1:], x[:-1])[0, 1]
    assert abs(r1 - rho) < Z * math.sqrt((1 - rho**2) / n) + 1e-3


def test_gauss_markov_tau_and_clipping():
    tau, step = 5.0, 0.5
    m = gauss_markov(1e6, 1e6, tau_s=tau, step_s=step, horizon_s=20_000, rng=rng_for(3, "gm"))
    x = m.rates
    assert np.all(x >= 0) and np.mean(x == 0) > 0.1  # P(N(1,1) < 0) = 0.159
    assert np.mean(x == 0) == pytest.approx(0.1587, abs=0.03)
    # correlation survives clipping only approximately; check it on the unclipped version
    u = gauss_markov(10e6, 1e6, tau_s=tau, step_s=step, horizon_s=20_000, rng=rng_for(3, "gm"))
    r1 = np.corrcoef(u.rates[1:], u.rates[:-1])[0, 1]
    assert r1 == pytest.approx(math.exp(-step / tau), abs=0.02)
    assert m.period == pytest.approx(20_000)


def test_gilbert_elliott_occupancy_and_dwell_times():
    mg, mb, T = 2.0, 1.0, 20_000.0
    m = gilbert_elliott(10e6, 1e6, mean_good_s=mg, mean_bad_s=mb, horizon_s=T, rng=rng_for(11, "ge"))
    assert m.period >= T
    d = np.diff(m.times)
    good = m.rates == 10e6
    frac_good = d[good].sum() / d.sum()
    p = mg / (mg + mb)
    # two-state CTMC: Var(time fraction) ~ 2 p (1-p) / ((1/mg + 1/mb) T)
    se = math.sqrt(2 * p * (1 - p) / ((1 / mg + 1 / mb) * T))
    assert abs(frac_good - p) < Z * se
    assert set(np.unique(m.rates)) == {10e6, 1e6}
    assert np.all(m.rates[1:] != m.rates[:-1])  # states alternate
    for mask, mean in ((good, mg), (~good, mb)):
        dw = d[mask][:-1]  # drop a possibly truncated last dwell
        assert abs(dw.mean() - mean) < Z * mean / math.sqrt(len(dw))  # exponential: sd = mean


def test_gilbert_elliott_discrete_steps():
    m = gilbert_elliott(5.0, 0.0, mean_good_s=4.0, mean_bad_s=2.0, step_s=0.5, horizon_s=20_000,
                        rng=rng_for(5, "ge"))
    d = np.diff(m.times)
    assert np.allclose(d / 0.5, np.round(d / 0.5))
    frac_good = d[m.rates == 5.0].sum() / d.sum()
    assert frac_good == pytest.approx(4 / 6, abs=0.03)
    # an outage state of rate 0 stalls transfers without dividing by zero
    assert math.isfinite(m.time_at(m.cumulative(1.0) + 100.0))


def test_same_seed_same_path_different_seed_different_path():
    for f in (lambda r: gauss_markov(1e6, 3e5, tau_s=3, horizon_s=500, rng=r),
              lambda r: gilbert_elliott(1e6, 1e5, mean_good_s=5, mean_bad_s=2, horizon_s=500, rng=r)):
        a, b, c = f(rng_for(1, "x")), f(rng_for(1, "x")), f(rng_for(2, "x"))
        assert np.array_equal(a.times, b.times) and np.array_equal(a.rates, b.rates)
        assert not (len(a.rates) == len(c.rates) and np.array_equal(a.rates, c.rates))


def test_build_bandwidth_streams_are_independent_and_reproducible():
    spec = {"gauss_markov": {"mean": "20 Mbit/s", "std": "5 Mbit/s", "tau_s": "3 s", "step_s": "500 ms"}}
    kw = dict(horizon_s=300.0, base_dir=".")
    a = build_bandwidth(spec, seed=4, stream="link/wan", **kw)
    b = build_bandwidth(spec, seed=4, stream="link/wan", **kw)
    c = build_bandwidth(spec, seed=4, stream="link/wireless/0/up", **kw)
    d = build_bandwidth(spec, seed=5, stream="link/wan", **kw)
    assert np.array_equal(a.rates, b.rates)
    assert not np.array_equal(a.rates, c.rates) and not np.array_equal(a.rates, d.rates)
    assert a.period >= 300.0 and np.diff(a.times)[0] == 0.5
    ge = build_bandwidth({"gilbert_elliott": {"good": "5 MB/s", "bad": 0, "mean_good_s": 20, "mean_bad_s": 3}},
                         seed=4, stream="link/wan", **kw)
    assert ge.period >= 300.0


def test_invalid_stochastic_parameters():
    with pytest.raises(ValueError):
        gauss_markov(1.0, 1.0, correlation=1.0, horizon_s=10, rng=rng_for(0, "x"))
    with pytest.raises(ValueError):
        gilbert_elliott(1.0, 0.0, mean_good_s=0.1, mean_bad_s=1.0, step_s=1.0, horizon_s=10, rng=rng_for(0, "x"))
    with pytest.raises(UserError, match="gauss_markov.std"):
        build_bandwidth({"gauss_markov": {"mean": 1, "std": -1, "tau_s": 1}}, seed=0, stream="s", horizon_s=1)
