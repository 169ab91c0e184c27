"""Offline datasets: exact labels, reproducibility, file formats, and the ``simoffload dataset`` command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from simoffload import cli
from simoffload.learn.datasets import (
    feature_columns,
    instances_from_frame,
    label_columns,
    placements_from_frame,
    read_dataset,
    sample_dataset,
    write_dataset,
)
from simoffload.model.cost import Objective, coefficients, cost, evaluate, latency
from simoffload.model.solvers import exhaustive
from simoffload.model.task import RequirementDistribution, TaskGraph, random_dag

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

P51 = RequirementDistribution.from_spec("paper-5.1")


def test_chain_columns_and_exact_labels() -> None:
    g = TaskGraph.chain(6)
    df = sample_dataset(P51, g, 300, seed=3)
    expected = ([f"cycles_{i}" for i in range(6)] + [f"bytes_{i}" for i in range(7)]
                + ["p1_hz", "p2_hz", "b1_Bps", "b2_Bps"] + [f"place_{i}" for i in range(6)] + ["latency_s"])
    assert list(df.columns) == expected
    inst = instances_from_frame(df)
    P = placements_from_frame(df, g)
    assert set(np.unique(P)) <= {0, 1, 2}
    # labels re-evaluated with the cost model give latency_s ...
    np.testing.assert_allclose(latency(inst, P), df["latency_s"].to_numpy(), rtol=1e-12)
    # ... and that latency is the optimum of exhaustive search
    _, opt = exhaustive(coefficients(inst), g, inst.data)
    np.testing.assert_allclose(df["latency_s"].to_numpy(), opt, rtol=1e-9)
    # the sampled ranges are the paper's 5.1 ones
    assert df[[f"cycles_{i}" for i in range(6)]].to_numpy().max() <= 2000e6
    assert 100e6 <= df["p1_hz"].min() and df["p1_hz"].max() <= 1000e6


def test_weighted_objective_labels_minimise_it() -> None:
    g = TaskGraph.chain(4)
    obj = Objective(latency_weight=1.0, energy_weight=3.0)
    df = sample_dataset(RequirementDistribution.from_spec("paper-5.2"), g, 100, seed=1, objective=obj)
    assert {"energy_J", "objective"} <= set(df.columns)
    inst = instances_from_frame(df, g)
    P = placements_from_frame(df, g)
    np.testing.assert_allclose(cost(inst, P, obj), df["objective"].to_numpy(), rtol=1e-12)
    _, opt = exhaustive(coefficients(inst, obj), g, inst.data)
    np.testing.assert_allclose(df["objective"].to_numpy(), opt, rtol=1e-9)


def test_dag_dataset_round_trip(tmp_path) -> None:
    g = random_dag(6, 0.5, np.random.default_rng(5))
    df = sample_dataset(P51, g, 50, seed=2)
    assert [c for c in df.columns if c.startswith("bytes_")] == [f"bytes_{k}" for k in range(g.m)]
    for suffix in (".parquet", ".csv"):
        path = write_dataset(df, tmp_path / f"dag{suffix}")
        back = read_dataset(path)
        inst = instances_from_frame(back)  # structure from the file's metadata
        assert inst.graph == g
        P = placements_from_frame(back, g)
        np.testing.assert_allclose(evaluate(coefficients(inst), g, inst.data, P), back["latency_s"], rtol=1e-12)
        _, opt = exhaustive(coefficients(inst), g, inst.data)
        np.testing.assert_allclose(back["latency_s"], opt, rtol=1e-9)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_file_round_trip_is_exact(tmp_path, suffix: str) -> None:
    df = sample_dataset(P51, TaskGraph.chain(3), 40, seed=9)
    back = read_dataset(write_dataset(df, tmp_path / f"d{suffix}"))
    pd.testing.assert_frame_equal(back, df, check_exact=True)
    assert back.attrs["simoffload"]["seed"] == 9
    assert not list(tmp_path.glob(".*tmp"))  # no temp file left behind


def test_same_seed_same_file_and_chunking_does_not_matter(tmp_path) -> None:
    g = TaskGraph.chain(6)
    a = sample_dataset(P51, g, 500, seed=11)
    b = sample_dataset(P51, g, 500, seed=11, chunk=64, progress=True)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    c = sample_dataset(P51, g, 500, seed=12)
    assert not np.array_equal(a["cycles_0"].to_numpy(), c["cycles_0"].to_numpy())
    for suffix in (".parquet", ".csv"):
        pa, pb = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
        assert cli.main(["dataset", "--dist", "paper-5.1", "-n", "200", "--seed", "4", "--out", str(pa), "-q"]) == 0
        assert cli.main(["dataset", "--dist", "paper-5.1", "-n", "200", "--seed", "4", "--out", str(pb), "-q"]) == 0
        assert pa.read_bytes() == pb.read_bytes()


def test_cli_yaml_distribution_and_objective(tmp_path) -> None:
    spec = tmp_path / "d.yaml"
    spec.write_text("distribution:\n  base: paper-5.1\n  cycles: {uniform: [1e9, 1e9]}\n")
    out = tmp_path / "o.csv"
    assert cli.main(["dataset", "--dist", str(spec), "-n", "30", "--out", str(out), "--subtasks", "3",
                     "--objective", "energy", "-q"]) == 0
    df = read_dataset(out)
    assert len(df) == 30 and (df[[f"cycles_{i}" for i in range(3)]].to_numpy() == 1e9).all()
    assert "energy_J" in df.columns
    inst = instances_from_frame(df)
    obj = Objective(**df.attrs["simoffload"]["objective"])
    assert obj.energy_weight == 1.0 and obj.latency_weight == 0.0
    _, opt = exhaustive(coefficients(inst, obj), inst.graph, inst.data)
    np.testing.assert_allclose(df["objective"], opt, rtol=1e-9)


def test_cli_dag(tmp_path) -> None:
    out = tmp_path / "dag.parquet"
    assert cli.main(["dataset", "--dist", "paper-5.2", "-n", "20", "--out", str(out), "--subtasks", "5",
                     "--dag-edge-prob", "0.5", "-q"]) == 0
    df = read_dataset(out)
    inst = instances_from_frame(df)
    assert inst.graph.n == 5
    assert list(df.columns[: len(feature_columns(inst.graph))]) == feature_columns(inst.graph)
    assert label_columns(inst.graph)[-1] in df.columns


@pytest.mark.parametrize("argv, needle", [
    (["-n", "0"], "-n must be >= 1, got 0"),
    (["-n", "ten"], "invalid int value"),
    (["--dist", "paper-9"], "--dist: unknown distribution 'paper-9'"),
    (["--out", "{tmp}/x.txt"], "unknown file type '.txt'"),
    (["--out", "{tmp}/no/such/dir/x.csv"], "does not exist"),
    (["--dist", "{tmp}/missing.yaml"], "missing.yaml:1: distribution file: no such file"),
    (["--dist", "{tmp}/bad.yaml"], "bad.yaml:2: YAML:"),
    # the bounded safe loader, as for scenarios: duplicate keys, alias bombs, NUL bytes
    (["--dist", "{tmp}/dup.yaml"], "dup.yaml:3: YAML: duplicate key 'distribution' (first on line 1)"),
    (["--dist", "{tmp}/bomb.yaml"], "bomb.yaml:6: YAML: expands to more than 1,000,000 nodes"),
    (["--dist", "{tmp}/nul.yaml"], "nul.yaml:2: YAML: a NUL byte"),
    (["--dist", "{tmp}/list.yaml"], "list.yaml:1: (top level): needs a top-level 'distribution:' mapping"),
    (["--dist", "{tmp}/nodist.yaml"], "nodist.yaml:1: workload: unknown field"),  # not a distribution: read as a scenario
    (["--dist", "{tmp}/badfield.yaml"], "distribution: unknown field(s) ['cpu']"),
    (["--objective", "weighted", "--latency-weight", "0", "--energy-weight", "0"], "not both 0"),
    (["--dag-edge-prob", "1.5"], "--dag-edge-prob must lie in [0, 1], got 1.5"),
])
def test_cli_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv: list[str], needle: str) -> None:
    (tmp_path / "bad.yaml").write_text("distribution:\n  cycles: a: b\n")  # error on line 2
    (tmp_path / "nodist.yaml").write_text("workload: {}\n")
    (tmp_path / "badfield.yaml").write_text("distribution:\n  base: paper-5.1\n  cpu: 1\n")
    (tmp_path / "dup.yaml").write_text("distribution:\n  base: paper-5.1\ndistribution:\n  base: paper-5.2\n")
    bomb = "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n"
    for prev, name in zip("abcd", "bcde"):
        bomb += f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
    (tmp_path / "bomb.yaml").write_text(bomb + "distribution: [" + ", ".join(["*e"] * 10) + "]\n")
    (tmp_path / "nul.yaml").write_text("distribution:\n  base: paper\x00-5.1\n")
    (tmp_path / "list.yaml").write_text("- 1\n")
    base = {"--dist": "paper-5.1", "-n": "5", "--out": str(tmp_path / "ok.csv")}
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    for k, v in base.items():
        if k not in args:
            args += [k, v]
    with pytest.raises(SystemExit) if "ten" in argv else _nullcontext() as exc:
        status = cli.main(["dataset", *args, "-q"])
    if "ten" in argv:
        status = exc.value.code
    err = capsys.readouterr().err
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert not (tmp_path / "ok.csv").exists()


class _nullcontext:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def test_dataset_from_a_scenario_uses_its_workload_devices_and_bandwidth(tmp_path):
    import yaml

    from simoffload.cli import main as cli_main

    scen = tmp_path / "s.yaml"
    scen.write_text(yaml.safe_dump({
        "task": {"subtasks": 3, "distribution": {"cycles": {"uniform": ["1 Mcycles", "2 Mcycles"]}, "bytes": "1 MB"}},
        "devices": {"cpu": {"choice": ["100 MHz", "200 MHz"]}},
        "edge": {"cpu": "3 GHz"},
        "network": {"wireless": {"up": {"piecewise": {"times_s": [0, 100, 200], "rates": ["1 MB/s", "3 MB/s"]}}},
                    "wan": {"up": "5 MB/s"}},
        "horizon": "200 s",
    }))
    out = tmp_path / "d.csv"
    assert cli_main(["dataset", "--dist", str(scen), "-n", "400", "--seed", "2", "--out", str(out), "-q"]) == 0
    from simoffload.learn.datasets import read_dataset
    df = read_dataset(out)
    assert [c for c in df.columns if c.startswith("cycles_")] == ["cycles_0", "cycles_1", "cycles_2"]
    assert df["cycles_0"].between(1e6, 2e6).all() and (df["bytes_2"] == 1e6).all()
    assert set(df["p1_hz"]) == {1e8, 2e8} and (df["p2_hz"] == 3e9).all() and (df["b2_Bps"] == 5e6).all()
    # the oracle estimator at a uniform time in [0, 200 s): half the samples see each step
    assert set(df["b1_Bps"]) == {1e6, 3e6}
    assert 0.4 < (df["b1_Bps"] == 1e6).mean() < 0.6


def test_csv_dataset_is_a_plain_csv_with_a_sidecar(tmp_path) -> None:
    out = tmp_path / "ds.csv"
    assert cli.main(["dataset", "--dist", "paper-5.1", "-n", "25", "--seed", "3", "--out", str(out), "-q"]) == 0
    plain = pd.read_csv(out)  # no comment= needed: the first line is the header
    assert len(plain) == 25 and list(plain.columns[:2]) == ["cycles_0", "cycles_1"]
    assert out.read_text().startswith("cycles_0,")
    side = json.loads((tmp_path / "ds.csv.json").read_text())["simoffload"]
    assert side["seed"] == 3 and side["graph"]["n"] == 6
    back = read_dataset(out)
    pd.testing.assert_frame_equal(back, plain, check_exact=True)
    assert back.attrs["simoffload"] == side
