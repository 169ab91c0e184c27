"""The driver shared by the study scripts: arguments, the sweep, and the findings written at the end."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

ROOT = Path(__file__).resolve().parents[1]


def run_study(doc: str, scenario: Path, name: str, argv: list[str] | None) -> tuple[argparse.Namespace, Path, Any, Any]:
    """Parse the study's command line and run (or resume) its sweep.

    Returns:
        (arguments, output directory, sweep outcome, combined sweep summary table).
    """
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny run (seconds)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--scheduler", default=None, help="Dask scheduler address")
    ap.add_argument("--out", default=str(ROOT / "analysis" / "results" / name))
    args = ap.parse_args(argv)
    from simoffload.experiments.sweep import load_sweep, run_sweep

    out = Path(args.out)
    sweep_dir = out / ("sweep-quick" if args.quick else "sweep")
    outcome = run_sweep(scenario, sweep_dir, jobs=args.jobs, scheduler=args.scheduler, quick=args.quick,
                        progress=sys.stderr.isatty())
    return args, out, outcome, load_sweep(sweep_dir).summary


def finish_study(out: Path, findings: dict, args: argparse.Namespace, outcome: Any,
                 findings_text: Callable[[dict], str], plot_paths: Iterable[Path]) -> int:
    """Write findings.json, list the plots, print the findings; non-zero if a run failed."""
    findings["quick"] = args.quick
    findings["failed_runs"] = outcome.failed
    findings["text"] = findings_text(findings)
    (out / "findings.json").write_text(json.dumps(findings, indent=2), encoding="utf-8")
    for p in plot_paths:
        print(f"plot: {p}")
    print(f"numbers: {out / 'numbers.csv'}, {out / 'findings.json'}")
    print()
    print("Findings:", findings["text"])
    return 1 if outcome.failed else 0
