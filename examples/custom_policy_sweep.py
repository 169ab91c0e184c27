"""A worked example: a scenario built in code, a custom policy, a small sweep, a plot.

Run it from anywhere::

    python examples/custom_policy_sweep.py --out results/example          # about half a minute
    python examples/custom_policy_sweep.py --out /tmp/example --quick     # a few seconds

It writes ``latency_vs_bandwidth.png`` and ``summary.csv`` into ``--out``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # write files, no window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import simoffload  # noqa: E402
from simoffload.testing import check_policy  # noqa: E402


class AllOrNothing(simoffload.Policy):
    """Everything on the edge when shipping the task's input and output costs less than the time saved, else local.

    A whole-task rule of thumb: offload iff (d_in + d_out) / b1 < sum(cycles) * (1/p1 - 1/p2),
    with b1 the estimated uplink bandwidth the observation reports.

    Args:
        margin: offload only if the saving beats the transfer time by this factor.
    """

    name = "all-or-nothing"

    def __init__(self, margin: float = 1.0):
        self.margin = margin

    def decide(self, obs: simoffload.Observation) -> np.ndarray:
        moved_bytes = obs.data[0] + obs.data[-1]  # a chain's input and output edges
        transfer_s = moved_bytes / max(obs.b1_Bps, 1e-9)
        saved_s = obs.cycles.sum() * (1.0 / obs.p1_hz - 1.0 / obs.p2_hz)
        place = 1 if saved_s > self.margin * transfer_s else 0
        return np.full(obs.graph.n, place)

    def decision_ops(self, graph: simoffload.TaskGraph) -> float:
        return float(graph.n + 4)  # a sum over the subtasks and a comparison


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/example", help="output directory")
    ap.add_argument("--quick", action="store_true", help="a few seconds: short horizon, fewer points")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # 1. the custom policy passes the conformance suite (feasible, single = batched, reproducible, ...)
    check_policy(AllOrNothing)

    # 2. a scenario built in code: one device, a task a minute (an idle system, as in the paper)
    scenario = simoffload.Scenario(
        name="example",
        seed=7,
        horizon="20 min" if args.quick else "3 h",
        task={"subtasks": 6, "distribution": "paper-5.1"},
        devices={"count": 1, "cpu": "550 MHz", "arrivals": {"periodic": {"interval": "60 s"}}},
        edge={"cores": 1, "cpu": "2.75 GHz"},
        network={"wireless": {"up": "1 MB/s"}, "wan": {"up": "1.5 MB/s"}},
    )

    # 3. a sweep over the wireless bandwidth, the custom policy beside built-in ones
    bandwidths_Bps = [2.5e5, 1e6, 4e6] if args.quick else [2.5e5, 5e5, 1e6, 2e6, 4e6, 8e6]
    sweep = simoffload.sweep(
        scenario,
        grid={"network.wireless.up": bandwidths_Bps},
        replicates=1 if args.quick else 3,
        policies=["local", "edge", "greedy", "optimal", AllOrNothing()],
    )

    # 4. pandas: mean latency per policy and bandwidth (mean over replicates), then a plot
    s = sweep.summary
    table = s.groupby(["network.wireless.up", "policy"])["mean_latency_s"].mean().unstack("policy")
    table.index = table.index.astype(float) / 1e6
    table.index.name = "wireless uplink (MB/s)"
    table.to_csv(out / "summary.csv")
    ax = table.plot(marker="o", logx=True, figsize=(6.5, 4))
    ax.minorticks_off()
    ax.set_xticks(table.index, [f"{x:g}" for x in table.index])
    ax.set_ylabel("mean latency (s)")
    ax.set_title("latency vs. wireless bandwidth, 6-subtask chain, one device")
    ax.grid(True, which="both", alpha=0.3)
    plt.tight_layout()
    plt.savefig(out / "latency_vs_bandwidth.png", dpi=120)
    print(table.round(3).to_string())
    print(f"wrote {out / 'summary.csv'} and {out / 'latency_vs_bandwidth.png'}")


if __name__ == "__main__":
    main()
