"""Result directories: written whole or not at all, checked before any work, umask respected."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simoffload.cli import main

SCENARIO = """
name: dirs
seed: {seed}
horizon: 4 min
task: {{subtasks: 3}}
devices: {{count: 1, arrivals: {{periodic: {{interval: 30 s}}}}}}
policies: [local, edge]
"""


def _scenario(tmp: Path, seed: int = 1, text: str | None = None) -> Path:
    p = tmp / f"s{seed}.yaml"
    p.write_text(text or SCENARIO.format(seed=seed), encoding="utf-8")
    return p


def _snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def test_a_run_killed_while_plotting_leaves_the_earlier_run_untouched(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert main(["run", str(_scenario(tmp_path, 1)), "--out", str(out), "-q"]) == 0
    before = _snapshot(out)
    assert {"meta.json", "tasks.parquet", "latency_cdf.png"} <= set(before)

    import simoffload.experiments.plots as plots

    def killed(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(plots, "plot_run", killed)
    assert main(["run", str(_scenario(tmp_path, 2)), "--out", str(out), "-q"]) == 130
    assert _snapshot(out) == before  # not one file of the second run, none of the first removed
    assert _hidden(tmp_path) == []


def test_a_run_killed_while_writing_tables_leaves_the_earlier_run_untouched(tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert main(["run", str(_scenario(tmp_path, 1)), "--out", str(out), "-q", "--no-plots"]) == 0
    before = _snapshot(out)
    import simoffload.sim.results as results

    real, calls = results.write_table, []

    def dies_on_second(df, path):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(df, path)

    monkeypatch.setattr(results, "write_table", dies_on_second)
    assert main(["run", str(_scenario(tmp_path, 2)), "--out", str(out), "-q", "--no-plots"]) == 130
    assert _snapshot(out) == before
    assert _hidden(tmp_path) == []


def test_a_rerun_replaces_the_directory_as_a_whole(tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(_scenario(tmp_path, 1)), "--out", str(out), "-q"]) == 0
    assert main(["run", str(_scenario(tmp_path, 2)), "--out", str(out), "-q", "--no-plots", "--format", "csv"]) == 0
    # the csv run has no plots and no parquet: nothing of the first run survives beside it
    assert sorted(p.name for p in out.iterdir()) == ["links.csv", "meta.json", "scenario.yaml", "subtasks.csv",
                                                    "summary.csv", "tasks.csv"]
    assert "seed: 2" in (out / "scenario.yaml").read_text(encoding="utf-8")
    assert _hidden(tmp_path) == []


def test_empty_out_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    sc = _scenario(tmp_path)
    assert main(["run", str(sc), "--out", ""]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: --out: empty path (give a directory name)"
    assert sorted(p.name for p in tmp_path.iterdir()) == [sc.name]


def test_unwritable_out_fails_before_simulating(tmp_path, monkeypatch, capsys):
    import simoffload.sim.scenario as scenario

    def must_not_run(*a, **k):
        raise AssertionError("simulated before checking --out")

    monkeypatch.setattr(scenario, "run_scenario", must_not_run)
    blocker = tmp_path / "afile"
    blocker.write_text("x", encoding="utf-8")
    assert main(["run", str(_scenario(tmp_path)), "--out", str(blocker / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: --out {blocker / 'run'}: cannot write there")


def test_a_directory_with_other_files_is_not_replaced(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious", encoding="utf-8")
    assert main(["run", str(_scenario(tmp_path)), "--out", str(out), "-q"]) == 2
    assert "is not a simoffload result directory" in capsys.readouterr().err
    assert _snapshot(out) == {"notes.txt": b"precious"}


def test_no_task_inside_the_horizon_still_plots(tmp_path):
    text = "name: none\nseed: 1\nhorizon: 10 s\ndevices: {count: 1, arrivals: {times: [20.0]}}\npolicies: [local, edge]\n"
    out = tmp_path / "out"
    assert main(["run", str(_scenario(tmp_path, text=text)), "--out", str(out), "-q"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"meta.json", "latency_cdf.png", "latency_time.png", "decision_latency.png"} <= names


@pytest.mark.parametrize("mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_result_files_respect_the_umask(tmp_path, mask, file_mode, dir_mode):
    out = tmp_path / "out"
    old = os.umask(mask)
    try:
        assert main(["run", str(_scenario(tmp_path)), "--out", str(out), "-q"]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == dir_mode
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert modes and all(m == file_mode for m in modes.values()), modes


def test_train_refuses_a_directory_before_training(tmp_path, monkeypatch, capsys):
    from policies.dil import BaselineDILPolicy

    def must_not_fit(self):
        raise AssertionError("trained before checking --out")

    monkeypatch.setattr(BaselineDILPolicy, "fit", must_not_fit)
    d = tmp_path / "models"
    d.mkdir()
    assert main(["train", "baseline-dil", "--quick", "--out", str(d)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a directory" in err
    assert list(d.iterdir()) == [] and _hidden(tmp_path) == []
    assert main(["train", "baseline-dil", "--quick", "--out", ""]) == 2


def test_reproduce_sigterm_cleans_up(tmp_path):
    out = tmp_path / "repro"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "simoffload", "reproduce", "paper", "--quick", "--out", str(out),
                             "-q"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not any(n.startswith(".repro.partial-") for n in _hidden(tmp_path)):
            assert proc.poll() is None and time.monotonic() < deadline, "no work directory appeared"
            time.sleep(0.05)
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143
    assert err.strip().splitlines()[-1].startswith("error: terminated")
    assert _hidden(tmp_path) == [] and not out.exists()


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_seed_same_bytes(tmp_path, fmt):
    """Two runs of one scenario and seed: every table file byte for byte; wall clock only in meta.json."""
    text = SCENARIO.format(seed=7).replace("[local, edge]", "[local, edge, greedy, optimal, random]")
    sc = _scenario(tmp_path, text=text)
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert main(["run", str(sc), "--out", str(out), "-q", "--no-plots", "--format", fmt]) == 0
    tables = sorted(p.name for p in a.iterdir() if p.suffix in (".parquet", ".csv", ".yaml"))
    assert len(tables) == 5
    for name in tables:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    import json

    meta = json.loads((a / "meta.json").read_text(encoding="utf-8"))
    assert set(meta["wall_clock"]) == {"local", "edge", "greedy", "optimal", "random"}
    assert meta["wall_clock"]["optimal"]["decide_calls"] == 8  # tasks at 0, 30, ..., 210 s of a 4-min horizon
    assert all(meta["wall_clock"][p]["prepare_s"] >= 0 for p in meta["wall_clock"])


def test_a_destination_that_changed_during_the_run_is_not_replaced(tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    import simoffload.sim.results as results

    real = results.write_meta

    def user_writes_meanwhile(res, stage, fmt="parquet"):
        out.mkdir(exist_ok=True)
        (out / "notes.txt").write_text("precious", encoding="utf-8")
        real(res, stage, fmt)

    monkeypatch.setattr(results, "write_meta", user_writes_meanwhile)
    assert main(["run", str(_scenario(tmp_path)), "--out", str(out), "-q", "--no-plots"]) == 2
    err = capsys.readouterr().err
    assert "is not a simoffload result directory" in err and "the new run is kept in" in err
    assert _snapshot(out) == {"notes.txt": b"precious"}
    kept = [p for p in tmp_path.iterdir() if p.name.startswith(".out.partial-")]
    assert len(kept) == 1 and (kept[0] / "meta.json").exists()


def test_sweep_refuses_an_empty_out(tmp_path, capsys):
    assert main(["sweep", str(_scenario(tmp_path)), "--out", ""]) == 2
    assert capsys.readouterr().err.strip() == "error: --out: empty path (give a directory name)"


def test_staging_left_by_a_killed_run_is_removed_by_the_next(tmp_path):
    dead = 4_000_000
    while os.path.exists(f"/proc/{dead}"):
        dead -= 1
    stale = tmp_path / f".out.partial-{dead}-abcd1234"
    stale.mkdir()
    (stale / "tasks.parquet").write_bytes(b"half")
    other = tmp_path / f".other.partial-{dead}-abcd1234"  # another destination's: not ours to remove
    other.mkdir()
    assert main(["run", str(_scenario(tmp_path)), "--out", str(tmp_path / "out"), "-q", "--no-plots"]) == 0
    assert _hidden(tmp_path) == [other.name]
