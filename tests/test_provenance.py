"""Which files a run reads, and sweeps that rerun a point when one of them changes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from simoffload.cli import main as cli_main
from simoffload.config import load_scenario
from simoffload.experiments.sweep import load_sweep, run_sweep
from simoffload.sim.provenance import changed_inputs, hash_files, input_files, provenance

PLUGIN = '''
import numpy as np
from simoffload.policy import Policy

class AllEdge(Policy):
    name = "all-edge-plugin"
    def decide(self, obs):
        return np.full(obs.graph.n, {place})
    def decision_ops(self, graph):
        return 0.0
'''

SCENARIO = """
name: prov
seed: 5
horizon: 3 min
task: {{subtasks: 3, distribution: {{cycles: 1e8, bytes: 2 MB}}}}
devices: {{count: 1, cpu: 1 GHz, arrivals: {{periodic: {{interval: 20 s}}}}}}
edge: {{cores: 1, cpu: 10 GHz}}
network:
  wireless: {{up: {{trace: {{file: traces/link.txt, format: pensieve}}}}}}
  wan: {{up: 1 MB/s}}
policies: [edge, {{name: "{plugin}"}}]
sweep:
  grid:
    edge.cores: [1, 2]
"""


def _trace(mbit_s: float) -> str:
    return "".join(f"{t} {mbit_s}\n" for t in range(0, 11))


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # a package name of its own per test: an imported module stays in sys.modules
    name = "plugpkg_" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:10]
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "pol.py").write_text(PLUGIN.format(place=1), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "link.txt").write_text(_trace(8.0), encoding="utf-8")  # 1 MB/s
    sc = tmp_path / "s.yaml"
    sc.write_text(SCENARIO.format(plugin=f"{name}.pol:AllEdge"), encoding="utf-8")
    return tmp_path, sc, pkg


def test_input_files_names_traces_weights_and_policy_modules(setup, tmp_path: Path) -> None:
    root, sc_path, pkg = setup
    weights = root / "model.pt"
    weights.write_bytes(b"not really a model")
    sc = load_scenario(sc_path)
    data = sc.model_dump(mode="json", exclude={"base_dir"})
    data["policies"].append({"name": "edge", "params": {"weights": str(weights)}, "label": "w"})
    files = input_files(data, base_dir=sc.base_dir)
    expected = {(root / "traces" / "link.txt").resolve(), weights.resolve(), (pkg / "pol.py").resolve()}
    assert expected <= set(files)
    # the rest are the built-in policy modules the scenario names (here: edge -> policies/static.py)
    assert {p.name for p in set(files) - expected} == {"static.py"}
    digests = hash_files(files)
    assert digests[str((root / "traces" / "link.txt").resolve())] == hashlib.sha256(_trace(8.0).encode()).hexdigest()


def test_changed_inputs_phrases() -> None:
    old = {"simoffload": "0.1.0", "inputs": {"/a/trace.csv": "1", "/a/m.pt": "2"}}
    assert changed_inputs(old, old) == []
    new = {"simoffload": "0.2.0", "inputs": {"/a/trace.csv": "9", "/a/p.py": "3"}}
    assert changed_inputs(old, new) == ["simoffload version 0.1.0 -> 0.2.0", "input m.pt no longer read",
                                        "input p.py added", "input trace.csv changed"]
    assert changed_inputs(None, new) == ["no input record"]


def _mean_edge_latency(d: Path) -> float:
    t = load_sweep(d).tasks
    return float(t[t.policy == "edge"].latency_s.mean())


def test_changed_trace_reruns_its_points_and_says_so(setup, capsys: pytest.CaptureFixture) -> None:
    root, sc, pkg = setup
    out = root / "out"
    assert cli_main(["sweep", str(sc), "--out", str(out), "--no-plots", "-q"]) == 0
    fast = _mean_edge_latency(out)
    # by hand: 2 MB up at 1 MB/s, 3 x 1e8 cycles at 10 GHz, 2 MB down: 4.03 s per task, the system idle
    assert fast == pytest.approx(4.03, rel=1e-9)
    capsys.readouterr()

    (root / "traces" / "link.txt").write_text(_trace(0.8), encoding="utf-8")  # 10x slower: 0.1 MB/s
    assert cli_main(["sweep", str(sc), "--out", str(out), "--no-plots", "-q"]) == 0
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.splitlines() if "rerunning" in ln]
    assert len(lines) == 2 and all(ln.endswith(": input link.txt changed, rerunning") for ln in lines)
    assert "(0 already finished, 2 run now)" in cap.out
    # 40 s per task at 0.1 MB/s + 0.03 s: tasks every 20 s queue on the link, so well above 40.03 s
    slow = _mean_edge_latency(out)
    assert slow >= 40.03
    fresh = root / "fresh"
    assert cli_main(["sweep", str(sc), "--out", str(fresh), "--no-plots", "-q"]) == 0
    pd.testing.assert_frame_equal(load_sweep(out).tasks.drop(columns="wall_s", errors="ignore"),
                                  load_sweep(fresh).tasks.drop(columns="wall_s", errors="ignore"))
    for name in ("tasks.parquet", "summary.parquet"):  # same inputs and seeds: the same bytes
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name
    meta = json.loads((out / "sweep.json").read_text(encoding="utf-8"))
    assert meta["inputs"][str((root / "traces" / "link.txt").resolve())] == \
        hashlib.sha256(_trace(0.8).encode()).hexdigest()

    capsys.readouterr()
    assert cli_main(["sweep", str(sc), "--out", str(out), "--no-plots", "-q"]) == 0
    cap = capsys.readouterr()
    assert "rerunning" not in cap.err and "(2 already finished, 0 run now)" in cap.out


def test_changed_plugin_policy_module_reruns(setup) -> None:
    root, sc, pkg = setup
    msgs: list[str] = []
    oc = run_sweep(sc, root / "out", progress=False, notify=msgs.append)
    assert oc.ran == 2 and not msgs
    (pkg / "pol.py").write_text(PLUGIN.format(place=1) + "\n# edited\n", encoding="utf-8")
    oc = run_sweep(sc, root / "out", progress=False, notify=msgs.append)
    assert oc.ran == 2 and oc.skipped == 0
    assert len(msgs) == 2 and all("input pol.py changed" in m for m in msgs)


def test_directory_without_input_records_reruns(setup) -> None:
    root, sc, pkg = setup
    run_sweep(sc, root / "out", progress=False)
    for f in (root / "out" / "points").glob("*.inputs.json"):
        f.unlink()
    msgs: list[str] = []
    oc = run_sweep(sc, root / "out", progress=False, notify=msgs.append)
    assert oc.ran == 2 and all(m.endswith("no input record, rerunning") for m in msgs)


def test_provenance_record_has_version() -> None:
    import simoffload

    rec = provenance({"policies": ["local"]})
    assert rec["simoffload"] == simoffload.__version__
    assert [Path(p).name for p in rec["inputs"]] == ["static.py"]


HELPED = '''
import json
import numpy as np
from simoffload.policy import Policy
from .helper import PLACE

class Helped(Policy):
    name = "helped-plugin"
    def decide(self, obs):
        from .lazy import offset  # imported inside a function: found all the same
        return np.full(obs.graph.n, PLACE + offset())
    def decision_ops(self, graph):
        return 0.0
'''


@pytest.fixture
def helped(tmp_path: Path):
    """A plug-in package beside the scenario whose module imports helpers beside it (one of them through another)."""
    name = "helppkg_" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:10]
    pkg = tmp_path / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "pol.py").write_text(HELPED, encoding="utf-8")
    (pkg / "helper.py").write_text("from . import deep\nPLACE = 1 + deep.ZERO\n", encoding="utf-8")
    (pkg / "deep.py").write_text("ZERO = 0\n", encoding="utf-8")
    (pkg / "lazy.py").write_text("def offset():\n    return 0\n", encoding="utf-8")
    (pkg / "unrelated.py").write_text("X = 1\n", encoding="utf-8")  # beside it, never imported
    (tmp_path / "traces").mkdir()
    (tmp_path / "traces" / "link.txt").write_text(_trace(8.0), encoding="utf-8")
    sc = tmp_path / "s.yaml"
    sc.write_text(SCENARIO.format(plugin=f"{name}.pol:Helped"), encoding="utf-8")
    return tmp_path, sc, pkg


def test_local_imports_follow_a_plugins_helpers_and_nothing_else(helped) -> None:
    from simoffload.sim.provenance import local_imports

    root, _, pkg = helped
    want = sorted(p.resolve() for p in (pkg / "__init__.py", pkg / "helper.py", pkg / "deep.py", pkg / "lazy.py"))
    assert local_imports(pkg / "pol.py", root) == want  # json, numpy, simoffload: not under root; unrelated: not imported
    assert local_imports(pkg / "deep.py", root) == []


def test_editing_a_helper_module_beside_a_plugin_reruns_its_points(helped) -> None:
    from simoffload._records import input_files as run_inputs

    root, sc, pkg = helped
    assert (pkg / "deep.py").resolve() in set(run_inputs(load_scenario(sc)))  # meta.json of a run lists it
    msgs: list[str] = []
    assert run_sweep(sc, root / "out", progress=False, notify=msgs.append).ran == 2
    oc = run_sweep(sc, root / "out", progress=False, notify=msgs.append)
    assert oc.skipped == 2 and oc.ran == 0 and not msgs
    (pkg / "deep.py").write_text("ZERO = 0  # edited\n", encoding="utf-8")  # reached only through helper.py
    oc = run_sweep(sc, root / "out", progress=False, notify=msgs.append)
    assert oc.ran == 2 and oc.skipped == 0
    assert len(msgs) == 2 and all("input deep.py changed" in m for m in msgs), msgs
    (pkg / "unrelated.py").write_text("X = 2\n", encoding="utf-8")  # not imported: nothing reruns
    assert run_sweep(sc, root / "out", progress=False, notify=msgs.append).skipped == 2
