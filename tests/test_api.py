"""The public Python API: Scenario, run, sweep, load_results, plug-ins beside a scenario and through entry points."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import simoffload
from simoffload.cli import main
from simoffload.errors import UserError
from simoffload.testing import check_policy

ROOT = Path(__file__).resolve().parents[1]

BASE = {"name": "api", "seed": 4, "horizon": "20 min", "task": {"subtasks": 4, "distribution": "paper-5.2"},
        "devices": {"count": 2, "cpu": "600 MHz", "arrivals": {"periodic": {"interval": "45 s"}}},
        "edge": {"cores": 1, "cpu": "3 GHz"}, "network": {"wireless": {"up": "2 MB/s"}, "wan": {"up": "3 MB/s"}},
        "policies": ["local", "edge", "optimal"]}


class EdgeIfFast(simoffload.Policy):
    """All on the edge when the estimated uplink beats a threshold, else all local."""

    name = "edge-if-fast"

    def __init__(self, threshold_Bps: float = 1e6):
        self.threshold_Bps = threshold_Bps

    def decide(self, obs):
        return np.full(obs.graph.n, 1 if obs.b1_Bps > self.threshold_Bps else 0)

    def decision_ops(self, graph):
        return 1.0


def test_public_names_are_exported_lazily():
    code = ("import sys, simoffload; heavy = [m for m in ('numpy', 'pandas', 'torch', 'pydantic', 'simpy') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"  # import simoffload imports none of them
    for name in simoffload.__all__:
        assert getattr(simoffload, name) is not None
    assert {"Scenario", "run", "sweep", "load_results", "testing", "Policy"} <= set(simoffload.__all__)


def test_scenario_from_dict_yaml_and_keywords_agree(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(BASE))
    a = simoffload.Scenario.from_dict(BASE)
    b = simoffload.Scenario.from_yaml(f)
    c = simoffload.Scenario(**BASE)
    assert a.model_dump() == b.model_dump() == c.model_dump()
    assert a.horizon == 1200.0 and a.network.wireless.up.constant == 2e6
    with pytest.raises(UserError, match="edge.cores"):
        simoffload.Scenario.from_dict(dict(BASE, edge={"cores": "two"}))


def test_run_takes_policy_objects_beside_names_and_matches_the_cli(tmp_path):
    sc = simoffload.Scenario.from_dict(BASE)
    obj = EdgeIfFast(threshold_Bps=1.5e6)
    res = simoffload.run(sc, policies=["local", obj, {"name": "edge", "label": "all-edge"}], seed=4)
    assert list(res.summary["policy"]) == ["local", "edge-if-fast", "all-edge"]
    t = res.tasks.set_index(["policy", "task_id"])
    # b1 is 2 MB/s > 1.5 MB/s: the object decides all-edge, so its tasks equal the built-in all-edge policy's
    np.testing.assert_array_equal(t.loc["edge-if-fast", "placement"].to_numpy(), ["1111"] * len(t.loc["all-edge"]))
    # ... and its tasks take as long, plus its declared decision cost: 1 operation at 1 cycle on a 3 GHz core,
    # behind at most the other device's decision (both devices' tasks arrive together)
    d = t.loc["edge-if-fast", "decision_s"].to_numpy()
    assert (d >= 1 / 3e9 * (1 - 1e-4)).all() and (d <= 2 / 3e9 * (1 + 1e-9)).all()
    np.testing.assert_allclose(t.loc["edge-if-fast", "latency_s"].to_numpy(), t.loc["all-edge", "latency_s"].to_numpy(),
                               rtol=0, atol=1e-9)
    # the same run through the command line writes the same tables
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(dict(BASE, policies=["local", "edge"])))
    assert main(["run", str(f), "--out", str(tmp_path / "cli"), "-q", "--no-plots"]) == 0
    api = simoffload.run(f, out=tmp_path / "api")
    for name in ("tasks", "subtasks", "links"):
        pd.testing.assert_frame_equal(getattr(simoffload.load_results(tmp_path / "cli"), name), getattr(api, name))
        assert (tmp_path / "cli" / f"{name}.parquet").read_bytes() == (tmp_path / "api" / f"{name}.parquet").read_bytes()
    with pytest.raises(UserError, match="duplicate"):
        simoffload.run(sc, policies=["local", "local"])


def test_sweep_from_python_with_a_policy_object():
    sc = simoffload.Scenario.from_dict(BASE)
    sw = simoffload.sweep(sc, grid={"devices.count": [1, 3]}, replicates=2, policies=["local", EdgeIfFast(threshold_Bps=1.5e6)])
    assert set(sw.summary["devices.count"]) == {1, 3} and set(sw.summary["replicate"]) == {0, 1}
    assert len(sw.summary) == 2 * 2 * 2  # points x replicates x policies
    # one point equals a direct run with that setting and seed
    direct = simoffload.run(sc.model_copy(update={"devices": sc.devices.model_copy(update={"count": 3})}),
                            policies=["local", EdgeIfFast(threshold_Bps=1.5e6)], seed=5)
    got = sw.summary[(sw.summary["devices.count"] == 3) & (sw.summary["replicate"] == 1)]
    np.testing.assert_allclose(got["mean_latency_s"].to_numpy(), direct.summary["mean_latency_s"].to_numpy(), rtol=1e-12)


PLUGIN = '''
import numpy as np
from simoffload import Policy


class Threshold(Policy):
    """All on the edge when the uplink estimate is above a threshold, else all on the device."""

    name = "threshold"

    def __init__(self, threshold_Bps: float = 1000000.0):
        self.threshold_Bps = threshold_Bps

    def decide(self, obs):
        return np.full(obs.graph.n, 1 if obs.b1_Bps > self.threshold_Bps else 0)

    def decision_ops(self, graph):
        return 1.0
'''


def test_a_policy_module_beside_the_scenario_runs_from_another_directory(tmp_path, monkeypatch, capsys):
    home = tmp_path / "study"
    home.mkdir()
    (home / "mythreshold.py").write_text(PLUGIN)
    pkg = home / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "rules.py").write_text("from .base import Threshold as Base\n\n\nclass Low(Base):\n    name = 'low'\n")
    (pkg / "base.py").write_text(PLUGIN)
    f = home / "s.yaml"
    f.write_text(yaml.safe_dump(dict(BASE, policies=[
        "edge", {"name": "mythreshold:Threshold", "params": {"threshold_Bps": 1500000.0}},
        {"name": "mypkg.rules:Low", "params": {"threshold_Bps": 3000000.0}}])))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    path_before, modules_before = list(sys.path), set(sys.modules)
    assert main(["run", str(f), "--out", "out", "-q", "--no-plots"]) == 0
    assert sys.path == path_before
    assert not {m for m in set(sys.modules) - modules_before if m.startswith(("mythreshold", "mypkg"))}
    r = simoffload.load_results("out")
    t = r.tasks.set_index(["policy", "task_id"])
    assert (t.loc["mythreshold:Threshold", "placement"] == "1111").all()  # 2 MB/s > 1.5 MB/s: edge
    assert (t.loc["mypkg.rules:Low", "placement"] == "0000").all()  # 2 MB/s < 3 MB/s: local
    np.testing.assert_allclose(t.loc["mythreshold:Threshold", "latency_s"], t.loc["edge", "latency_s"], rtol=0, atol=1e-9)
    # the listing says where each came from
    capsys.readouterr()
    assert main(["policies", str(f)]) == 0
    listing = capsys.readouterr().out
    line = next(x for x in listing.splitlines() if x.startswith("mythreshold:Threshold"))
    assert str((home / "mythreshold.py").resolve()) in line
    assert any(x.startswith("optimal") and "built-in" in x for x in listing.splitlines())
    # the class passes the conformance suite
    from simoffload.registry import resolve
    assert check_policy(resolve("mythreshold:Threshold", home), threshold_Bps=1.5e6)
    # the written record names the module's directory: it reruns from yet another directory
    rec = yaml.safe_load(Path("out/scenario.yaml").read_text())
    assert rec["policies"][1]["module_dir"] == str(home.resolve())
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(elsewhere / "out" / "scenario.yaml"), "--out", "again", "-q", "--no-plots"]) == 0
    assert (tmp_path / "again" / "tasks.parquet").read_bytes() == (elsewhere / "out" / "tasks.parquet").read_bytes()


def test_a_policy_from_an_installed_package_entry_point(tmp_path, monkeypatch, capsys):
    site = tmp_path / "site"
    (site / "fakeoffload-1.2.dist-info").mkdir(parents=True)
    (site / "fakeoffload-1.2.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeoffload\nVersion: 1.2\n")
    (site / "fakeoffload-1.2.dist-info" / "entry_points.txt").write_text(
        "[simoffload.policies]\nthreshold-ep = fakeoffload_policies:Threshold\n")
    (site / "fakeoffload_policies.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(site))  # stands for a package installed into site-packages
    from simoffload.registry import locate, registered

    assert registered()["threshold-ep"] == "fakeoffload_policies:Threshold"
    assert "fakeoffload" in locate("threshold-ep").origin
    res = simoffload.run(simoffload.Scenario.from_dict(dict(BASE, policies=["edge", "threshold-ep"])))
    t = res.tasks.set_index(["policy", "task_id"])
    # 2 MB/s > 1 MB/s: all on the edge, as fast as the built-in (plus a 1-operation decision)
    np.testing.assert_allclose(t.loc["threshold-ep", "latency_s"], t.loc["edge", "latency_s"], rtol=0, atol=1e-9)
    assert main(["policies"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("threshold-ep"))
    assert "entry point (fakeoffload 1.2)" in line


def test_unknown_plugin_module_is_one_line_naming_where_it_looked(tmp_path, capsys):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(dict(BASE, policies=["nosuchmod:X"])))
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "policies.0.name" in err and "nosuchmod" in err and str(tmp_path) in err


def test_meta_json_records_versions_threads_and_input_hashes(tmp_path):
    trace = tmp_path / "flat.txt"
    trace.write_text("".join(f"{t}\t16\n" for t in range(0, 3000, 10)))
    (tmp_path / "mythreshold.py").write_text(PLUGIN)
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(dict(BASE, network={"wireless": {"up": {"trace": {"file": "flat.txt", "format": "pensieve"}}},
                                                   "wan": {"up": "3 MB/s"}},
                                     policies=["local", "mythreshold:Threshold"])))
    simoffload.run(f, out=tmp_path / "out")
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["software"]["simoffload"] == simoffload.__version__
    if (ROOT / ".git").exists():
        sha = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
        assert meta["software"]["git"]["commit"] == sha
    env = meta["environment"]
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["packages"]["numpy"] == np.__version__ and env["packages"]["pandas"] == pd.__version__
    assert "OMP_NUM_THREADS" in env["threads"] and env["platform"]
    for path in (f, trace, tmp_path / "mythreshold.py"):  # the scenario, its trace, the plug-in beside it
        assert meta["inputs"][str(path.resolve())] == hashlib.sha256(path.read_bytes()).hexdigest()
    static = ROOT / "policies" / "static.py"  # the built-in policy's source
    assert meta["inputs"][str(static.resolve())] == hashlib.sha256(static.read_bytes()).hexdigest()
