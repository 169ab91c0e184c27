"""Sweeps: identical tables on 1 and 2 workers and on Dask, resume after interruption, failing points."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simoffload.cli import main as cli_main
from simoffload.errors import UserError
from simoffload.experiments.sweep import (
    _thin,
    load_sweep,
    parse_sweep,
    plan_sweep,
    run_sweep,
)

BASE = """
name: t
seed: 3
horizon: {horizon}
devices: {{count: 2, arrivals: {{poisson: {{rate: 0.05 /s}}}}}}
network: {{wireless: {{up: {{gauss_markov: {{mean: 1 MB/s, std: 0.3 MB/s, tau_s: 5}}}}}}}}
policies: [local, edge, random, optimal]
sweep:
  grid:
    devices.count: [2, 3]
    edge.cores: {cores}
  replicates: 2
"""


def write(tmp: Path, horizon: str = "5 min", cores: str = "[1, 2]", name: str = "s.yaml") -> Path:
    p = tmp / name
    p.write_text(BASE.format(horizon=horizon, cores=cores), encoding="utf-8")
    return p


def key_cols(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=[c for c in ("wall_s",) if c in df.columns])


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    tmp = tmp_path_factory.mktemp("ref")
    sc = write(tmp)
    oc = run_sweep(sc, tmp / "j1", jobs=1, progress=False)
    assert not oc.failed and oc.total == 8
    return sc, load_sweep(tmp / "j1")


def test_table_shape_and_common_random_numbers(ref) -> None:
    _, sw = ref
    t = sw.tasks
    assert list(sw.params) == ["devices.count", "edge.cores"]
    for c in ("point", "replicate", "seed", "devices.count", "edge.cores"):
        assert c in t.columns
    assert sorted(t["seed"].unique()) == [3, 4]  # scenario seed + replicate index
    assert set(zip(t["replicate"], t["seed"])) == {(0, 3), (1, 4)}
    # no duplicate rows: one row per point x policy x task
    assert not t.duplicated(["point", "policy", "task_id"]).any()
    # every point of one replicate sees the same arrivals (replicate seeds outside the grid) ...
    r0 = t[(t["replicate"] == 0) & (t["policy"] == "local") & (t["device"] == 0)]
    arr = [g.sort_values("task_id")["arrival_s"].to_numpy() for _, g in r0.groupby("point")]
    assert len(arr) == 4 and all(np.array_equal(a, arr[0]) for a in arr)
    # ... and the other replicate does not
    r1 = t[(t["replicate"] == 1) & (t["policy"] == "local") & (t["device"] == 0)]
    assert not np.array_equal(r1.groupby("point").first()["arrival_s"].to_numpy()[:1], arr[0][:1])
    # the summary has one row per point x replicate x policy
    assert len(sw.summary) == 8 * 4


def test_two_workers_same_as_one(ref, tmp_path: Path) -> None:
    sc, sw = ref
    oc = run_sweep(sc, tmp_path / "j2", jobs=2, progress=False)
    assert not oc.failed
    sw2 = load_sweep(tmp_path / "j2")
    pd.testing.assert_frame_equal(sw2.tasks, sw.tasks)
    pd.testing.assert_frame_equal(key_cols(sw2.summary), key_cols(sw.summary))


def test_dask_local_cluster_same_table(ref, tmp_path: Path) -> None:
    from distributed import LocalCluster

    sc, sw = ref
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        oc = run_sweep(sc, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False)
    assert not oc.failed and oc.ran == 8
    pd.testing.assert_frame_equal(load_sweep(tmp_path / "dask").tasks, sw.tasks)


def test_resume_after_partial_run(ref, tmp_path: Path) -> None:
    sc, sw = ref
    first = run_sweep(sc, tmp_path / "r", jobs=1, progress=False, only=3)
    assert first.ran == 3
    oc = run_sweep(sc, tmp_path / "r", jobs=2, progress=False)
    assert oc.skipped == 3 and oc.ran == 5
    again = run_sweep(sc, tmp_path / "r", jobs=1, progress=False)
    assert again.skipped == 8 and again.ran == 0
    got = load_sweep(tmp_path / "r").tasks
    assert not got.duplicated(["point", "policy", "task_id"]).any()
    pd.testing.assert_frame_equal(got, sw.tasks)


def test_sigkill_midway_then_rerun(tmp_path: Path) -> None:
    sc = write(tmp_path, horizon="40 min")
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "simoffload.cli", "sweep", str(sc), "--out", str(out),
                             "--no-progress", "--no-plots"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    try:
        while time.time() < deadline:
            done = [p for p in (out / "points").glob("*.parquet") if not p.name.endswith(".summary.parquet")] \
                if (out / "points").exists() else []
            if done or proc.poll() is not None:
                break
            time.sleep(0.05)
        killed_midway = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert killed_midway, "the sweep finished before it could be killed"
    assert not (out / "sweep.json").exists()  # combined tables are only written at the end
    n_before = len([p for p in (out / "points").glob("*.parquet") if not p.name.endswith(".summary.parquet")])
    assert 1 <= n_before < 8
    oc = run_sweep(sc, out, jobs=1, progress=False)
    assert oc.skipped == n_before and oc.ran == 8 - n_before
    oc_ref = run_sweep(sc, tmp_path / "clean", jobs=1, progress=False)
    assert oc_ref.ran == 8
    got, want = load_sweep(out).tasks, load_sweep(tmp_path / "clean").tasks
    assert not got.duplicated(["point", "policy", "task_id"]).any()
    pd.testing.assert_frame_equal(got, want)


def test_failing_point_recorded_others_complete(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sc = write(tmp_path, cores="[1, 0]")  # edge.cores 0 fails validation when its point runs
    status = cli_main(["sweep", str(sc), "--out", str(tmp_path / "f"), "--no-progress", "--no-plots"])
    assert status == 1
    printed = capsys.readouterr().err  # failures are reported on stderr
    failed = list((tmp_path / "f" / "failed").glob("*.json"))
    assert len(failed) == 4  # 2 counts x 2 replicates with cores = 0
    info = json.loads(failed[0].read_text())
    assert info["params"]["edge.cores"] == 0 and "edge.cores" in info["error"]
    for f in failed:
        assert f.stem in printed
    sw = load_sweep(tmp_path / "f")
    assert len(sw.meta["completed"]) == 4 and set(sw.tasks["edge.cores"]) == {1}
    assert set(sw.meta["failed"]) == {f.stem for f in failed}


def test_unknown_path_is_one_line_user_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\nsweep: {grid: {edge.coress: [1, 2]}}\n", encoding="utf-8")
    assert cli_main(["sweep", str(p), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "edge.coress" in err and "unknown scenario field" in err


@pytest.mark.parametrize("section, needle", [
    ({"grid": {"edge.cores": []}}, "non-empty list"),
    ({"zip": {"edge.cores": [1, 2], "devices.count": [1]}}, "equal lengths"),
    ({"grid": {"edge.cores": [1]}, "replicates": 0}, "replicates"),
    ({"grid": {"edge.cores": [1]}, "bogus": 1}, "bogus"),
    ({}, "at least one of grid and zip"),
    ({"grid": {"network.wireless.up.constant.x": [1]}}, "network.wireless.up.constant.x"),
])
def test_sweep_section_validation(section: dict, needle: str) -> None:
    base = {"edge": {"cores": 1, "cpu": 1.0}, "devices": {"count": 1},
            "network": {"wireless": {"up": {"constant": 1.0, "trace": None}}}}
    with pytest.raises(UserError, match=needle.replace(".", r"\.")):
        parse_sweep(section, base)


def test_zip_and_grid_points_and_quick(tmp_path: Path) -> None:
    p = tmp_path / "z.yaml"
    p.write_text("name: x\nseed: 9\nsweep:\n  grid: {edge.cores: [1, 2, 3, 4, 5]}\n"
                 "  zip: {devices.count: [1, 2], name: [a, b]}\n  replicates: 3\n"
                 "  quick: {set: {horizon: 7 s}, max_values: 2, replicates: 1}\n", encoding="utf-8")
    plan = plan_sweep(p)
    assert len(plan.jobs) == 5 * 2 * 3
    combos = {(j["params"]["edge.cores"], j["params"]["devices.count"], j["params"]["name"]) for j in plan.jobs}
    assert combos == {(c, n, s) for c in range(1, 6) for n, s in ((1, "a"), (2, "b"))}
    assert {j["seed"] for j in plan.jobs} == {9, 10, 11}
    assert len({j["id"] for j in plan.jobs}) == 30  # stable ids are distinct
    assert [j["id"] for j in plan_sweep(p).jobs] == [j["id"] for j in plan.jobs]  # and stable
    q = plan_sweep(p, quick=True)
    assert len(q.jobs) == 2 * 2 and {j["params"]["edge.cores"] for j in q.jobs} == {1, 5}
    assert all(j["scenario"]["horizon"] == "7 s" for j in q.jobs)  # validated when the point runs
    assert _thin(list(range(9)), 3) == [0, 4, 8]


def test_failing_point_names_the_sweep_files_line_of_the_swept_value(tmp_path: Path, capsys) -> None:
    """As for a single run: ``FILE:LINE: field: message``, the line being the swept value's in the sweep file.

    Line numbers by hand: ``edge.cores: [1, 0]`` is line 7 (the value 0 is item 1), the zip's weight list line 10,
    the trace list line 12; the trace's own bad sample is line 2 of nan.pensieve.
    """
    (tmp_path / "ok.pensieve").write_text("0 1.0\n10 2.0\n")
    (tmp_path / "nan.pensieve").write_text("0 1.0\n1 nan\n")
    p = tmp_path / "s.yaml"
    p.write_text("name: x\n"                                                              # 1
                 "horizon: 60\n"                                                          # 2
                 "devices: {count: 1, arrivals: {periodic: {interval: 10}}}\n"             # 3
                 "policies: [local, {name: queue-aware, params: {weight: 1}}]\n"           # 4
                 "sweep:\n"                                                               # 5
                 "  grid:\n"                                                              # 6
                 "    edge.cores: [1, 0]\n"                                               # 7
                 "    network.wireless.up: [1 MB/s, {trace: {file: nan.pensieve, format: pensieve}}]\n"  # 8
                 "  zip:\n"                                                               # 9
                 "    policies.1.params.weight: [-5]\n", encoding="utf-8")                 # 10
    status = cli_main(["sweep", str(p), "--out", str(tmp_path / "o"), "--no-progress", "--no-plots"])
    assert status == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == f"error: 4 of 4 sweep runs failed (details in {tmp_path / 'o'}/failed/)"
    lines = sorted(ln.rsplit(" (point ", 1)[0] for ln in err[:-1])
    weight = (f"error: {p}:10: sweep.zip.policies.1.params.weight[0]: policies.1.params.weight: "
              f"Input should be greater than or equal to 0 (got -5)")
    cores = f"error: {p}:7: sweep.grid.edge.cores[1]: edge.cores: Input should be greater than or equal to 1 (got 0)"
    # which error a point reports first is the validator's order: cores before policies; the weight otherwise
    assert lines == sorted([cores, cores, weight, weight]), err
    assert all(" (point " in ln and ", replicate 0)" in ln for ln in err[:-1])
    # a bad trace named by a swept value: the trace's own line, then the sweep file's line of that value
    p.write_text(p.read_text().replace("[1, 0]", "[1]").replace("[-5]", "[2]"), encoding="utf-8")
    assert cli_main(["sweep", str(p), "--out", str(tmp_path / "o2"), "--no-progress", "--no-plots"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and err[0].startswith(
        f"error: {tmp_path / 'nan.pensieve'}:2: bandwidth: not finite (got 'nan') (from {p}:8: sweep.grid.network.wireless.up[1]) "
        "(point "), err
