"""Online learners: they improve during a stationary run, never beat the true optimum, and pay for learning."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from scipy import stats

from simoffload.config import parse_scenario
from simoffload.learn.online import monotone_placements
from simoffload.model.cost import latency
from simoffload.model.solvers import all_placements
from simoffload.model.task import Instances, TaskGraph
from simoffload.registry import make_policy
from simoffload.sim.results import tables_from
from simoffload.sim.scenario import build_world, make_policies, run_world

ONLINE = ["tabular-q", "online-dqn"]

STATIONARY = {  # constant links, Poisson arrivals from 8 devices sharing a 2-core edge: nothing drifts
    "name": "stationary", "seed": 1, "horizon": "1 h",
    "task": {"subtasks": 6, "distribution": {"cycles": {"uniform": [2e8, 1.5e9]}, "bytes": {"uniform": [1e5, 3e6]}}},
    "devices": {"count": 8, "cpu": "500 MHz", "arrivals": {"poisson": {"rate": "0.02 /s"}}},
    "edge": {"cores": 2, "cpu": "2.75 GHz"},
    "network": {"wireless": {"up": "2 MB/s"}, "wan": {"up": "1 MB/s"}},
    "policies": ["local"],
}


def test_monotone_action_set_is_every_split_point():
    P = monotone_placements(6)
    assert len(P) == 28 == len({tuple(p) for p in P})  # (n+1)(n+2)/2, distinct
    assert np.all(np.diff(P, axis=1) >= 0)  # device, then edge, then cloud
    allp = all_placements(6)
    n_monotone = int(np.sum(np.all(np.diff(allp, axis=1) >= 0, axis=1)))
    assert n_monotone == 28  # exactly the monotone rows of all 729
    assert P[0].tolist() == [0] * 6 and [1] * 6 in P.tolist() and [2] * 6 in P.tolist()


@pytest.mark.parametrize("name", ONLINE)
def test_latency_falls_from_the_first_to_the_last_third_of_a_stationary_run(name):
    """Paired over 5 replicate seeds: mean latency (first third - last third) > 0 with 95% confidence."""
    diffs = []
    for seed in range(1, 6):
        sc = parse_scenario(dict(STATIONARY, seed=seed, policies=[name]))
        t = tables_from(run_world(build_world(sc), make_policies(sc, seed))).tasks.sort_values("arrival_s")
        k = len(t) // 3
        first, last = t.iloc[:k], t.iloc[-k:]
        assert (first.status == "done").all() and (last.status == "done").sum() >= k - 2
        diffs.append(first.latency_s.mean() - last.latency_s[last.status == "done"].mean())
    d = np.array(diffs)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    assert d.mean() - half > 0, (d, half)


IDLE = {  # one device, one task every 200 s: every task meets an idle system
    "name": "idle", "seed": 4, "horizon": 200 * 150,
    "task": {"subtasks": 6, "distribution": "paper-5.1"},
    "devices": {"count": 1, "cpu": "550 MHz", "arrivals": {"periodic": {"interval": "200 s"}}},
    "edge": {"cores": 1, "cpu": "2.75 GHz"},
    "network": {"wireless": {"up": "1 MB/s"}, "wan": {"up": "1.5 MB/s"}},
    "policies": ["local"],
}


@pytest.mark.parametrize("name", ONLINE)
def test_on_idle_single_tasks_it_never_beats_the_exhaustive_optimum_of_the_true_state(name):
    sc = parse_scenario(dict(IDLE, policies=[name]))
    world = build_world(sc)
    t = tables_from(run_world(world, make_policies(sc, sc.seed))).tasks.set_index("task_id")
    g = TaskGraph.chain(6)
    P = all_placements(6)
    assert (t.status == "done").all() and len(t) > 100
    gaps = []
    for ts in world.system.tasks:
        inst = Instances(g, np.repeat(ts.cycles[None], len(P), 0), np.repeat(ts.data[None], len(P), 0),
                         np.full(len(P), 550e6), np.full(len(P), 2.75e9), np.full(len(P), 1e6), np.full(len(P), 1.5e6))
        best = latency(inst, P).min()  # brute force over all 729 placements, true (constant) bandwidth
        got = t.loc[ts.task_id].latency_s
        assert got >= best * (1 - 1e-9), (ts.task_id, got, best)
        gaps.append(got / best)
    assert np.mean(gaps[-30:]) < np.mean(gaps[:30])  # and it is learning towards it


def test_learning_is_charged_as_decision_time():
    g = TaskGraph.chain(6)
    dqn = make_policy("online-dqn")
    # 23 features (10 + 6 cycles + 7 data) -> 64 -> 64 -> 28 actions
    macs = 23 * 64 + 64 * 64 + 64 * 28
    assert dqn.decision_ops(g) == macs + 32 * 3 * macs + 6 + 7 + 10
    assert make_policy("online-dqn", train_every=4).decision_ops(g) == macs + 8 * 3 * macs + 6 + 7 + 10
    assert make_policy("tabular-q").decision_ops(g) == 16 + 28 + 8
    # and the engine charges it: modelled decision time = ops / p2 on an idle edge
    sc = parse_scenario(dict(IDLE, horizon=2000, policies=["online-dqn"]))
    t = tables_from(run_world(build_world(sc), make_policies(sc, sc.seed))).tasks
    assert np.allclose(t.decision_s, dqn.decision_ops(g) / 2.75e9, rtol=1e-9)


@pytest.mark.parametrize("name", ONLINE)
def test_it_learns_only_from_outcomes(name):
    """Without outcomes (observe switched off) the agent never leaves its initial behaviour."""
    sc = parse_scenario(dict(STATIONARY, horizon="20 min", policies=[name]))
    world = build_world(sc)
    (label, pol), = make_policies(sc, sc.seed)
    learned = tables_from(run_world(world, [(label, pol)])).tasks
    (label, deaf), = make_policies(sc, sc.seed)
    deaf.observe = lambda outcome: None  # hears nothing
    pol_ = copy.copy(deaf)
    t = tables_from(run_world(world, [(label, pol_)])).tasks
    assert learned.placement.tolist() != t.placement.tolist()
    if name == "tabular-q":  # with an empty table every state keeps its optimistic values: greedy choices tie
        assert pol_.updates_ == 0
    else:
        assert pol_.trained_steps_ == 0


def test_study_learning_runs_in_quick_mode(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "analysis/study_learning.py", "--quick", "--out", str(tmp_path)], cwd=root,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    f = json.loads((tmp_path / "study_learning_quick" / "findings.json").read_text())
    assert set(f["policies"]) == {"local", "optimal", "queue-aware", "tabular-q", "online-dqn"}
    assert f["policies"]["optimal"]["last_third_over_optimal"][0] == 1.0
    assert (tmp_path / "learning_curves_quick.png").stat().st_size > 10_000


VARIANTS_IDLE = dict(IDLE, task={
    "subtasks": 6, "distribution": "paper-5.1",
    "variants": [{"name": "full", "accuracy": 0.706}, {"name": "half", "accuracy": 0.637, "cycles_scale": 0.26},
                 {"name": "tiny", "accuracy": 0.506, "cycles_scale": 0.07, "bytes_scale": 0.5}],
    "accuracy_req": {"uniform": [0.5, 0.7]}},
    objective={"accuracy": "penalty", "accuracy_weight": 20.0})


@pytest.mark.parametrize("name", ONLINE)
def test_with_variants_it_never_beats_the_brute_force_over_variants_and_placements(name):
    """Idle single tasks, accuracy as a penalty: realised latency + 20 s x shortfall >= min over 3 x 729."""
    params = {"max_variants": 3} if name == "online-dqn" else {}
    sc = parse_scenario(dict(VARIANTS_IDLE, policies=[{"name": name, "params": params}]))
    world = build_world(sc)
    t = tables_from(run_world(world, make_policies(sc, sc.seed))).tasks.set_index("task_id")
    assert (t.status == "done").all() and t.variant.nunique() == 3  # it does choose variants
    g = TaskGraph.chain(6)
    P = all_placements(6)
    for ts in world.system.tasks:
        v = ts.variants
        best = math.inf
        for k in range(len(v)):
            inst = Instances(g, np.repeat(v.cycles[k][None], len(P), 0), np.repeat(v.data[k][None], len(P), 0),
                             np.full(len(P), 550e6), np.full(len(P), 2.75e9), np.full(len(P), 1e6), np.full(len(P), 1.5e6))
            best = min(best, latency(inst, P).min() + 20.0 * max(0.0, ts.accuracy_req - v.accuracy[k]))
        row = t.loc[ts.task_id]
        got = row.latency_s + 20.0 * max(0.0, row.accuracy_req - row.accuracy)
        assert row.accuracy == v.accuracy[row.variant]
        assert got >= best * (1 - 1e-9), (ts.task_id, got, best)
