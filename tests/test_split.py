"""One run split by policy across shards gives byte-identical tables; splitting by device is refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from simoffload.cli import main
from simoffload.config import load_scenario
from simoffload.errors import UserError
from simoffload.sim.results import tables_from, write_tables
from simoffload.sim.scenario import run_scenario
from simoffload.sim.split import plan_shards, run_split

ROOT = Path(__file__).resolve().parents[1]


def _digests(res, out: Path) -> dict[str, str]:
    write_tables(res, out, "parquet")
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir()) if p.is_file()}


def test_plan_shards_covers_every_policy_once():
    assert plan_shards(5, 2) == [[0, 2, 4], [1, 3]]
    assert plan_shards(2, 8) == [[0], [1]]  # never an empty shard
    assert plan_shards(3, 1) == [[0, 1, 2]]


@pytest.mark.parametrize("name", ["dag", "stochastic", "traces_lte", "multiuser"])
def test_policy_shards_give_identical_table_bytes(tmp_path, name):
    sc = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    sc.horizon = min(sc.horizon, 20.0)  # keep the test small; the split is exact at any horizon
    single = _digests(tables_from(run_scenario(sc)), tmp_path / "one")
    # every policy alone in its own shard, each shard on a freshly built world
    split = _digests(tables_from(run_split(sc, shards=len(sc.policies))), tmp_path / "split")
    assert len(sc.policies) >= 2
    assert single == split
    assert {"tasks.parquet", "summary.parquet", "links.parquet", "subtasks.parquet"} <= set(single)


def test_cli_jobs_2_same_bytes_and_device_split_refused(tmp_path, capsys):
    import yaml

    data = yaml.safe_load((ROOT / "scenarios/multiuser.yaml").read_text())
    data["horizon"] = 20
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(data))
    assert main(["run", str(f), "--out", str(tmp_path / "a"), "--no-plots", "-q"]) == 0
    assert main(["run", str(f), "--out", str(tmp_path / "b"), "--no-plots", "-q", "--jobs", "2"]) == 0
    for p in (tmp_path / "a").iterdir():
        if p.name != "meta.json":  # meta.json holds wall-clock timings
            assert p.read_bytes() == (tmp_path / "b" / p.name).read_bytes(), p.name
    capsys.readouterr()
    assert main(["run", str(f), "--out", str(tmp_path / "c"), "--split", "devices", "--jobs", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --split devices: the ") and "share the edge site" in err[0]
    assert not (tmp_path / "c").exists()  # refused before anything was created


def test_run_split_refuses_devices_and_bad_jobs():
    sc = load_scenario(ROOT / "scenarios/quickstart.yaml")
    with pytest.raises(UserError, match="single device"):
        run_split(sc, split="devices")
    with pytest.raises(UserError, match="--jobs"):
        run_split(sc, jobs=0)
