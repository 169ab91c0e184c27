"""Re-runnable records: the scenario.yaml written with results reruns as is, from anywhere, to the same tables."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import simoffload
from simoffload.cli import main
from simoffload.config import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SHARED_TRACES = ROOT.parent / "shared" / "traces"
TINY_NET = dict(samples=600, hidden=[16, 16], epochs=2, batch_size=64, progress=False)
TINY = {  # learned policies trained tiny (into the test session's model cache), so every shipped scenario is quick
    "large-dil": dict(TINY_NET),
    "baseline-dil": dict(TINY_NET),
    "kd-dil": dict(TINY_NET, teacher_params=dict(TINY_NET)),
    "dqn": dict(samples=300, timesteps=300, learning_starts=100, hidden=[16], progress=False),
}
TABLES = ("tasks", "subtasks", "links")


def _shipped():
    return sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", _shipped(), ids=lambda p: p.stem)
def test_written_scenario_reruns_from_another_directory_to_identical_tables(path, tmp_path, monkeypatch):
    if "shared/traces" in path.read_text() and not SHARED_TRACES.is_dir():
        pytest.skip(f"{SHARED_TRACES} not present")
    sc = load_scenario(path)
    sc.horizon = min(sc.horizon, 240.0)
    for p in sc.policies:
        if p.name in TINY:
            p.params = {**TINY[p.name], **p.params}
        elif p.params.get("policy") in TINY:  # a wrapper (policies.scaled:SizeScaled) around a learned policy
            p.params = {**p.params, "params": {**TINY[p.params["policy"]], **(p.params.get("params") or {})}}
    first = tmp_path / "first"
    monkeypatch.chdir(ROOT)
    simoffload.run(sc, out=first)
    record = first / "scenario.yaml"
    # only the parameters that apply, and no path that depends on where it is read from
    data = yaml.safe_load(record.read_text())
    est = data["decision"]["estimator"]
    assert isinstance(est, str) or set(est) <= {"kind", "sample_s", "alpha", "lookback", "window"}
    assert main(["validate", str(record)]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["run", str(record), "--out", "second", "-q", "--no-plots"]) == 0
    second = elsewhere / "second"
    for name in TABLES:
        assert (first / f"{name}.parquet").read_bytes() == (second / f"{name}.parquet").read_bytes(), name
    a, b = simoffload.load_results(first).summary, simoffload.load_results(second).summary
    cols = [c for c in a.columns if not c.startswith("wall")]  # wall-clock time is not a result
    assert a[cols].equals(b[cols])
    # and the record of the rerun is the record itself
    assert (second / "scenario.yaml").read_text() == record.read_text()


def test_estimator_parameters_that_do_not_apply_are_left_out(tmp_path):
    for kind, own in (("last", {"sample_s"}), ("ewma", {"sample_s", "alpha", "lookback"}), ("harmonic", {"sample_s", "window"})):
        sc = simoffload.Scenario.from_dict({"decision": {"estimator": kind}, "policies": ["local"]})
        est = yaml.safe_load(sc.to_yaml())["decision"]["estimator"]
        assert set(est) == {"kind"} | own, kind
        f = tmp_path / f"{kind}.yaml"
        f.write_text(sc.to_yaml())
        assert load_scenario(f).decision.estimator == sc.decision.estimator
