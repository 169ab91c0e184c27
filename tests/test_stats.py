"""Study statistics: MSER-5 warm-up, trend test, offered load worked out by hand, CIs over replicates, flags."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from simoffload.config import parse_scenario
from simoffload.experiments.stats import (
    mser5,
    offered_load,
    point_table,
    replicates_needed,
    run_stats,
    t_halfwidth,
    trend_p,
)
from simoffload.sim.results import tables_from
from simoffload.sim.scenario import run_scenario


def test_mser5_deletes_the_transient_and_little_of_a_stationary_series():
    rng = np.random.default_rng(0)
    y = np.concatenate([np.full(60, 50.0), rng.normal(0, 1, 600)])
    assert 60 <= mser5(y) <= 70
    assert mser5(rng.normal(0, 1, 600)) <= 60  # at most 10 % of a series without a transient
    assert mser5(np.arange(10.0)) == 0  # too short to batch


def test_trend_test_fires_on_a_growing_queue_only():
    rng = np.random.default_rng(1)
    t = np.arange(400.0)
    assert trend_p(t, 0.05 * t + rng.normal(0, 1, 400))[1] < 1e-6
    ps = [trend_p(t, rng.normal(0, 1, 400))[1] for _ in range(50)]
    assert sum(p < 0.01 for p in ps) <= 3  # a 1 % test: about 0.5 false alarms in 50


def test_t_halfwidth_and_replicates_needed_by_hand():
    # mean 2, sd 1, n 3: t_{0.975, 2} = 4.3027 -> 4.3027 / sqrt(3)
    assert math.isclose(t_halfwidth(np.array([1.0, 2.0, 3.0])), 4.302653 / math.sqrt(3), rel_tol=1e-5)
    assert math.isnan(t_halfwidth(np.array([5.0])))
    # sd 1, mean 10, target 5 % -> half-width <= 0.5: n with t_{n-1} / sqrt(n) <= 0.5 is 18 (t_17 = 2.110, /4.243 = 0.497)
    v = np.array([9.0, 10.0, 11.0])
    assert replicates_needed(v, 0.05, 100) == 18
    assert replicates_needed(v, 0.05, 10) == 10


def system(rate: str, policies: list[str], horizon: str = "400 s") -> dict:
    # 2 subtasks of exactly 1e9 cycles, 3 data edges of exactly 1 MB; 1 GHz edge core
    return {
        "seed": 2, "horizon": horizon,
        "task": {"subtasks": 2, "distribution": {"cycles": "1e9", "bytes": "1 MB"}},
        "devices": {"count": 1, "cpu": "100 MHz", "arrivals": {"periodic": {"interval": rate}}},
        "edge": {"cores": 1, "cpu": "1 GHz"},
        "network": {"shared_cell": True, "wireless": {"up": "100 MB/s"}, "wan": {"up": "2 MB/s"}},
        "policies": policies,
    }


def test_offered_load_by_hand():
    sc = parse_scenario(system("10 s", ["edge", "cloud"]))
    res = run_scenario(sc)
    t = tables_from(res).tasks
    n = len(t[t.policy == "edge"])
    assert n == 40  # arrivals at 0, 10, ..., 390 s
    # all-edge: 2 x 1e9 cycles per task on a 1 GHz core: 2 s per task, 40 tasks in 400 s -> 0.2
    ld = offered_load(res.world, t[t.policy == "edge"], 0.0)
    assert math.isclose(ld["edge_cpu"], 0.2) and ld["wan"] == 0.0
    # the cell carries d0 up and d2 down (1 MB each) per task at 100 MB/s: 40 MB / 40 GB
    assert math.isclose(ld["cell"], 40e6 / (100e6 * 400))
    # all-cloud: 1 MB up and 1 MB down the WAN per task at 2 MB/s: 40 MB / 800 MB
    ld = offered_load(res.world, t[t.policy == "cloud"], 0.0)
    assert math.isclose(ld["wan"], 0.05) and ld["edge_cpu"] == 0.0
    # a decision holding the core 0.5 s adds 40 x 0.5 s / 400 s
    assert math.isclose(offered_load(res.world, t[t.policy == "cloud"], 0.5)["edge_cpu"], 0.05)


def test_offered_load_by_hand_with_two_applications_of_different_structure():
    # app a: 2-subtask chain (1e9 cycles, 1 MB edges), app b: 4-subtask chain (0.5e9 cycles, 0.5 MB edges); one
    # device each, a task every 10 s over 400 s: 40 tasks per app. All-edge: (40 x 2e9 + 40 x 2e9) / 1 GHz / 400 s
    d = system("10 s", ["edge", "cloud"])
    d.pop("task")
    d["devices"]["count"] = 2
    d["applications"] = [
        {"name": "a", "share": 1, "task": {"subtasks": 2, "distribution": {"cycles": "1e9", "bytes": "1 MB"}}},
        {"name": "b", "share": 1, "task": {"subtasks": 4, "distribution": {"cycles": "0.5e9", "bytes": "0.5 MB"}}}]
    res = run_scenario(parse_scenario(d))
    t = tables_from(res).tasks
    assert (t[t.policy == "edge"].groupby("app").size() == 40).all()
    ld = offered_load(res.world, t[t.policy == "edge"], 0.0)
    assert math.isclose(ld["edge_cpu"], 0.4)
    # all-cloud: the WAN carries each task's input and output: a 2 x 1 MB, b 2 x 0.5 MB, per direction 40 x 1.5 MB
    ld = offered_load(res.world, t[t.policy == "cloud"], 0.0)
    assert math.isclose(ld["wan"], 40 * 1.5e6 / (2e6 * 400)) and ld["edge_cpu"] == 0.0


def test_an_overloaded_edge_is_flagged_and_a_light_one_is_not():
    light = parse_scenario(system("10 s", ["edge"], "2000 s"))
    heavy = parse_scenario(system("1.6 s", ["edge"], "2000 s"))  # 2 s of work every 1.6 s: rho 1.25
    out = {}
    for name, sc in (("light", light), ("heavy", heavy)):
        res = run_scenario(sc)
        t = tables_from(res).tasks
        out[name] = run_stats(t, offered_load(res.world, t, 0.0))
    assert out["light"]["steady"] and out["light"]["why"] == ""
    # deterministic D/D/1 at rho 0.2: every latency is the same 2 s of execution + 2 x 10 ms of transfer
    assert math.isclose(out["light"]["ss_mean_latency_s"], 2.02, rel_tol=1e-9)
    h = out["heavy"]
    assert not h["steady"] and math.isclose(h["rho_max"], 1.25, rel_tol=1e-3)
    assert "edge_cpu offered 1.25x" in h["why"] and "rising" in h["why"]


def test_point_table_flags_instead_of_averaging():
    runs = pd.DataFrame({
        "policy": ["a"] * 3 + ["b"] * 3, "x": [1] * 6, "replicate": [0, 1, 2] * 2,
        "ss_mean_latency_s": [1.0, 2.0, 3.0, 50.0, 60.0, 70.0],
        "steady": [True] * 3 + [True, False, True], "why": ["", "", "", "", "edge_cpu offered 1.10x capacity", ""],
        "unfinished_frac": [0.0, 0.0, 0.0, 0.2, 0.3, 0.1], "rho_max": [0.5] * 3 + [1.1] * 3,
    })
    tab = point_table(runs, ["x"]).set_index("policy")
    assert tab.loc["a", "mean"] == 2.0 and math.isclose(tab.loc["a", "ci"], 4.302653 / math.sqrt(3), rel_tol=1e-5)
    assert not tab.loc["b", "steady"] and math.isnan(tab.loc["b", "mean"]) and "1.10x" in tab.loc["b", "why"]
    assert math.isclose(tab.loc["b", "unfinished_frac"], 0.2)


@pytest.mark.parametrize("n", [1, 2])
def test_sweep_summary_carries_the_steady_state_columns(tmp_path, n):
    import yaml

    from simoffload.experiments.sweep import load_sweep, run_sweep

    d = system("10 s", ["edge", "local"], "600 s")
    d["sweep"] = {"grid": {"edge.cores": [1, 2]}, "replicates": 1}
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(d))
    run_sweep(p, tmp_path / "o", progress=False, replicates=n)
    s = load_sweep(tmp_path / "o").summary
    assert len(s) == 2 * 2 * n
    for c in ("ss_mean_latency_s", "warmup_tasks", "steady", "why", "rho_max", "rho_edge_cpu", "trend_p"):
        assert c in s.columns
    e = s[s.policy == "edge"]
    assert np.allclose(e["rho_edge_cpu"], [0.2 / c for c in e["edge.cores"]])
