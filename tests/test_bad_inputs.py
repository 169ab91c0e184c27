"""The bad-input corpus: every bad file gives exit 2 and ONE line ``error: FILE:LINE: field: message``.

``tests/bad_inputs/bad/`` holds scenario files (and the trace files they name)
that must be refused by ``simoffload validate`` and by ``simoffload run``, each
with one line naming the file, the line and the field; ``good/`` holds valid
edge cases that must run. The files are written by ``tests/bad_inputs/generate.py``
(see its docstring for the ``# <-``, ``# expect:`` and ``# expect-file:`` marks);
model files are binary and made here.

Most cases run in-process (fast); a few of the resource-hungry ones run in a
subprocess with a 4 GB address-space limit and a timeout, as an outside prober would.
"""

from __future__ import annotations

import io
import re
import resource
import shutil
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from simoffload.cli import main

CORPUS = Path(__file__).parent / "bad_inputs"
BAD = sorted(p.name for p in (CORPUS / "bad").iterdir() if p.is_file() and p.suffix == ".yaml")
GOOD = sorted(p.name for p in (CORPUS / "good").iterdir() if p.is_file() and p.suffix == ".yaml")
LINE_RE = re.compile(r"^error: (?P<file>[^:\n]+):(?P<line>\d+): (?P<field>[^:\n]+): (?P<msg>.+)$")


