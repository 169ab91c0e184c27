"""Decision time per decision of each policy, normalised to Greedy as the paper's Table 1.

Samples paper-5.1 requirements for chains of 6 subtasks and times

* single decisions: ``policy.decide(obs)`` called once per observation, the way
  the engine calls it (wall clock per decision, median over rounds);
* batched decisions: ``policy.decide_batch(instances)`` over all of them at once.

Learned policies (large-dil, kd-dil, baseline-dil, dqn) are included only if
their module imports and a trained model for their default configuration is
in the model cache (or ``--train-learned`` is given); otherwise they are
skipped with a note. The paper's Table 1 numbers are printed next to
ours. Writes ``analysis/results/bench_decisions.json`` and ``.png``.

Usage: ``python analysis/bench_decisions.py [--quick] [-n N]``
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from simoffload.model.task import RequirementDistribution, TaskGraph
from simoffload.policy import Observation, Policy
from simoffload.registry import make_policy
from simoffload.rng import rng_for

RESULTS = Path(__file__).resolve().parent / "results"
BUILTIN = ["greedy", "optimal", "exhaustive", "local", "edge", "cloud", "random"]
LEARNED = ["large-dil", "kd-dil", "baseline-dil", "dqn"]
# Table 1 of arXiv 2004.04366 (decision time normalised to Greedy); the paper's "Optimal" is exhaustive search
PAPER_TABLE1 = {"kd-dil": 0.17, "large-dil": 0.51, "dqn": 119.72, "greedy": 1.00, "exhaustive": 122.54}


def observations(n: int, seed: int) -> tuple[list[Observation], object]:
    g = TaskGraph.chain(6)
    inst = RequirementDistribution.from_spec("paper-5.1").sample(g, n, rng_for(seed, "bench/decisions"))
    obs = [Observation(g, inst.cycles[i], inst.data[i], float(inst.p1[i]), float(inst.p2[i]),
                       float(inst.b1[i]), float(inst.b2[i])) for i in range(n)]
    return obs, inst


def time_single(pol: Policy, obs: list[Observation], rounds: int) -> float:
    """Median over ``rounds`` slices of the wall-clock seconds per single decision."""
    per = []
    size = max(1, len(obs) // rounds)
    for r in range(rounds):
        chunk = obs[r * size:(r + 1) * size]
        t0 = time.perf_counter()
        for o in chunk:
            pol.decide(o)
        per.append((time.perf_counter() - t0) / len(chunk))
    return statistics.median(per)


def time_batch(pol: Policy, inst, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        pol.decide_batch(inst)
        best = min(best, (time.perf_counter() - t0) / len(inst))
    return best


def load(name: str, train: bool = False) -> tuple[Policy | None, str]:
    try:
        pol = make_policy(name)
        pol.reset(rng_for(0, f"bench/{name}"))
        if name in LEARNED and not train and not getattr(pol, "weights", None):
            from simoffload.learn import cache

            if not cache.cached_path(name, pol.training_config()).is_file():
                return None, "no trained model in the cache (train it, or pass --train-learned)"
        return pol, ""
    except Exception as exc:  # a learned policy that is not written or not trained yet
        return None, f"{type(exc).__name__}: {exc}".splitlines()[0][:160]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100_000, help="decisions per policy (default 100000)")
    ap.add_argument("--quick", action="store_true", help="2000 decisions, no figure polish (for tests)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-learned", action="store_true",
                    help="train learned policies that have no cached model (slow); default: skip them")
    ap.add_argument("--out", type=Path, default=RESULTS / "bench_decisions.json")
    args = ap.parse_args(argv)
    n = 2000 if args.quick else args.n
    warnings.simplefilter("ignore", RuntimeWarning)
    obs, inst = observations(n, args.seed)
    g = inst.graph
    rows: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    for name in BUILTIN + LEARNED:
        pol, why = load(name, args.train_learned)
        if pol is None:
            skipped[name] = why
            continue
        try:
            pol.decide(obs[0])
            pol.decide_batch(inst[:10])
        except Exception as exc:
            skipped[name] = f"{type(exc).__name__}: {exc}".splitlines()[0][:160]
            continue
        single = time_single(pol, obs, rounds=5)
        batch = time_batch(pol, inst, repeats=1 if name == "exhaustive" else 3)
        rows[name] = {"single_s": single, "batch_s": batch, "decision_ops": pol.decision_ops(g)}
        print(f"  timed {name:12s} single {single * 1e6:9.2f} us  batched {batch * 1e6:9.3f} us", file=sys.stderr)
    base = rows["greedy"]
    for r in rows.values():
        r["single_norm"] = r["single_s"] / base["single_s"]
        r["batch_norm"] = r["batch_s"] / base["batch_s"]
        r["ops_norm"] = r["decision_ops"] / base["decision_ops"] if base["decision_ops"] else None
    print(f"\nDecision time per decision, paper-5.1 chains of 6, {n} decisions "
          f"(normalised to greedy; paper's Table 1 alongside)")
    print(f"{'policy':12s} {'single us':>10s} {'single/greedy':>14s} {'batch us':>10s} {'batch/greedy':>13s} "
          f"{'ops':>8s} {'ops/greedy':>11s} {'paper':>8s}")
    for name, r in rows.items():
        paper = PAPER_TABLE1.get(name)
        ops_norm = "" if r["ops_norm"] is None else f"{r['ops_norm']:.2f}"
        print(f"{name:12s} {r['single_s'] * 1e6:10.2f} {r['single_norm']:14.2f} {r['batch_s'] * 1e6:10.3f} "
              f"{r['batch_norm']:13.2f} {r['decision_ops']:8.0f} {ops_norm:>11s} "
              f"{'' if paper is None else f'{paper:.2f}':>8s}")
    for name, why in skipped.items():
        print(f"{name:12s} skipped ({why})")
    print(f"\nDP (optimal) single decision / greedy: {rows['optimal']['single_norm']:.2f} (target <= 2); "
          f"exhaustive / greedy: {rows['exhaustive']['single_norm']:.1f} (paper: 122.54)")
    out = {"n_decisions": n, "task": "chain6", "distribution": "paper-5.1", "seed": args.seed,
           "python": platform.python_version(), "machine": platform.machine(), "policies": rows,
           "skipped": skipped, "paper_table1": PAPER_TABLE1}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    plot(rows, args.out.with_suffix(".png"), n)
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0


def plot(rows: dict[str, dict], path: Path, n: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    x = np.arange(len(names))
    w = 0.27
    fig, ax = plt.subplots(figsize=(9, 4.2))
    ax.bar(x - w, [rows[k]["single_norm"] for k in names], w, label="ours, single decisions")
    ax.bar(x, [rows[k]["batch_norm"] for k in names], w, label="ours, batched")
    ax.bar(x + w, [PAPER_TABLE1.get(k, np.nan) for k in names], w, label="paper Table 1")
    ax.set_yscale("log")
    ax.axhline(1.0, color="k", lw=0.6)
    ax.set_xticks(x, names, rotation=20)
    ax.set_ylabel("decision time / greedy's")
    ax.set_title(f"Decision time per decision (paper-5.1, chains of 6, {n} decisions)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
