"""Calibrated decision time: the calibrate command, the charged time (worked out by hand), determinism, bad files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from simoffload.cli import main
from simoffload.config import load_scenario
from simoffload.model.cost import latency
from simoffload.model.task import Instances, TaskGraph
from simoffload.sim.results import tables_from
from simoffload.sim.scenario import run_scenario

# one task a minute on an idle system: the decision never waits, so decision_s is exactly the charged time
IDLE = {
    "name": "idle", "seed": 5, "horizon": "20 min",
    "task": {"subtasks": 6, "distribution": "paper-5.1"},
    "devices": {"count": 1, "cpu": "550 MHz", "arrivals": {"periodic": {"interval": "60 s"}}},
    "edge": {"cores": 1, "cpu": "2.75 GHz"},
    "network": {"wireless": {"up": "1 MB/s"}, "wan": {"up": "1.5 MB/s"}},
    "decision": {"time": "calibrated", "costs": "costs.yaml"},
    "policies": ["edge", "optimal", "exhaustive"],
}


def write(tmp_path: Path, costs: dict | str, **decision) -> Path:
    sc = yaml.safe_load(yaml.safe_dump(IDLE))
    sc["decision"].update(decision)
    (tmp_path / "costs.yaml").write_text(costs if isinstance(costs, str) else yaml.safe_dump(costs, sort_keys=False))
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(sc, sort_keys=False))
    return p


def head(**policies) -> dict:
    return {"format": "simoffload-decision-costs", "version": 1, "policies": policies}


def run(path: Path, seed: int | None = None):
    return tables_from(run_scenario(load_scenario(path), seed=seed))


def test_calibrate_writes_a_cost_file_the_scenario_then_uses(tmp_path: Path, capsys) -> None:
    sc = yaml.safe_load(yaml.safe_dump(IDLE))
    sc["decision"] = {"time": "modelled"}
    src = tmp_path / "src.yaml"
    src.write_text(yaml.safe_dump(sc))
    out = tmp_path / "c" / "costs.yaml"
    assert main(["calibrate", str(src), "--out", str(out), "-n", "60"]) == 0
    doc = yaml.safe_load(out.read_text())
    assert doc["format"] == "simoffload-decision-costs" and doc["subtasks"] == 6
    assert set(doc["policies"]) == {"edge", "optimal", "exhaustive"}
    assert doc["machine"]["cpus"] >= 1 and "python" in doc["machine"]
    for e in doc["policies"].values():
        q = np.array(e["quantiles_s"])
        assert e["n"] == 60 and len(q) == 101 and np.all(np.diff(q) >= 0)
        assert q[0] <= e["mean_s"] <= q[-1] and q[0] > 0
    # exhaustive scores 729 placements, the DP 9 per step: it must measure slower on any machine
    assert doc["policies"]["exhaustive"]["quantiles_s"][50] > doc["policies"]["optimal"]["quantiles_s"][50]
    # a scenario naming the file runs, and gives the same tables twice
    (tmp_path / "costs.yaml").write_text(out.read_text())
    p = write(tmp_path, out.read_text())
    a, b = run(p), run(p)
    assert a.tasks.equals(b.tasks) and a.summary.drop(columns=[c for c in a.summary if "wall" in c]).equals(
        b.summary.drop(columns=[c for c in b.summary if "wall" in c]))
    d = a.tasks.groupby("policy")["decision_s"].agg(["min", "max"])
    for pol, r in d.iterrows():  # every charged time lies within the measured range of that policy
        q = doc["policies"][pol]["quantiles_s"]
        assert q[0] * (1 - 1e-12) <= r["min"] and r["max"] <= q[-1] * (1 + 1e-12)


def test_fixed_and_per_operation_costs_are_charged_exactly(tmp_path: Path) -> None:
    # exhaustive declares 3^6 x (6 + 7) = 9477 operations; at 9477 op/s it takes exactly 1 s
    p = write(tmp_path, head(edge={"seconds": 0.25}, optimal={"seconds": 0.0}, exhaustive={"ops_per_s": 9477.0}))
    t = run(p).tasks
    assert np.allclose(t.loc[t.policy == "edge", "decision_s"], 0.25, rtol=0, atol=1e-9)
    assert np.allclose(t.loc[t.policy == "exhaustive", "decision_s"], 1.0, rtol=0, atol=1e-9)
    # idle system, constant links: latency = the closed form of the chosen placement + the charged time
    g = TaskGraph.chain(6)
    for _, row in t[t.policy == "exhaustive"].iterrows():
        sc = load_scenario(p)
        from simoffload.sim.scenario import build_world

        spec = next(s for s in build_world(sc).system.tasks if s.task_id == row.task_id)
        inst = Instances(g, spec.cycles[None], spec.data[None], np.array([550e6]), np.array([2.75e9]),
                         np.array([1e6]), np.array([1.5e6]))
        place = np.array([[int(c) for c in row.placement]])
        assert math.isclose(row.latency_s, float(latency(inst, place)[0]) + 1.0, rel_tol=1e-9)


def test_sampled_costs_follow_the_measured_distribution_and_the_seed(tmp_path: Path) -> None:
    uniform = {"mean_s": 0.5, "std_s": 0.2887, "n": 1000, "quantiles_s": [i / 100 for i in range(101)]}
    p = write(tmp_path, head(edge=uniform, optimal=uniform, exhaustive=uniform))
    sc = yaml.safe_load(p.read_text())
    sc["horizon"] = "10 h"
    p.write_text(yaml.safe_dump(sc))
    t = run(p).tasks
    d = t.loc[t.policy == "edge", "decision_s"].to_numpy()
    n = len(d)
    assert n == 600 and d.min() >= 0 and d.max() <= 1.0
    # quantiles 0, 0.01, ..., 1 s interpolated linearly: U[0, 1]; mean 1/2, sd 1/sqrt(12)
    assert abs(d.mean() - 0.5) < 4 / math.sqrt(12 * n)
    assert abs(d.std() - 1 / math.sqrt(12)) < 0.03
    # each policy draws from its own stream; another seed gives other draws, the same seed the same
    assert not np.array_equal(d, t.loc[t.policy == "optimal", "decision_s"].to_numpy())
    assert not np.array_equal(d, run(p, seed=6).tasks.query("policy == 'edge'")["decision_s"].to_numpy())
    assert np.array_equal(d, run(p).tasks.query("policy == 'edge'")["decision_s"].to_numpy())
    # charge: mean charges the mean every time
    sc["decision"]["charge"] = "mean"
    p.write_text(yaml.safe_dump(sc))
    assert np.allclose(run(p).tasks["decision_s"], 0.5, rtol=0, atol=1e-9)


def test_default_entry_covers_unlisted_policies(tmp_path: Path) -> None:
    doc = head(edge={"seconds": 0.1})
    doc["default"] = {"seconds": 0.2}
    t = run(write(tmp_path, doc)).tasks
    assert np.allclose(t.loc[t.policy == "edge", "decision_s"], 0.1)
    assert np.allclose(t.loc[t.policy != "edge", "decision_s"], 0.2)


GOOD_Q = [i / 1e6 for i in range(101)]
BAD = {
    "missing-policy": (head(edge={"seconds": 0.1}), "no entry for policy 'optimal'"),
    "two-kinds": (head(edge={"seconds": 0.1, "ops_per_s": 5.0}, optimal={"seconds": 0}, exhaustive={"seconds": 0}),
                  "exactly one of"),
    "negative": (head(edge={"seconds": -1}, optimal={"seconds": 0}, exhaustive={"seconds": 0}), "policies.edge.seconds"),
    "decreasing": (head(edge={"mean_s": 1e-5, "quantiles_s": GOOD_Q[::-1]}, optimal={"seconds": 0},
                        exhaustive={"seconds": 0}), "non-decreasing"),
    "short-quantiles": (head(edge={"mean_s": 1e-5, "quantiles_s": [0.0, 1.0]}, optimal={"seconds": 0},
                             exhaustive={"seconds": 0}), "101 values"),
    "unknown-field": (head(edge={"secs": 1}, optimal={"seconds": 0}, exhaustive={"seconds": 0}), "unknown field"),
    "format": ({"format": "other", "version": 1, "default": {"seconds": 0}}, "not a decision cost file"),
    "yaml": ("format: [unclosed\n", "costs.yaml:2: YAML:"),
    "duplicate-key": ("format: simoffload-decision-costs\nformat: simoffload-decision-costs\n",
                      "costs.yaml:2: YAML: duplicate key 'format' (first on line 1)"),
    "alias-bomb": ("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [" + ", ".join(["*a"] * 10) + "]\n"
                   "c: &c [" + ", ".join(["*b"] * 10) + "]\nd: &d [" + ", ".join(["*c"] * 10) + "]\n"
                   "e: &e [" + ", ".join(["*d"] * 10) + "]\nf: [" + ", ".join(["*e"] * 10) + "]\n",
                   "costs.yaml:6: YAML: expands to more than 1,000,000 nodes"),
    "deep": ("a: " + "[" * 100 + "]" * 100 + "\n", "YAML: nesting deeper than 64 levels"),
    "list": ("- 1\n- 2\n", "a YAML mapping"),
    "subtasks": ({**head(), "subtasks": 4, "default": {"seconds": 0}}, "measured for 4-subtask"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_cost_files_give_one_line_errors(tmp_path: Path, capsys, name: str) -> None:
    costs, needle = BAD[name]
    p = write(tmp_path, costs)
    for cmd in (["validate", str(p)], ["run", str(p), "--out", str(tmp_path / "o"), "--no-progress"]):
        assert main(cmd) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert needle in err and "Traceback" not in err, err
    assert not (tmp_path / "o").exists()


def test_bad_cost_file_error_names_file_and_line(tmp_path: Path, capsys) -> None:
    p = write(tmp_path, "format: simoffload-decision-costs\nversion: 1\npolicies:\n  edge: {seconds: 0}\n"
                        "  optimal: {seconds: fast}\n  exhaustive: {seconds: 0}\n")
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'costs.yaml'}:5: policies.optimal.seconds:" in err and "'fast'" in err, err


def test_calibrated_needs_a_cost_file_and_a_missing_one_is_one_line(tmp_path: Path, capsys) -> None:
    sc = yaml.safe_load(yaml.safe_dump(IDLE))
    del sc["decision"]["costs"]
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(sc))
    assert main(["validate", str(p)]) == 2
    assert "needs costs: FILE" in capsys.readouterr().err
    sc["decision"]["costs"] = "nope.yaml"
    p.write_text(yaml.safe_dump(sc))
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"error: {p}:" in err, err  # the scenario's line naming the file
    assert "decision.costs: decision cost file 'nope.yaml' not found (write one with: simoffload calibrate" in err
