"""Training: a deliberate torch thread count, the same weights whatever it is, and a notice before training."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from simoffload.cli import main
from simoffload.errors import UserError
from simoffload.learn.nets import torch_threads

ROOT = Path(__file__).resolve().parents[1]

TRAIN = """
import hashlib, sys, torch
from policies.dil import KDDILPolicy, LargeDILPolicy
teacher = LargeDILPolicy(samples=2000, hidden=[64, 64], epochs=2, val_fraction=0.5, batch_size=256, progress=False).fit()
student = KDDILPolicy(samples=300, hidden=[16, 16], epochs=6, batch_size=32, progress=False)
student.teacher_ = teacher
student.fit()
h = hashlib.sha256()
for pol in (teacher, student):
    for k, v in sorted(pol.state_dict_.items()):
        h.update(k.encode()); h.update(v.numpy().tobytes())
print(h.hexdigest(), torch.get_num_threads(), sep=" ")
"""


def _train_in_subprocess(threads: int, tmp_path: Path) -> str:
    env = dict(os.environ, SIMOFFLOAD_TORCH_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), SIMOFFLOAD_CACHE=str(tmp_path / f"cache{threads}"),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", TRAIN], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_same_seed_same_weights_with_one_and_two_threads(tmp_path):
    one = _train_in_subprocess(1, tmp_path)
    two = _train_in_subprocess(2, tmp_path)
    assert one.split()[0] == two.split()[0]  # teacher and distilled student, bit for bit
    assert len(one.split()[0]) == 64


def test_thread_setting_default_and_bad_values(monkeypatch):
    monkeypatch.delenv("SIMOFFLOAD_TORCH_THREADS", raising=False)
    assert torch_threads() == 1
    monkeypatch.setenv("SIMOFFLOAD_TORCH_THREADS", "3")
    assert torch_threads() == 3
    for bad in ("0", "-2", "two"):
        monkeypatch.setenv("SIMOFFLOAD_TORCH_THREADS", bad)
        with pytest.raises(UserError, match="SIMOFFLOAD_TORCH_THREADS"):
            torch_threads()


def test_training_uses_the_setting_and_restores_torch(monkeypatch):
    import torch

    from simoffload.learn import nets

    seen = []

    class Stop(Exception):
        pass

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        raise Stop

    monkeypatch.setattr(nets, "_train", spy)
    before = torch.get_num_threads()
    monkeypatch.setenv("SIMOFFLOAD_TORCH_THREADS", "2")
    from policies.dil import BaselineDILPolicy

    with pytest.raises(Stop):
        BaselineDILPolicy(samples=100, epochs=1, progress=False).fit()
    assert seen == [2] and torch.get_num_threads() == before


def test_a_run_announces_models_it_must_train_before_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SIMOFFLOAD_CACHE", str(tmp_path / "fresh-cache"))
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump({"name": "n", "horizon": "5 min", "policies": [
        "local", {"name": "baseline-dil", "params": {"samples": 200, "epochs": 2, "hidden": [8], "progress": False}}]}))
    assert main(["run", str(f), "--out", str(tmp_path / "a"), "--no-plots"]) == 0
    err = capsys.readouterr().err
    assert "will be trained first" in err and "baseline-dil (200 paper-5.2 samples, up to 2 epochs" in err
    assert main(["run", str(f), "--out", str(tmp_path / "b"), "--no-plots"]) == 0
    assert "trained" not in capsys.readouterr().err  # cached now: nothing to announce
    monkeypatch.setenv("SIMOFFLOAD_CACHE", str(tmp_path / "another-cache"))
    assert main(["run", str(f), "--out", str(tmp_path / "c"), "--no-plots", "-q"]) == 0
    assert "trained" not in capsys.readouterr().err  # -q: no notices


def test_the_estimate_scales_with_the_work():
    from policies.dil import LargeDILPolicy

    small = LargeDILPolicy(samples=10_000, epochs=10).estimate_training_s()
    assert LargeDILPolicy(samples=20_000, epochs=10).estimate_training_s() == pytest.approx(2 * small, rel=0.01)
    assert LargeDILPolicy(samples=10_000, epochs=20).estimate_training_s() == pytest.approx(2 * small, rel=1e-9)
    # the paper's teacher: 90K training samples x 30 epochs x 274,432 multiply-adds x 3, at 1.6e10/s: about 2.3 min
    assert LargeDILPolicy().estimate_training_s() == pytest.approx(30 * (90_000 * 274_432 * 3 / 1.6e10 + 176 * 1e-3), rel=1e-6)


def _train_cli(args: list[str], env_threads: str | None, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SIMOFFLOAD_TORCH_THREADS"}
    if env_threads is not None:
        env["SIMOFFLOAD_TORCH_THREADS"] = env_threads
    env.update(SIMOFFLOAD_CACHE=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "simoffload", "-q", "train", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=600)


def test_train_threads_flag_sets_torch_threads_in_the_training_process(tmp_path):
    """``train --threads 3`` trains with torch.get_num_threads() == 3 (the model file records what torch had),
    over a variable saying 2; without the flag the variable (2) holds; with neither, 1."""
    from simoffload.learn.io import load_model

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("samples: 200\nepochs: 2\nhidden: [8]\n")
    for flag, env_threads, want in ((["--threads", "3"], "2", 3), ([], "2", 2), ([], None, 1)):
        out = tmp_path / f"m{want}.pt"
        proc = _train_cli(["baseline-dil", "--config", str(cfg), "--out", str(out), *flag], env_threads, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert load_model(out).meta["torch_threads"] == want


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5", "", " ", "1e3", "99999999999", "2000"])
def test_train_threads_flag_refuses_bad_values_in_one_line(bad, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SIMOFFLOAD_TORCH_THREADS", "1")  # restored afterwards even if the command set it
    rc = main(["train", "baseline-dil", "--quick", "--threads", bad, "--out", str(tmp_path / "m.pt")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("error: --threads: expected a whole number from 1 to 1024")
    assert not (tmp_path / "m.pt").exists()
