"""One definition of a deadline miss (simoffload.sim.results.deadline_flags) shared by the summary, the sites
table, the per-application printout and the topology study; checked against hand-counted tables."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from simoffload.cli import main
from simoffload.commands import app_table
from simoffload.config import parse_scenario
from simoffload.sim.results import deadline_flags, deadline_rates, summarize, summarize_file, tables_from
from simoffload.sim.scenario import run_scenario

ROOT = Path(__file__).resolve().parents[1]
INF = math.inf

# (status, arrival_s, deadline_s, latency_s) with horizon 100 s; the comment says how each one counts
HAND = [
    ("done", 0.0, 1.0, 0.5),          # on time
    ("missed", 1.0, 1.0, 2.0),        # finished late: miss
    ("dropped", 2.0, 1.0, np.nan),    # abandoned at its deadline: miss
    ("failed", 3.0, 1.0, np.nan),     # failure, not a miss
    ("unfinished", 90.0, 5.0, np.nan),  # deadline 95 < horizon: can no longer make it: miss
    ("unfinished", 98.0, 5.0, np.nan),  # deadline 103 after the horizon: undecided, not a miss
    ("unfinished", 95.0, 5.0, np.nan),  # deadline exactly at the horizon: not known to be late
    ("unfinished", 10.0, INF, np.nan),  # no deadline: never a miss
    ("done", 20.0, INF, 4.0),
    ("missed", 50.0, 0.5, 1.0),       # miss
]


def hand_table(policy: str = "p") -> pd.DataFrame:
    return pd.DataFrame({"policy": policy, "task_id": range(len(HAND)), "device": 0,
                         "status": [h[0] for h in HAND], "arrival_s": [h[1] for h in HAND],
                         "deadline_s": [h[2] for h in HAND], "latency_s": [h[3] for h in HAND],
                         "decision_s": 0.0, "energy_j": 0.0, "app": ["a"] * 5 + ["b"] * 5,
                         "site": [0, 1] * 5})


def test_flags_follow_the_definition_task_by_task():
    f = deadline_flags(hand_table(), 100.0)
    assert f["miss"].tolist() == [False, True, True, False, True, False, False, False, False, True]
    assert f["failed"].tolist() == [False, False, False, True] + [False] * 6
    assert f["unfinished"].tolist() == [False] * 4 + [True] * 4 + [False] * 2
    assert f["finished"].tolist() == [True, True, False, False, False, False, False, False, True, True]


def test_summary_rates_count_unfinished_after_the_deadline():
    s = summarize(hand_table(), horizon_s=100.0).iloc[0]
    # 4 misses (rows 1, 2, 4, 9), 1 failure, 4 unfinished, of 10 tasks
    assert s["miss_rate"] == pytest.approx(0.4) and s["failure_rate"] == pytest.approx(0.1)
    assert (s["tasks"], s["unfinished"], s["missed"], s["dropped"], s["failed"], s["completed"]) == (10, 4, 2, 1, 1, 4)
    assert s["mean_latency_s"] == pytest.approx((0.5 + 2.0 + 4.0 + 1.0) / 4)


def test_streamed_summary_and_app_table_from_a_file_count_the_same(tmp_path):
    f = tmp_path / "tasks.parquet"
    hand_table().to_parquet(f, index=False)
    pd.testing.assert_frame_equal(summarize_file(f, ["p"], False, 100.0), summarize(hand_table(), ["p"], 100.0),
                                  check_exact=True)
    s = summarize_file(f, ["p"], False, 100.0).iloc[0]
    assert s["miss_rate"] == pytest.approx(0.4) and s["failure_rate"] == pytest.approx(0.1)
    a = app_table(f, 100.0).set_index("app")
    assert a["deadline_misses"].tolist() == [3, 1] and a["unfinished"].tolist() == [1, 3]
    assert a.loc["b", "mean_latency_s"] == pytest.approx((4.0 + 1.0) / 2)


def test_rates_by_group_are_hand_counted():
    r = deadline_rates(hand_table(), 100.0, ["app"]).set_index("app")
    # app a = rows 0-4: misses rows 1, 2, 4; failure row 3; unfinished row 4
    # app b = rows 5-9: miss row 9; unfinished rows 5, 6, 7
    assert r.loc["a", ["tasks", "deadline_misses", "failed", "unfinished"]].tolist() == [5, 3, 1, 1]
    assert r.loc["b", ["tasks", "deadline_misses", "failed", "unfinished"]].tolist() == [5, 1, 0, 3]
    assert r.loc["a", "miss_rate"] == pytest.approx(0.6) and r.loc["b", "unfinished_frac"] == pytest.approx(0.6)
    s = deadline_rates(hand_table(), 100.0, ["site"]).set_index("site")
    # site 0 = even rows 0, 2, 4, 6, 8: misses 2, 4; site 1 = odd rows: misses 1, 9; failure 3
    assert s["deadline_misses"].tolist() == [2, 2] and s["failed"].tolist() == [0, 1]


def test_study_uses_the_same_definition():
    spec = importlib.util.spec_from_file_location("study_topology", ROOT / "analysis" / "study_topology.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    t = hand_table().assign(point_index=0, replicate=0, **{mod.DEV: 40, mod.SPEED: "[1, 3]"})
    # horizon 100: the window keeps arrivals in [10, 90): rows 7 (10 s), 8 (20 s), 9 (50 s)
    r = mod.per_run(t, 100.0).iloc[0]
    assert r["tasks"] == 3 and r["miss_rate"] == pytest.approx(1 / 3) and r["unfinished_frac"] == pytest.approx(1 / 3)
    assert r["mean_latency_s"] == pytest.approx((4.0 + 1.0) / 2) and r["speed_mps"] == 2.0
    # a window that keeps everything gives the summary's rates
    wide = mod.per_run(t.assign(arrival_s=t["arrival_s"] / 10 + 10), 100.0)  # arrivals 10 .. 19.8: all inside
    flags = deadline_flags(t.assign(arrival_s=t["arrival_s"] / 10 + 10), 100.0)
    assert wide["miss_rate"].iloc[0] == pytest.approx(flags["miss"].mean())


SITES = {"seed": 3, "horizon": "10 s",
         "devices": {"count": 2, "cpu": "1 GHz", "arrivals": {"periodic": {"interval": "3 s"}}},
         "edge": [{"name": "a", "cores": 1, "cpu": "1 GHz"}, {"name": "b", "cores": 1, "cpu": "1 GHz"}],
         "topology": {"association": {"fixed": ["a", "b"]}},
         "applications": [
             {"name": "x", "share": 1, "task": {"subtasks": 1, "distribution": {"cycles": "2 Gcycles", "bytes": 0},
                                                 "deadline": "1.5 s"}},
             {"name": "y", "share": 1, "task": {"subtasks": 1, "distribution": {"cycles": "2 Gcycles", "bytes": 0},
                                                 "deadline": "0.5 s"}}],
         "policies": ["local"]}


def sites_scenario():
    return yaml.safe_load(yaml.safe_dump(SITES))


def test_run_tables_and_printout_count_misses_the_same_way(tmp_path, capsys):
    # each device runs its 2 s tasks locally, arriving at 0, 3, 6, 9 s; horizon 10 s.
    # app x (deadline 1.5 s): tasks at 0, 3, 6 finish 2 s later (late); the one at 9 is unfinished at 10 with its
    #   deadline 10.5 after the horizon: undecided -> 3 misses of 4.
    # app y (deadline 0.5 s): the same three late, and the one at 9 is unfinished after its deadline 9.5 -> 4 of 4.
    res = tables_from(run_scenario(parse_scenario(sites_scenario())))
    t = res.tasks
    assert sorted(t["status"].tolist()) == ["missed"] * 6 + ["unfinished"] * 2
    assert res.summary.loc[0, "miss_rate"] == pytest.approx(7 / 8)
    app_of_site = t.groupby("site")["app"].first()
    s = res.sites.set_index("site_index")
    for site, app in app_of_site.items():
        assert s.loc[site, "tasks"] == 4 and s.loc[site, "unfinished"] == 1 and s.loc[site, "failed"] == 0
        assert s.loc[site, "deadline_misses"] == {"x": 3, "y": 4}[app]
        assert s.loc[site, "miss_rate"] == pytest.approx({"x": 0.75, "y": 1.0}[app])
    a = app_table(t, 10.0).set_index("app")
    assert a.loc["x", "miss_rate"] == pytest.approx(0.75) and a.loc["y", "miss_rate"] == pytest.approx(1.0)
    assert a.loc["x", "deadline_s"] == 1.5 and a.loc["x", "mean_latency_s"] == pytest.approx(2.0)
    assert a.loc["y", "deadline_misses"] == 4 and a.loc["x", "unfinished"] == 1
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(sites_scenario()))
    assert main(["run", str(p), "--out", str(tmp_path / "o"), "--no-progress", "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "per application" in out and "per site" in out
    line = next(ln for ln in out.splitlines() if ln.startswith("local") and " y " in f" {ln} " and "0.5" in ln)
    assert line.split()[-2] == "1.000"  # app y: miss column
    head = next(ln for ln in out.splitlines() if ln.startswith("policy") and "site" in ln).split()
    assert head[-3:] == ["unfin", "miss", "fail"]
