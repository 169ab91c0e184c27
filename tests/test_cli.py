"""Command-line conventions: --version, common flags anywhere, progress bars only on a terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import simoffload
from simoffload.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
SMALL = {"name": "tiny", "seed": 2, "horizon": "10 min", "task": {"subtasks": 3},
         "devices": {"arrivals": {"periodic": {"interval": "20 s"}}}, "policies": ["local", "edge"]}


def test_version_agrees_with_the_package(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"simoffload {simoffload.__version__}"
    out = subprocess.run([sys.executable, "-m", "simoffload", "--version"], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert out.strip() == f"simoffload {simoffload.__version__}"
    assert (ROOT / "setup.cfg").read_text().count("version = attr: simoffload.__version__") == 1


@pytest.mark.parametrize("argv", [
    ["-v", "run", "S", "--out", "O"], ["run", "-v", "S", "--out", "O"], ["run", "S", "--out", "O", "-v"],
])
def test_verbose_before_or_after_the_subcommand(argv):
    args = build_parser().parse_args(argv)
    assert args.verbose is True and args.command == "run"


def test_every_subcommand_takes_the_same_common_flags():
    p = build_parser()
    for argv in (["validate", "F"], ["run", "F", "--out", "O"], ["policies"], ["dataset", "--dist", "paper-5.1", "-n", "3",
                 "--out", "x.csv"], ["train", "kd-dil", "--out", "m.pt"], ["reproduce", "paper", "--out", "D"],
                 ["sweep", "F", "--out", "O"], ["plot", "D"]):
        for flags in (["-q"], ["--quiet"], ["--no-progress"], ["--progress"], ["-v"]):
            args = p.parse_args(argv + flags)
            key = {"-q": "quiet", "--quiet": "quiet", "--no-progress": "quiet", "--progress": "progress", "-v": "verbose"}[flags[0]]
            assert getattr(args, key) is True, (argv, flags)
    # given before the subcommand, not overwritten by the subcommand's defaults
    assert p.parse_args(["-q", "run", "F", "--out", "O"]).quiet is True


def test_progress_bars_only_on_a_terminal_or_when_asked(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(SMALL))
    base = [sys.executable, "-m", "simoffload", "run", str(f), "--no-plots"]
    plain = subprocess.run(base + ["--out", str(tmp_path / "a")], capture_output=True, text=True, check=True)
    assert "task/s" not in plain.stderr and "\r" not in plain.stderr  # stderr is a pipe here: no bar
    forced = subprocess.run(base + ["--out", str(tmp_path / "b"), "--progress"], capture_output=True, text=True, check=True)
    assert "tiny:" in forced.stderr and "task" in forced.stderr
    quiet = subprocess.run(base + ["--out", str(tmp_path / "c"), "--progress", "-q"], capture_output=True, text=True, check=True)
    assert quiet.stderr == ""
