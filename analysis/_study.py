"""The driver shared by the study scripts: arguments, the sweep, and the findings written at the end."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

ROOT = Path(__file__).resolve().parents[1]


def run_study(doc: str, scenario: Path, name: str, argv: list[str] | None, ci_target: float = 0.05,
              max_replicates: int = 20) -> tuple[argparse.Namespace, Path, Any, Any]:
    """Parse the study's command line and run (or resume) its sweep, adding replicates until CIs are tight.

    Replicates start at the scenario's ``sweep.replicates``; while some steady point's 95 % half-width
    is wider than ``ci_target`` x its mean, the sweep is rerun with the replicates that point needs
    (finished replicates are reused), up to ``max_replicates``.

    Returns:
        (arguments, output directory, sweep outcome, combined sweep summary table).
    """
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny run (seconds)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--scheduler", default=None, help="Dask scheduler address")
    ap.add_argument("--out", default=str(ROOT / "analysis" / "results" / name))
    ap.add_argument("--ci-target", type=float, default=ci_target,
                    help=f"add replicates until every steady point's 95%% half-width is under this fraction of "
                         f"its mean (default {ci_target})")
    ap.add_argument("--max-replicates", type=int, default=max_replicates,
                    help=f"cap on replicates per point (default {max_replicates})")
    args = ap.parse_args(argv)
    from simoffload.experiments.sweep import load_sweep, plan_sweep, run_sweep
    from simoffload.experiments.stats import replicates_needed, restat

    out = Path(args.out)
    sweep_dir = out / ("sweep-quick" if args.quick else "sweep")
    reps = max(j["replicate"] for j in plan_sweep(scenario, args.quick).jobs) + 1
    x = None
    while True:
        outcome = run_sweep(scenario, sweep_dir, jobs=args.jobs, scheduler=args.scheduler, quick=args.quick,
                            progress=sys.stderr.isatty(), replicates=reps)
        sw = load_sweep(sweep_dir)
        summary = restat(sw.summary, sw.tasks) if len(sw.summary) else sw.summary
        x = x or list(sw.params)
        if args.quick or not len(summary):
            break
        # replicates until precise: the largest count any steady point needs (same count everywhere, so every
        # point keeps common random numbers across policies and points), capped
        need = reps
        for _, g in summary.groupby(["policy"] + x, dropna=False):
            if g["steady"].all():
                need = max(need, replicates_needed(g["ss_mean_latency_s"].to_numpy(float), args.ci_target,
                                                   args.max_replicates))
        if need <= reps:
            break
        print(f"{name}: {reps} replicates leave a CI wider than {args.ci_target:.0%} of a mean; running {need}",
              file=sys.stderr)
        reps = need
    args.replicates = reps
    return args, out, outcome, summary


def steady_table(summary: Any, x: list[str]) -> Any:
    """Per policy and point: post-warm-up mean over replicates with t CI, unfinished share, steadiness.

    See :mod:`simoffload.experiments.stats` for the rules (MSER-5, offered load, trend test).
    """
    from simoffload.experiments.stats import point_table

    return point_table(summary, x)


def finish_study(out: Path, findings: dict, args: argparse.Namespace, outcome: Any,
                 findings_text: Callable[[dict], str], plot_paths: Iterable[Path]) -> int:
    """Write findings.json, list the plots, print the findings; non-zero if a run failed."""
    findings["quick"] = args.quick
    findings["replicates"] = getattr(args, "replicates", None)
    findings["ci_target"] = getattr(args, "ci_target", None)
    findings["failed_runs"] = outcome.failed
    findings["text"] = findings_text(findings)
    (out / "findings.json").write_text(json.dumps(findings, indent=2), encoding="utf-8")
    for p in plot_paths:
        print(f"plot: {p}")
    print(f"numbers: {out / 'numbers.csv'}, {out / 'findings.json'}")
    print()
    print("Findings:", findings["text"])
    return 1 if outcome.failed else 0
