"""How fast exact labels are made: 100K paper-5.1 chains (DP) and 20-node DAGs (min cut).

Times, in one process: sampling 100K paper-5.1 requirements for chains of 6,
their exact labels (cost coefficients + chain DP), and the whole
``sample_dataset`` call; then the min-cut label rate for random 20-node DAGs
(edge probability 0.2, 45 data edges) by the batched compiled cut
(``dag_mincut``) against the per-instance networkx construction it replaced
(``_mincut_one``, the baseline, on a subset) in the same run, checking that
both give placements of equal cost. Writes ``analysis/results/bench_labels.json``.

Usage: ``python analysis/bench_labels.py [--quick] [--dag-count N]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

from simoffload.learn.datasets import sample_dataset
from simoffload.model.cost import coefficients
import numpy as np

from simoffload.model.cost import Coefficients, evaluate
from simoffload.model.solvers import _mincut_one, chain_dp, dag_mincut, exhaustive
from simoffload.model.task import RequirementDistribution, TaskGraph, random_dag
from simoffload.rng import rng_for

RESULTS = Path(__file__).resolve().parent / "results"


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10K chains, 100 DAGs")
    ap.add_argument("--chains", type=int, default=100_000)
    ap.add_argument("--dag-count", type=int, default=100_000, help="DAGs labelled by the batched cut")
    ap.add_argument("--baseline-count", type=int, default=1000, help="DAGs labelled by the networkx baseline")
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_labels.json")
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore", RuntimeWarning)
    n_chain = 10_000 if args.quick else args.chains
    n_dag = 2000 if args.quick else args.dag_count
    n_base = 100 if args.quick else min(args.baseline_count, n_dag)
    dist = RequirementDistribution.from_spec("paper-5.1")
    g = TaskGraph.chain(6)
    inst = dist.sample(g, n_chain, rng_for(0, "bench/labels"))
    t_sample = best_of(lambda: dist.sample(g, n_chain, rng_for(0, "bench/labels")), 3)
    t_label = best_of(lambda: chain_dp(coefficients(inst), inst.data), 5)
    t_dataset = best_of(lambda: sample_dataset(dist, g, n_chain, seed=0), 3)
    small = inst[:2000]
    t_exh = best_of(lambda: exhaustive(coefficients(small), g, small.data), 1) * n_chain / 2000
    dg = random_dag(20, 0.2, rng_for(0, "bench/labels/dag"))
    dinst = dist.sample(dg, n_dag, rng_for(0, "bench/labels/daginst"))
    dcoef = coefficients(dinst)
    t_dag = best_of(lambda: dag_mincut(dcoef, dg, dinst.data), 1 if not args.quick else 3)
    P, val = dag_mincut(dcoef, dg, dinst.data)
    rate = n_dag / t_dag
    U, up, down, D = (x[:n_base].tolist() for x in (dcoef.unary, dcoef.up, dcoef.down, dinst.data))
    t0 = time.perf_counter()
    Q = np.array([_mincut_one(U[b], up[b], down[b], dg, D[b]) for b in range(n_base)])
    t_base = time.perf_counter() - t0
    base_rate = n_base / t_base
    vq = evaluate(Coefficients(dcoef.unary[:n_base], dcoef.up[:n_base], dcoef.down[:n_base]), dg, dinst.data[:n_base], Q)
    worst = float(np.max(np.abs(vq - val[:n_base]) / np.abs(vq)))
    out = {
        "chains": {"n": n_chain, "subtasks": 6, "distribution": "paper-5.1", "sample_s": t_sample,
                   "labels_s": t_label, "labels_per_s": n_chain / t_label, "sample_dataset_s": t_dataset,
                   "exhaustive_labels_s_extrapolated": t_exh},
        "dags": {"n_solved": n_dag, "nodes": dg.n, "data_edges": dg.m, "edge_prob": 0.2, "seconds": t_dag,
                 "labels_per_s": rate, "extrapolated_100k_s": 100_000 / rate,
                 "baseline_networkx": {"n_solved": n_base, "labels_per_s": base_rate},
                 "speedup_vs_networkx": rate / base_rate, "worst_relative_cost_difference": worst},
    }
    print(f"chains of 6, paper-5.1, {n_chain} samples:")
    print(f"  sampling                 {t_sample * 1e3:8.1f} ms")
    print(f"  exact labels (DP)        {t_label * 1e3:8.1f} ms  ({n_chain / t_label:,.0f} labels/s; target 100K < 1 s)")
    print(f"  sample_dataset (all)     {t_dataset * 1e3:8.1f} ms")
    print(f"  exhaustive (extrapolated){t_exh * 1e3:8.1f} ms")
    print(f"20-node DAGs ({dg.m} data edges), min cut:")
    print(f"  batched compiled cut ({n_dag} solved): {rate:,.0f} labels/s -> 100K in {100_000 / rate:,.1f} s")
    print(f"  networkx per instance ({n_base} solved): {base_rate:,.0f} labels/s; speed-up {rate / base_rate:.1f}x "
          f"(target >= 30x); worst relative cost difference {worst:.1e}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