def _make_models(d: Path) -> None:
    """Bad model files: corrupt, random bytes, truncated, empty, NaN weights (forged checksum), wrong shapes, other policy."""
    import torch

    from simoffload.learn.io import save_model
    from simoffload.learn.nets import FEATURES, layer_sizes, n_features

    d.mkdir()
    sizes = layer_sizes(n_features(6, 7), [8], 18)
    g = torch.Generator().manual_seed(0)

    def sd(sz: list[int]) -> dict:
        out = {}
        for i, (a, b) in enumerate(zip(sz[:-1], sz[1:])):
            out[f"net.{2 * i}.weight"] = torch.randn(b, a, generator=g)
            out[f"net.{2 * i}.bias"] = torch.randn(b, generator=g)
        return out

    common = dict(params={"n": 6, "hidden": [8]}, config={}, n=6, features=FEATURES,
                  scaler_mean=np.zeros(sizes[0]), scaler_scale=np.ones(sizes[0]), meta={})
    save_model(d / "good.pt", policy="large-dil", sizes=sizes, state_dict=sd(sizes), **common)
    good = (d / "good.pt").read_bytes()
    (d / "corrupt.pt").write_bytes(good[:-200] + bytes(b ^ 0xFF for b in good[-200:-100]) + good[-100:])
    (d / "truncated.pt").write_bytes(good[: len(good) // 2])
    (d / "random.pt").write_bytes(np.random.default_rng(0).bytes(4096))
    (d / "empty.pt").write_bytes(b"")
    bad_sd = sd(sizes)
    bad_sd["net.0.weight"][0, 0] = float("nan")
    save_model(d / "nan.pt", policy="large-dil", sizes=sizes, state_dict=bad_sd, **common)
    save_model(d / "shape.pt", policy="large-dil", sizes=sizes, state_dict=sd([3, 8, 18]), **common)
    save_model(d / "dqn.pt", policy="dqn", sizes=sizes, state_dict=sd(sizes), **common)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    shutil.copytree(CORPUS / "bad", root / "bad")
    shutil.copytree(CORPUS / "good", root / "good")
    _make_models(root / "bad" / "models")
    return root


def _cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            rc = main(args)
        except SystemExit as exc:  # argparse
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def _expectations(path: Path) -> tuple[int | None, str | None, str | None]:
    raw = path.read_bytes().decode("utf-8", errors="replace")
    lines = raw.split("\n")
    marked = [i + 1 for i, ln in enumerate(lines) if ln.rstrip("\r").endswith("# <-")]
    expect = re.search(r"^# expect: (.+)$", raw, re.M)
    efile = re.search(r"^# expect-file: (.+)$", raw, re.M)
    return (marked[0] if marked else None, expect.group(1).strip() if expect else None,
            efile.group(1).strip() if efile else None)


def _check_line(path: Path, rc: int, err: str) -> None:
    assert rc == 2, f"exit {rc}, stderr {err[:300]!r}"
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, f"{len(lines)} lines: {err[:500]!r}"
    line = lines[0]
    assert len(line) < 1000, line[:300]
    m = LINE_RE.match(line)
    assert m, line
    assert line.count("(got ") <= 1, line
    marked, expect, efile = _expectations(path)
    if efile:
        name, _, ln = efile.rpartition(":")
        assert m["file"].endswith(name) and m["line"] == ln, (line, efile)
        assert str(path.name) in line  # and the scenario that named the trace
    else:
        assert Path(m["file"]).name == path.name, line
        if marked is not None:
            assert int(m["line"]) == marked, (line, marked)
    if expect:
        assert expect in line, (line, expect)


@pytest.mark.parametrize("name", BAD)
def test_bad_input_validate(corpus: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(corpus / "bad")
    rc, _, err = _cli(["validate", name])
    _check_line(corpus / "bad" / name, rc, err)


@pytest.mark.parametrize("name", BAD)
def test_bad_input_run(corpus: Path, name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if "# validate-only" in (corpus / "bad" / name).read_text(encoding="utf-8", errors="replace"):
        pytest.skip("run ignores the sweep section; validate refuses the bad sweep point")
    monkeypatch.chdir(corpus / "bad")
    rc, _, err = _cli(["run", name, "--out", str(tmp_path / "out"), "--no-progress", "--no-plots"])
    _check_line(corpus / "bad" / name, rc, err)


@pytest.mark.parametrize("name", GOOD)
def test_valid_edge_case_runs(corpus: Path, name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(corpus / "good")
    if name != "many_devices.yaml":  # 100,000 devices: drawing them takes a while; run alone checks them too
        rc, out, err = _cli(["validate", name])
        assert rc == 0, err
    rc, out, err = _cli(["run", name, "--out", str(tmp_path / "out"), "--no-progress", "--no-plots"])
    assert rc == 0, err
    assert (tmp_path / "out" / "meta.json").exists()


def _limit_memory() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))


@pytest.mark.parametrize("command,name", [
    ("validate", "alias_bomb_sweep.yaml"), ("run", "alias_bomb_params.yaml"), ("run", "poisson_horizon_huge.yaml"),
    ("validate", "sweep_replicates_huge.yaml"), ("run", "gilbert_dwell_tiny.yaml"), ("validate", "deep_flow.yaml")])
def test_bad_input_subprocess_bounded(corpus: Path, name: str, command: str, tmp_path: Path) -> None:
    """As a prober sees it: a separate process, 4 GB of address space, a time limit."""
    args = [sys.executable, "-m", "simoffload", command, name]
    if command == "run":
        args += ["--out", str(tmp_path / "out"), "--no-progress"]
    proc = subprocess.run(args, cwd=corpus / "bad", capture_output=True, text=True, timeout=60,
                          preexec_fn=_limit_memory, env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    _check_line(corpus / "bad" / name, proc.returncode, proc.stderr)


def test_sparse_mahimahi_is_small_and_fast(corpus: Path) -> None:
    """A 12-byte Mahimahi file spanning 23 days is held as its samples, not 2e9 one-ms bins."""
    from simoffload.net.traces import clear_cache, load_trace

    clear_cache()
    m = load_trace(corpus / "good" / "traces" / "sparse.mahimahi", "mahimahi")
    assert m.period == pytest.approx(2_000_000.0)
    assert len(m.rates) <= 4
    # two packets of 1500 B: one in [0, 1) ms (stamp 1), one in [1999999999, 2e9) ms
    assert m.cumulative(0.001) == pytest.approx(1500.0)
    assert m.cumulative(1000.0) == pytest.approx(1500.0)
    assert m.cumulative(2_000_000.0) == pytest.approx(3000.0)
