"""Looped piecewise bandwidth: rate, steps and cumulative capacity agree on every loop.

Breakpoints such as 3.7 are not binary fractions: 20 + 3.7 rounds to
23.699999999999999, and reducing it back by the period gives 3.6999..., which a
naive phase puts in the previous segment. The reference here is exact rational
arithmetic on the decimal breakpoints (``fractions.Fraction``), independent of
the model's float code.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from simoffload.config import parse_scenario
from simoffload.net.bandwidth import PiecewiseBandwidth
from simoffload.net.channels import OracleEstimator, parse_estimator_spec
from simoffload.sim.results import tables_from
from simoffload.sim.scenario import build_world, run_scenario

TIMES = ["0", "3.7", "5.13", "9.9", "12.41", "20.0"]
RATES_MB = ["1.31", "0", "0.47", "2.93", "0"]  # MB/s


def _exact_rate(t: Fraction, times: list[Fraction], rates: list[Fraction]) -> Fraction:
    """The rate at t of the looped step function, in exact arithmetic."""
    tau = t % times[-1]
    j = max(i for i in range(len(rates)) if times[i] <= tau)
    return rates[j]


def _example_scenario(arrivals: dict, horizon: str = "100 s", cpu: str = "550 MHz") -> dict:
    return {
        "name": "looped", "seed": 1, "horizon": horizon,
        "task": {"subtasks": 6, "distribution": "paper-5.1"},
        "devices": {"count": 1, "cpu": cpu, "arrivals": arrivals},
        "edge": {"cores": 1, "cpu": "2.75 GHz"},
        "network": {"wireless": {"up": {"piecewise": {
            "times_s": [float(x) for x in TIMES], "rates": [f"{r} MB/s" if r != "0" else 0 for r in RATES_MB],
            "after": "loop"}}}, "wan": {"up": "1.5 MB/s"}},
        "decision": {"estimator": "oracle"},
        "policies": ["local", "optimal"],
    }


def test_issue_example_links_table_bandwidth_rows_are_exact():
    sc = parse_scenario(_example_scenario({"periodic": {"interval": "7 s"}}), "looped.yaml", base_dir=Path("."))
    res = tables_from(run_scenario(sc, progress=False))
    bw = res.links[(res.links.kind == "bandwidth") & (res.links.link == "device0_up")]
    times = [Fraction(x) for x in TIMES]
    rates = [Fraction(r) * 10**6 for r in RATES_MB]
    # by hand: one 20-s period carries 1.31*3.7 + 0.47*4.77 + 2.93*2.51 = 14.4432 MB; 100 s is 5 periods
    assert sum(r * (times[i + 1] - times[i]) for i, r in enumerate(rates)) == Fraction("14.4432e6")
    integral = float(np.sum((bw.end_s - bw.start_s) * bw.value))
    assert integral == pytest.approx(5 * 14.4432e6, rel=1e-12)
    # 5 loops x 5 segments, every boundary where the decimal breakpoints say, every value exact
    expected_starts = [q * 20 + t for q in range(5) for t in times[:-1]]
    assert len(bw) == len(expected_starts)
    for (_, row), start in zip(bw.iterrows(), expected_starts):
        assert row.start_s == pytest.approx(float(start), abs=1e-12)
        mid = (Fraction(row.start_s) + Fraction(row.end_s)) / 2
        assert row.value == float(_exact_rate(mid, times, rates))


def test_oracle_at_a_later_loops_breakpoint_reports_the_segment_that_starts_there():
    model = PiecewiseBandwidth([float(x) for x in TIMES], [float(r) * 1e6 for r in RATES_MB], after="loop")
    oracle = OracleEstimator(parse_estimator_spec("oracle"))
    for q in range(1, 6):
        for j in range(1, 5):
            t = q * 20.0 + float(TIMES[j])
            assert oracle.estimate(model, t) == float(RATES_MB[j]) * 1e6, (q, j, t)


def test_oracle_decision_at_an_outage_start_stays_local():
    """At 23.7 s the link is in its zero-rate stretch: no finite-latency plan offloads anything."""
    sc = parse_scenario(_example_scenario({"times": [23.7, 43.7, 63.7, 83.7]}, cpu="50 MHz"), "looped.yaml",
                        base_dir=Path("."))
    world = build_world(sc)
    assert world.bandwidth["device0_up"].rate(23.7) == 0.0
    res = tables_from(run_scenario(sc, progress=False))
    opt = res.tasks[res.tasks.policy == "optimal"]
    assert list(opt.placement) == ["000000"] * 4


# ----------------------------------------------------------------------------- property

# breakpoints with 1-3 decimals (almost never binary fractions), 2-8 segments, some zero rates
_decimal = st.integers(min_value=1, max_value=99_999)
_model = st.tuples(
    st.lists(_decimal, min_size=1, max_size=7, unique=True),
    st.sampled_from([10, 100, 1000]),
    st.lists(st.sampled_from([0, 0, 1, 2, 3, 7, 13, 131, 293]), min_size=8, max_size=8),
    st.integers(min_value=1, max_value=20_000),
)


def _build(spec):
    ints, denom, rate_pool, period_int = spec
    period = Fraction(max(ints) + period_int, denom)
    inner = sorted(Fraction(i, denom) for i in ints)
    times = [Fraction(0)] + inner + [period]
    rates = [Fraction(r * 10_000) for r in rate_pool[: len(times) - 1]]
    model = PiecewiseBandwidth([float(x) for x in times], [float(r) for r in rates], after="loop")
    return model, times, rates


@settings(max_examples=150, deadline=None)
@given(_model, st.floats(min_value=0.0, max_value=1.0), st.integers(min_value=1, max_value=60))
def test_steps_integrate_to_the_cumulative_capacity_over_many_loops(spec, start_frac, loops):
    model, times, rates = _build(spec)
    period = model.period
    t0 = start_frac * period * 3
    t1 = t0 + loops * period + 0.37 * period
    ts, rs = model.steps(t0, t1)
    assert ts[0] == t0 and np.all(np.diff(ts) > 0) and np.all(ts < t1)
    widths = np.diff(np.append(ts, t1))
    integral = math.fsum((widths * rs).tolist())
    expected = model.cumulative(t1) - model.cumulative(t0)
    scale = max(rates) * (t1 - t0)
    assert abs(integral - expected) <= 1e-9 * float(scale) + 1e-9
    # the capacity over [t0, t1] in exact arithmetic (decimal breakpoints), within float rounding
    p = times[-1]
    per = sum(r * (times[i + 1] - times[i]) for i, r in enumerate(rates))

    def exact_c(t: Fraction) -> Fraction:
        q, tau = divmod(t, p)
        j = max(i for i in range(len(rates)) if times[i] <= tau)
        return q * per + sum(r * (times[i + 1] - times[i]) for i, r in enumerate(rates[:j])) + rates[j] * (tau - times[j])

    assert abs(integral - float(exact_c(Fraction(t1)) - exact_c(Fraction(t0)))) <= 1e-7 * float(scale) + 1e-6
    # each step's rate is the rate the exact step function has just after that point
    for a, b, r in zip(ts, np.append(ts[1:], t1), rs):
        mid = (Fraction(float(a)) + Fraction(float(b))) / 2
        if b - a > 1e-9 * max(1.0, abs(a)):  # not a rounding sliver
            assert r == float(_exact_rate(mid, times, rates))


@settings(max_examples=150, deadline=None)
@given(_model, st.integers(min_value=1, max_value=300), st.integers(min_value=0, max_value=7))
@example(([99997], 10, [0, 1, 0, 0, 0, 0, 0, 0], 1), 52, 1)  # a 0.1 s segment late in the run: t's own rounding
def test_rate_is_the_right_derivative_of_cumulative_at_every_breakpoint(spec, q, j):
    model, times, rates = _build(spec)
    j = j % (len(times) - 1)
    t = q * model.period + float(times[j])  # a breakpoint of loop q, as a float
    ts, rs = model.steps(t, t + model.period)
    nxt = ts[1] if len(ts) > 1 else t + model.period
    h = (nxt - t) / 2
    slope = (model.cumulative(t + h) - model.cumulative(t)) / h
    # float error of the difference quotient: both cumulative values, and the rounding of the time t + h
    # itself (eps * t seconds at up to the top rate), each divided by h
    eps = np.finfo(float).eps
    tol = 1e-9 * float(max(rates)) + (8 * eps * model.cumulative(t + h) + 4 * eps * abs(t) * float(max(rates))) / h
    assert abs(model.rate(t) - slope) <= tol
    assert model.rate(t) == rs[0]
    assert model.rate(t) == float(rates[j]) or ts[0] != t


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=9), min_size=3, max_size=400), st.integers(min_value=1, max_value=40),
       st.floats(min_value=0.0, max_value=1.0))
def test_packet_trace_loops_agree_too(counts, loops, start_frac):
    """Mahimahi-style 1-ms bins (0.001 is not a binary fraction) with exact integer bytes per bin."""
    from simoffload.net.traces import ExactBytesBandwidth

    counts = np.asarray(counts)
    k = len(counts)
    times = np.arange(k + 1) / 1000.0
    step_bytes = counts * 1500
    model = ExactBytesBandwidth(times, step_bytes * 1000.0, step_bytes, after="loop")
    t0 = start_frac * model.period * 2
    t1 = t0 + loops * model.period + 0.3 * model.period
    ts, rs = model.steps(t0, t1)
    integral = math.fsum((np.diff(np.append(ts, t1)) * rs).tolist())
    per = int(step_bytes.sum())
    # exact: bins are whole ms, so count the bytes of every (partial) bin between t0 and t1 in rationals
    def exact_c(t: Fraction) -> Fraction:
        q, tau = divmod(t, Fraction(k, 1000))
        j = min(int(tau * 1000), k - 1)
        return q * per + int(step_bytes[:j].sum()) + Fraction(int(step_bytes[j]) * 1000) * (tau - Fraction(j, 1000))
    expected = float(exact_c(Fraction(t1)) - exact_c(Fraction(t0)))
    assert abs(integral - expected) <= 1e-9 * max(per, 1) * (loops + 2) + 1e-3
    assert abs(integral - (model.cumulative(t1) - model.cumulative(t0))) <= 1e-9 * max(per, 1) * (loops + 2) + 1e-3
    for a, r in zip(ts[1:], rs[1:]):  # the rate at each change point is the one of the bin it starts
        assert model.rate(float(a)) == r
