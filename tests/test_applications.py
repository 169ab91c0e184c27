"""Several applications (task types) in one scenario: structures, sizes, arrivals, deadlines, shares of devices."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from simoffload.cli import main
from simoffload.config import parse_scenario
from simoffload.errors import UserError
from simoffload.sim.results import tables_from
from simoffload.sim.scenario import app_of_device, make_policies, run_scenario, task_graph

BASE = {"seed": 4, "horizon": "100 s", "devices": {"count": 8, "cpu": "1 GHz"},
        "edge": {"cores": 2, "cpu": "2.5 GHz"},
        "network": {"wireless": {"up": "5 MB/s"}, "wan": {"up": "5 MB/s"}},
        "policies": ["local", "edge", "optimal"]}

APPS = [
    {"name": "video", "share": 0.75,
     "task": {"subtasks": 6, "distribution": {"cycles": {"uniform": ["100 Mcycles", "300 Mcycles"]}, "bytes": "100 kB"},
              "deadline": "2 s"},
     "arrivals": {"periodic": {"interval": "10 s"}}},
    {"name": "health", "share": 0.25,
     "task": {"subtasks": 3, "distribution": {"cycles": "50 Mcycles", "bytes": {"uniform": ["1 kB", "5 kB"]}}},
     "arrivals": {"periodic": {"interval": "25 s", "offset": "1 s"}}},
]


def scenario(**over):
    return parse_scenario(dict(BASE, applications=APPS, **over))


def test_each_application_keeps_its_structure_arrivals_sizes_and_deadline():
    res = tables_from(run_scenario(scenario()))
    t = res.tasks
    assert set(t["app"]) == {"video", "health"}
    per_dev = t[t.policy == "local"].groupby("device")["app"].agg(["nunique", "first", "size"])
    assert (per_dev["nunique"] == 1).all()  # a device runs one application
    # 8 devices x (0.75, 0.25): 6 and 2 devices; periodic 10 s over 100 s: 10 tasks; 25 s from 1 s: 4 tasks
    assert (per_dev["first"] == "video").sum() == 6 and (per_dev["first"] == "health").sum() == 2
    assert set(per_dev.loc[per_dev["first"] == "video", "size"]) == {10}
    assert set(per_dev.loc[per_dev["first"] == "health", "size"]) == {4}
    assert set(t.loc[t.app == "video", "placement"].str.len()) == {6}
    assert set(t.loc[t.app == "health", "placement"].str.len()) == {3}
    assert (t.loc[t.app == "video", "deadline_s"] == 2.0).all() and np.isinf(t.loc[t.app == "health", "deadline_s"]).all()
    # all-local times are each task's own cycles: health = 3 x 50 Mcycles at 1 GHz = 0.15 s, no queueing
    loc = t[(t.policy == "local") & (t.app == "health")]
    np.testing.assert_allclose(loc["latency_s"].to_numpy(), 0.15, rtol=1e-12)
    # modelled decision time of optimal on the edge: (3n + 9(n-1) + 6) ops at 2.5 GHz, per structure
    opt = t[t.policy == "optimal"]
    dec = opt.groupby("app")["decision_s"]
    # (decision_s = start - arrival: cancellation error ~1e-14 s at t ~ 100 s)
    assert dec.min()["video"] == pytest.approx(69 / 2.5e9, abs=1e-12)
    assert dec.min()["health"] == pytest.approx(33 / 2.5e9, abs=1e-12)
    sub = res.subtasks
    assert sub.merge(t[["policy", "task_id", "app"]]).groupby("app")["subtask"].max().to_dict() == {"health": 2, "video": 5}


def test_shares_are_counted_by_largest_remainder():
    sc = parse_scenario(dict(BASE, devices={"count": 10}, applications=[
        {"name": n, "share": 1, "task": {"subtasks": 2}} for n in "abc"]))
    counts = np.bincount(app_of_device(sc, 0), minlength=3)
    assert counts.tolist() == [4, 3, 3]  # 10/3 each: the first remainder goes to the first application
    assert sorted(app_of_device(sc, 0).tolist()) == sorted(app_of_device(sc, 1).tolist())
    assert app_of_device(sc, 0).tolist() != app_of_device(sc, 1).tolist()  # assignment drawn from the seed


def test_single_task_form_is_one_application_named_default():
    t = tables_from(run_scenario(parse_scenario(dict(BASE, task={"subtasks": 2})))).tasks
    assert set(t["app"]) == {"default"}


def test_learned_policy_for_other_chains_refuses_clearly(tmp_path, capsys):
    apps = [APPS[1], APPS[0]]  # the 3-chain first: the refusal comes before any training
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(dict(BASE, applications=apps, policies=[{"name": "large-dil"}])))
    assert main(["run", str(f), "--out", str(tmp_path / "o"), "--no-plots", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "application 'health'" in err and "chains of 6" in err
    with pytest.raises(UserError, match="different task structures"):
        task_graph(scenario())
    assert len(make_policies(scenario(), 0)) == 3


@pytest.mark.parametrize("over,field", [
    ({"task": {"subtasks": 2}}, "not both"),
    ({"applications": [dict(APPS[0]), dict(APPS[0])]}, "duplicate application"),
    ({"applications": [dict(APPS[0], share=0)]}, "applications.0.share"),
    ({"applications": [dict(APPS[0], task={"subtasks": 2, "deadline": "-1 s"})]}, "applications.0.task.deadline"),
])
def test_bad_applications_are_one_line_errors(tmp_path, capsys, over, field):
    data = dict(BASE, applications=APPS)
    data.update(over)
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(data))
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"error: {f}") and field in err


def test_effective_scenario_of_applications_reloads(tmp_path):
    from simoffload.config import load_scenario, scenario_to_yaml

    f = tmp_path / "s.yaml"
    f.write_text(scenario_to_yaml(scenario()))
    again = load_scenario(f)
    assert [a.name for a in again.apps()] == ["video", "health"]


def test_sizes_may_be_given_per_subtask_and_per_data_edge(tmp_path, capsys):
    from simoffload.sim.scenario import build_world

    task = {"subtasks": 3, "distribution": {"cycles": ["1 Gcycles", {"uniform": ["2 Gcycles", "3 Gcycles"]}, "5 Mcycles"],
                                            "bytes": ["10 kB", "20 kB", {"choice": ["30 kB", "35 kB"]}, "40 kB"]}}
    sc = parse_scenario(dict(BASE, task=task, policies=["local"]))
    specs = build_world(sc).system.tasks
    cyc = np.array([s.cycles for s in specs])
    dat = np.array([s.data for s in specs])
    assert len(specs) > 10 and (cyc[:, 0] == 1e9).all() and (cyc[:, 2] == 5e6).all()
    assert ((cyc[:, 1] >= 2e9) & (cyc[:, 1] <= 3e9)).all() and cyc[:, 1].std() > 1e8
    assert (dat[:, [0, 1, 3]] == [10e3, 20e3, 40e3]).all() and set(dat[:, 2]) == {30e3, 35e3}
    # all-local at 1 GHz: the latency is each task's own cycles (queueing aside: the first task of each device)
    t = tables_from(run_scenario(sc)).tasks
    first = t.sort_values("arrival_s").groupby("device").head(1)
    exp = {s.task_id: s.cycles.sum() / 1e9 for s in specs}
    np.testing.assert_allclose(first["latency_s"], first["task_id"].map(exp), rtol=1e-12)
    # a list of the wrong length is one line naming the field
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(dict(BASE, task=dict(task, distribution=dict(task["distribution"], bytes=["1 kB"] * 3)))))
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "distribution.bytes: 4 data edges need 4 distributions (got 3" in err
    f.write_text(yaml.safe_dump(dict(BASE, task=dict(task, distribution=dict(task["distribution"], cycles=["1 Gcycles", "-1 Gcycles", 0])))))
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cycles.1" in err


def test_a_sweep_over_a_scenario_with_applications_validates(tmp_path, capsys):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(dict(BASE, applications=APPS, sweep={"grid": {"devices.count": [4, 8]}})))
    assert main(["validate", str(f)]) == 0, capsys.readouterr().err
    f.write_text(yaml.safe_dump(dict(BASE, applications=APPS, sweep={"grid": {"devices.count": [4, -1]}})))
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "sweep.grid.devices.count[1]" in err and "not both" not in err
