"""Scenario files, the CLI and result tables: validation, determinism, common random numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from simoffload import load_results
from simoffload.cli import main
from simoffload.config import load_scenario, parse_scenario
from simoffload.sim.results import tables_from
from simoffload.sim.scenario import run_scenario

ROOT = Path(__file__).resolve().parents[1]
SHARED_TRACES = ROOT.parent / "shared" / "traces"


def skip_without_traces(path: Path) -> None:
    """Scenarios that replay ../shared/traces need the shared data set beside the repository."""
    if "shared/traces" in path.read_text() and not SHARED_TRACES.is_dir():
        pytest.skip(f"{SHARED_TRACES} not present")

SMALL = {
    "name": "small",
    "seed": 3,
    "horizon": "20 min",
    "task": {"subtasks": 4, "distribution": "paper-5.2"},
    "devices": {"count": 3, "cpu": {"uniform": ["200 MHz", "1 GHz"]}, "arrivals": {"poisson": {"rate": "0.02 /s"}}},
    "edge": {"cores": 2, "cpu": "3 GHz"},
    "network": {"shared_cell": True, "wireless": {"up": "5 MB/s"}, "wan": {"up": "3 MB/s"}},
    "policies": ["local", "edge", "cloud", "random"],
}


def small(**over):
    d = yaml.safe_load(yaml.safe_dump(SMALL))
    d.update(over)
    return parse_scenario(d)


def test_same_seed_identical_tables_and_different_seed_differs():
    a = tables_from(run_scenario(small()))
    b = tables_from(run_scenario(small()))
    for name in ("tasks", "subtasks", "links"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))
    c = tables_from(run_scenario(small(), seed=4))
    assert not a.tasks["arrival_s"].equals(c.tasks["arrival_s"])


def test_policies_see_identical_arrivals_and_task_parameters():
    res = run_scenario(small())
    t = tables_from(res).tasks
    per = {p: g.sort_values("task_id")[["task_id", "device", "arrival_s"]].reset_index(drop=True)
           for p, g in t.groupby("policy")}
    first = next(iter(per.values()))
    for df in per.values():
        pd.testing.assert_frame_equal(df, first)
    # the random policy's own stream must not shift the workload: adding/removing it changes nothing
    res2 = run_scenario(small(policies=["local"]))
    t2 = tables_from(res2).tasks
    pd.testing.assert_frame_equal(t2[["task_id", "device", "arrival_s", "latency_s"]].reset_index(drop=True),
                                  t[t.policy == "local"][["task_id", "device", "arrival_s", "latency_s"]].reset_index(drop=True))
    # and the workload's sizes are the world's, shared by every run
    assert len(res.world.system.tasks) == len(first)


def test_every_arrival_reported_exactly_once_and_counted():
    sc = small(horizon="5 min", devices={"count": 4, "arrivals": {"poisson": {"rate": "0.2 /s"}}, "cpu": "200 MHz"})
    res = tables_from(run_scenario(sc))
    n = len(run_scenario(sc).world.system.tasks)
    for pol, g in res.tasks.groupby("policy"):
        assert len(g) == n and g["task_id"].is_unique
        assert set(g["status"]) <= {"done", "unfinished"}
    s = res.summary.set_index("policy")
    assert (s["completed"] + s["unfinished"] == s["tasks"]).all()
    assert s.loc["local", "unfinished"] > 0  # a 200 MHz device cannot keep up with 0.2 tasks/s
    done = res.tasks[res.tasks.status == "done"]
    assert (done["finish_s"] <= 300.0 + 1e-9).all()
    assert res.tasks[res.tasks.status == "unfinished"]["latency_s"].isna().all()


def test_run_writes_tables_and_load_results_round_trips(tmp_path, capsys):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(SMALL))
    for fmt in ("parquet", "csv"):
        out = tmp_path / f"out_{fmt}"
        assert main(["run", str(f), "--out", str(out), "--format", fmt, "--no-progress", "--no-plots"]) == 0
        r = load_results(out)
        assert set(r.summary["policy"]) == {"local", "edge", "cloud", "random"}
        for col in ("policy", "task_id", "device", "arrival_s", "finish_s", "latency_s", "decision_s", "placement", "energy_j"):
            assert col in r.tasks.columns
        assert r.tasks["placement"].str.fullmatch(r"[012]{4}").all()
        assert (r.tasks[r.tasks.policy == "local"]["placement"] == "0000").all()
        assert (out / "scenario.yaml").exists()
        # the effective scenario reloads and reproduces the run
        again = tables_from(run_scenario(load_scenario(out / "scenario.yaml")))
        np.testing.assert_allclose(again.tasks["latency_s"].to_numpy(), r.tasks["latency_s"].to_numpy(), rtol=1e-12)
    out = capsys.readouterr().out
    assert "lat/best" in out


BAD = {
    "empty.yaml": ("", "empty"),
    "list.yaml": ("- a\n- b\n", "mapping"),
    "syntax.yaml": ("name: x\nseed: [1\n", "syntax.yaml:3"),
    "unknown.yaml": ("name: x\nbogus: 1\n", "bogus: unknown field"),
    "type.yaml": ("name: x\nedge:\n  cores: two\n", "edge.cores"),
    "negative.yaml": ("edge:\n  cpu: -1 GHz\n", "edge.cpu"),
    "zero_rate.yaml": ("devices:\n  arrivals:\n    poisson: {rate: 0}\n", "devices.arrivals.poisson.rate"),
    "missing.yaml": ("network:\n  wan: {}\n", "network.wan.up"),
    "policy.yaml": ("policies: [local, nope]\n", "policies.1.name"),
    "badclass.yaml": ("policies: ['os:path']\n", "policies.0.name"),
    "tag.yaml": ("name: !!python/object/apply:os.system ['touch PWNED']\n", "tag.yaml:1"),
    "unit.yaml": ("network:\n  wireless:\n    up: 3 parsecs\n", "network.wireless.up"),
    "dist.yaml": ("task:\n  distribution: {cycles: {uniform: [5, 1]}, bytes: 1}\n", "task.distribution"),
    "horizon.yaml": ("horizon: inf\n", "horizon"),
    "dup.yaml": ("policies: [local, local]\n", "duplicate"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_scenarios_give_one_line_error_and_exit_2(tmp_path, capsys, monkeypatch, name):
    text, needle = BAD[name]
    f = tmp_path / name
    f.write_text(text)
    monkeypatch.chdir(tmp_path)
    for cmd in (["validate", str(f)], ["run", str(f), "--out", str(tmp_path / "o"), "--no-progress"]):
        assert main(cmd) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
        assert needle in err, err
        assert "Traceback" not in err
    assert not (tmp_path / "PWNED").exists()
    assert not (tmp_path / "o").exists()


def test_bad_cli_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run"])
    assert e.value.code == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert main(["run", str(ROOT / "scenarios" / "quickstart.yaml"), "--out", "/dev/null/x", "--seed", "-1"]) == 2


def test_friendly_units_are_converted_once():
    sc = small(edge={"cores": 1, "cpu": "1.5 GHz"}, horizon="500 ms",
               network={"wireless": {"up": "20 Mbit/s"}, "wan": {"up": "2 MB/s"}})
    assert sc.edge.cpu == 1.5e9 and sc.horizon == 0.5
    res = run_scenario(sc)
    assert res.world.bandwidth["device0_up"].rate(0.0) == pytest.approx(2.5e6)
    assert res.world.bandwidth["wan_up"].rate(0.0) == pytest.approx(2e6)


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")))
def test_shipped_scenarios_validate(path, capsys):
    skip_without_traces(path)
    assert main(["validate", str(path)]) == 0


def test_stochastic_bandwidth_same_for_every_policy_and_changes_with_seed():
    over = {"network": {"wireless": {"up": {"gauss_markov": {"mean": "2 MB/s", "std": "1 MB/s", "tau_s": 5, "step_s": 1}}},
                        "wan": {"up": {"gilbert_elliott": {"good": "3 MB/s", "bad": "0.1 MB/s", "mean_good_s": 20, "mean_bad_s": 5}}}}}
    a = tables_from(run_scenario(small(**over)))
    bw = a.links[a.links.kind == "bandwidth"]
    assert set(bw["policy"]) == {"*"}  # one realisation, shared by every policy
    assert bw["value"].nunique() > 10
    b = tables_from(run_scenario(small(**over)))
    pd.testing.assert_frame_equal(a.links, b.links)
    c = tables_from(run_scenario(small(**over), seed=99))
    bw_c = c.links[c.links.kind == "bandwidth"]
    assert not np.array_equal(bw["value"].to_numpy()[:50], bw_c["value"].to_numpy()[:50])


def test_constant_trace_gives_exactly_the_constant_models_results(tmp_path):
    trace = tmp_path / "flat.txt"  # pensieve format: time_s <tab> Mbit/s; 40 Mbit/s = 5 MB/s
    trace.write_text("".join(f"{t}\t40\n" for t in range(0, 4000, 7)))
    wl = {"trace": {"file": str(trace), "format": "pensieve"}}
    a = tables_from(run_scenario(small(network={"shared_cell": True, "wireless": {"up": wl}, "wan": {"up": "3 MB/s"}})))
    b = tables_from(run_scenario(small()))
    cols = ["policy", "task_id", "finish_s", "latency_s", "placement", "energy_j", "status"]
    pd.testing.assert_frame_equal(a.tasks[cols], b.tasks[cols], check_exact=False, rtol=1e-12)


FLAKY = '''
import numpy as np
from simoffload.policy import Policy


class Flaky(Policy):
    """A third-party policy that fails on its 3rd decision."""

    def __init__(self, fail_at: int = 3):
        self.fail_at = fail_at

    def reset(self, rng):
        self.count_ = 0

    def decide(self, obs):
        self.count_ += 1
        if self.count_ == self.fail_at:
            raise ZeroDivisionError("boom")
        return np.zeros(obs.graph.n, dtype=int)
'''


def test_a_failing_third_party_policy_loses_nothing_else(tmp_path, monkeypatch, capsys):
    (tmp_path / "thirdparty.py").write_text(FLAKY)
    monkeypatch.syspath_prepend(str(tmp_path))
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(dict(SMALL, policies=["local", {"name": "thirdparty:Flaky", "label": "flaky"}, "edge"])))
    out = tmp_path / "out"
    assert main(["run", str(f), "--out", str(out), "--no-progress", "--no-plots"]) == 1
    err = capsys.readouterr().err
    assert "policy 'flaky' failed deciding task 2" in err and "ZeroDivisionError: boom" in err
    r = load_results(out)
    assert list(r.summary["policy"]) == ["local", "edge"]
    assert "flaky" in r.meta["failed"]
    # the same third-party class that does not fail runs like any built-in policy
    f.write_text(yaml.safe_dump(dict(SMALL, policies=[{"name": "thirdparty:Flaky", "params": {"fail_at": 10**9}}])))
    assert main(["run", str(f), "--out", str(tmp_path / "ok"), "--no-progress", "--no-plots"]) == 0
    assert (load_results(tmp_path / "ok").tasks["placement"] == "0000").all()


LEARNED = {"large-dil", "kd-dil", "baseline-dil", "dqn"}  # trained models: covered in test_learned.py


@pytest.mark.parametrize("path", sorted(p for p in (ROOT / "scenarios").glob("*.yaml") if not p.name.startswith("study_")))
def test_shipped_scenarios_run_in_a_quick_mode(path):
    skip_without_traces(path)
    sc = load_scenario(path)
    sc.horizon = min(sc.horizon, 180.0)
    sc.policies = [p for p in sc.policies if p.name not in LEARNED]
    res = tables_from(run_scenario(sc))
    assert list(res.summary["policy"]) == [p.display for p in sc.policies]
    assert (res.summary["tasks"] > 0).all()
    assert (res.links["kind"] == "bandwidth").any() or not sc.output.record.links


INTERRUPT = '''
import numpy as np
from simoffload.policy import Policy


class CtrlC(Policy):
    """Stands for the user pressing Ctrl-C during this policy's run."""

    def __init__(self):
        pass

    def decide(self, obs):
        raise KeyboardInterrupt
'''


def test_an_interrupted_run_keeps_the_policies_that_finished(tmp_path, monkeypatch, capsys):
    (tmp_path / "ctrlc.py").write_text(INTERRUPT)
    monkeypatch.syspath_prepend(str(tmp_path))
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(dict(SMALL, policies=["local", "edge", {"name": "ctrlc:CtrlC"}, "cloud"])))
    out = tmp_path / "out"
    assert main(["run", str(f), "--out", str(out), "--no-progress", "--no-plots"]) == 130
    assert "interrupted" in capsys.readouterr().err
    r = load_results(out)
    assert list(r.summary["policy"]) == ["local", "edge"] and r.meta["interrupted"] is True
