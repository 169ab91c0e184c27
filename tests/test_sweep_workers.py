"""A SIGKILLed ``sweep --jobs 2`` leaves no worker process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCENARIO = """
name: k
seed: 3
horizon: 2 h
devices: {count: 10, arrivals: {poisson: {rate: 0.05 /s}}}
network: {wireless: {up: {gauss_markov: {mean: 1 MB/s, std: 0.3 MB/s, tau_s: 5}}}}
policies: [local, edge, random, optimal]
sweep:
  grid:
    devices.count: [10, 11, 12, 13, 14, 15, 16, 17]
"""


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            st = f.read()
    except OSError:
        return None
    return st[st.rindex(")") + 2:].split()


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def _descendants(root: int) -> set[int]:
    ppid = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st is not None:
                ppid[int(d)] = int(st[1])
    out, frontier = set(), {root}
    while frontier:
        kids = {p for p, pp in ppid.items() if pp in frontier and p not in out}
        out |= kids
        frontier = kids
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("after_s", [0.0, 2.0])
def test_no_worker_outlives_a_sigkilled_sweep(tmp_path: Path, after_s: float) -> None:
    (tmp_path / "s.yaml").write_text(SCENARIO, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "simoffload", "sweep", "s.yaml", "--out", "o", "--jobs", "2",
                             "-q", "--no-plots"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        while True:  # until both loky workers exist (after_s = 0: they may still be importing)
            seen |= _descendants(proc.pid)
            workers = [p for p in seen if _alive(p) and "loky" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")
                       and "popen_loky" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")]
            if len(workers) >= 2:
                break
            assert proc.poll() is None and time.monotonic() < deadline, "no workers appeared"
            time.sleep(0.05)
        time.sleep(after_s)
        seen |= _descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in seen) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = sorted(p for p in seen if _alive(p))
    finally:
        for p in seen:  # only the processes this test started
            if _alive(p):
                os.kill(p, signal.SIGKILL)
    assert left == [], f"still running 10 s after the sweep was killed: {left}"
