"""The memory rule: a big workload is refused only when the memory it would hold does not fit.

Expected bytes are worked out here from the model's per-item sizes (``MEMORY_MODEL``) and
the scenario by hand, not from the estimate's own output; the sizes themselves are
measured by ``analysis/bench_memory.py``.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from simoffload import limits
from simoffload.config import parse_scenario
from simoffload.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
M = limits.MEMORY_MODEL


def scenario(**over):
    data = {"name": "m", "task": {"subtasks": 6}, "devices": {"count": 10}, "policies": ["local", "edge"]}
    data.update(over)
    return data


def test_estimate_by_hand_for_each_record_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMOFFLOAD_LIMIT_MEMORY_BYTES", str(10**15))
    # 10 devices x one task a minute (the default periodic arrivals) x 3600 s = 600 tasks, 6 subtasks, 2 policies
    base = M["base"] + 10 * M["device"]
    off = {"subtasks": False, "links": False, "queues": False}
    sc = parse_scenario(scenario(output={"record": off}))
    assert limits.memory_estimate(sc)[0] == pytest.approx(base + 600 * (M["task"] + 2 * M["task_row"]))
    sc = parse_scenario(scenario(output={"record": dict(off, subtasks=True)}))
    assert limits.memory_estimate(sc)[0] == pytest.approx(
        base + 600 * (M["task"] + 2 * (M["task_row"] + 6 * M["subtask_row"])))
    # links: upload + download; queues add 4 flow rows and 2 queue rows for each of the 6 subtasks: 2 + 4 + 12 = 18
    sc = parse_scenario(scenario(output={"record": dict(off, links=True)}))
    assert limits.memory_estimate(sc)[0] == pytest.approx(base + 600 * (M["task"] + 2 * (M["task_row"] + 2 * M["link_row"])))
    sc = parse_scenario(scenario())  # every record on (the default)
    assert limits.memory_estimate(sc)[0] == pytest.approx(
        base + 600 * (M["task"] + 2 * (M["task_row"] + 6 * M["subtask_row"] + 18 * M["link_row"])))


def test_100k_devices_on_the_default_hour_is_a_question_of_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """6,000,000 tasks: valid when the streamed run fits; a run holding its records in memory is checked when it starts."""
    from simoffload.sim.scenario import run_scenario

    big = {"name": "big", "devices": {"count": 100_000}}  # default: 1 h, a task a minute, 6 subtasks, 4 policies
    # streamed (simoffload run): rows on disk; 6M tasks > CACHE_TASKS and 60 a device < BLOCK: every task held
    streamed_bytes = M["base"] + 100_000 * M["device"] + M["stream_buffers"] + 6_000_000 * M["task"]
    full_bytes = (M["base"] + 100_000 * M["device"]
                  + 6_000_000 * (M["task"] + 4 * (M["task_row"] + 6 * M["subtask_row"] + 18 * M["link_row"])))
    monkeypatch.setenv("SIMOFFLOAD_LIMIT_MEMORY_BYTES", str(int(streamed_bytes) + 1))
    sc = parse_scenario(dict(big))  # fits when streamed: accepted (the task count alone refused it before)
    assert limits.expected_tasks(sc) == 6_000_000
    assert limits.memory_estimate(sc, streamed=True)[0] == pytest.approx(streamed_bytes)
    # the same scenario run through the API keeps every record of 4 policies: refused before anything is drawn
    with pytest.raises(UserError) as exc:
        run_scenario(sc)
    msg = str(exc.value)
    assert msg.startswith("<scenario>:1: devices.arrivals.periodic: expected memory (records kept in memory; 6e+06 tasks x (")
    assert f"about {full_bytes / 1e9:.3g} GB, above the limit of {streamed_bytes / 1e9:.3g} GB" in msg
    assert "'simoffload run' (it streams records to disk)" in msg
    assert "SIMOFFLOAD_LIMIT_MEMORY_BYTES=N" in msg and "limits: {memory_bytes: N}" in msg
    sc = parse_scenario(dict(big, limits={"memory_bytes": int(full_bytes) + 1}))  # the scenario may raise it
    limits.check_in_memory(sc)
    monkeypatch.setenv("SIMOFFLOAD_LIMIT_MEMORY_BYTES", str(int(streamed_bytes) - 1))
    with pytest.raises(UserError, match=r"expected memory \(records streamed to disk; 6e\+06 of 6e\+06 tasks"):
        parse_scenario(dict(big))


def test_streamed_run_holds_one_block_per_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """20 devices x a task every 10 ms for an hour = 7.2M tasks; streamed, each device holds one block of 4096."""
    from simoffload.sim.workload import BLOCK

    monkeypatch.setenv("SIMOFFLOAD_LIMIT_MEMORY_BYTES", str(10**15))
    sc = parse_scenario({"name": "long", "devices": {"count": 20, "arrivals": {"periodic": {"interval": 0.01}}},
                         "policies": ["edge"]})
    assert limits.expected_tasks(sc) == pytest.approx(7_200_000)
    assert BLOCK == 4096
    want = M["base"] + 20 * M["device"] + M["stream_buffers"] + 20 * 4096 * M["task"]
    assert limits.memory_estimate(sc, streamed=True)[0] == pytest.approx(want)
    # a small workload is kept whole for the next policy
    sc = parse_scenario(scenario())
    assert limits.memory_estimate(sc, streamed=True)[0] == pytest.approx(
        M["base"] + 10 * M["device"] + M["stream_buffers"] + 600 * M["task"])


def test_default_budget_is_a_share_of_physical_memory_or_of_ulimit_v() -> None:
    """Under ``ulimit -v`` of 4 GiB: 0.8 x (4 GiB - 1.5 GiB of virtual overhead) = exactly 2 GiB."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, resource.RLIM_INFINITY))

    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMOFFLOAD_LIMIT_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    code = "from simoffload import limits; print(limits.DEFAULTS['memory_bytes'], limits.current().memory_bytes)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, preexec_fn=cap,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    phys = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    want = 2 * 2**30 if phys >= 2.5 * 2**30 else int(0.8 * phys)
    assert out.stdout.split() == [str(want), str(want)]
    # without a ulimit: 80 % of physical memory
    assert limits.usable_memory_bytes() <= phys


def test_memory_limit_refusal_is_one_line_from_the_cli(tmp_path: Path, capsys, monkeypatch) -> None:
    from simoffload.cli import main

    monkeypatch.setenv("SIMOFFLOAD_LIMIT_MEMORY_BYTES", str(10**9))
    f = tmp_path / "s.yaml"
    f.write_text("name: s\ndevices:\n  count: 100000  # 6M tasks\n", encoding="utf-8")
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {f}:2: devices.arrivals.periodic: expected memory")
