"""Every benchmark script runs in its quick mode and writes its results (numbers are not asserted: timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> str:
    r = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def test_bench_engine_quick():
    out = run("analysis/bench_engine.py", "--quick")
    res = json.loads((ROOT / "analysis/results/bench_engine_quick.json").read_text())
    assert set(res["throughput"]) == {"local", "edge", "cloud"}
    assert all(r["engine_tasks_per_s"] > 0 for r in res["throughput"].values())
    assert "ratio" in out


def test_bench_channels_quick():
    run("analysis/bench_channels.py", "--quick")
    res = json.loads((ROOT / "analysis/results/bench_channels_quick.json").read_text())
    assert res["constant"]["tasks"] == res["fluctuating"]["tasks"] > 0


def test_bench_decisions_and_labels_quick(tmp_path):
    run("analysis/bench_decisions.py", "--quick", "--out", str(tmp_path / "d.json"))
    res = json.loads((tmp_path / "d.json").read_text())
    assert res["policies"]["greedy"]["single_norm"] == pytest.approx(1.0)
    run("analysis/bench_labels.py", "--quick", "--out", str(tmp_path / "l.json"))
    assert json.loads((tmp_path / "l.json").read_text())["chains"]["labels_per_s"] > 0


def test_bench_split_quick(tmp_path):
    out = run("analysis/bench_split.py", "--quick", "--out", str(tmp_path / "s.json"))
    res = json.loads((tmp_path / "s.json").read_text())
    assert res["tables_identical"] is True and res["tasks_per_policy"] > 0
    assert "speed-up" in out


def test_bench_memory_quick(tmp_path):
    run("analysis/bench_memory.py", "--quick", "--out", str(tmp_path / "m.json"))
    res = json.loads((tmp_path / "m.json").read_text())
    assert set(res["configs"]) == {"off-1", "off-2", "on-local", "on-edge", "devices"}
    assert all(len(c["peak_bytes"]) == 2 and min(c["peak_bytes"]) > 0 for c in res["configs"].values())


def test_bench_scale_quick(tmp_path):
    # the quick mode's sizes (10K, 100K) take about a minute on a busy machine; the test runs smaller ones
    # (2000 tasks twice with records on and off, best kept; 6000 with records on only, once)
    out = run("analysis/bench_scale.py", "--quick", "--sizes", "2000", "6000", "--off-up-to", "2000",
              "--repeats", "2", "--out", str(tmp_path / "s.json"))
    res = json.loads((tmp_path / "s.json").read_text())
    on = [p for p in res["points"] if p["records"]]
    assert [p["tasks"] for p in on] == [2000, 6000] and all(p["rows"]["tasks"] == p["tasks"] for p in on)
    assert all(p["rows"]["subtasks"] == 6 * p["tasks"] for p in on)  # every subtask of the all-edge 6-chain
    assert [(p["tasks"], p["records"], p["runs"]) for p in res["points"]] == [(2000, True, 2), (2000, False, 2),
                                                                               (6000, True, 1)]
    assert len(res["runs"]) == 5
    for p in res["points"]:  # the best of its runs: the fastest wall time, the least CPU time
        mine = [r for r in res["runs"] if (r["tasks"], r["records"]) == (p["tasks"], p["records"])]
        assert p["tasks_per_s"] == max(r["tasks_per_s"] for r in mine) and p["cpu_s"] == min(r["cpu_s"] for r in mine)
    assert set(res["on_over_off"]) == {"2000"} and "throughput ratio" in out


def test_bench_traces_quick(tmp_path):
    # a 100K-line trace (the measured ATT-LTE-driving.down once) and a 15-minute path: whole vs chunked tables
    # and 20K latency rows, a 12-minute mobility trace of 20 devices: whole vs streamed tables
    run("analysis/bench_traces.py", "--quick", "--lines", "100000", "--path-hours", "0.25",
        "--latency-rows", "20000", "--mobility-hours", "0.2", "--out", str(tmp_path / "t.json"))
    res = json.loads((tmp_path / "t.json").read_text())
    assert res["trace"]["identical_tables"] and res["stochastic"]["identical_tables"]
    assert res["latency"]["identical_tables"] and res["mobility"]["identical_tables"]
    assert res["trace"]["lines"] == 338895 and res["stochastic"]["steps"] == 90001
    assert res["latency"]["rows"] == 20000 and res["mobility"]["rows"] == 721 * 20
    assert res["stochastic"]["build"]["steps"] == 90000 and res["stochastic"]["build"]["build_s"] > 0
