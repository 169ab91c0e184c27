"""The worked example in examples/ runs (quick mode) and its numbers obey what the model implies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def test_custom_policy_sweep_example(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), MPLBACKEND="Agg")
    out = tmp_path / "ex"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "custom_policy_sweep.py"), "--out", str(out), "--quick"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (out / "latency_vs_bandwidth.png").stat().st_size > 10_000
    t = pd.read_csv(out / "summary.csv", index_col=0)
    assert list(t.index) == [0.25, 1.0, 4.0]
    assert set(t.columns) == {"local", "edge", "greedy", "optimal", "all-or-nothing"}
    # all-local never touches the wireless link: the same latency at every bandwidth
    assert t["local"].nunique() == 1
    # one device, a task a minute: each task meets an idle system, so the exact optimum is best at every point
    others = t.drop(columns="optimal")
    assert (t["optimal"].to_numpy()[:, None] <= others.to_numpy() + 1e-9).all()
    # all-edge ships every input and output over the link: strictly faster as the link gets faster
    assert t["edge"].is_monotonic_decreasing and t["edge"].iloc[0] > 3 * t["edge"].iloc[-1]
