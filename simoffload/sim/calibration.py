"""Calibrated decision costs: measure each policy's real ``decide`` call once, charge it in every run.

``simoffload calibrate SCENARIO --out COSTS.yaml`` times the real ``decide`` call
of every policy of a scenario, one call at a time, on observations drawn from
that scenario's own workload (an idle edge; each observation decided
``--repeats`` times, the minimum kept, so other processes' preemption of a
shared machine is not counted), and writes the mean, standard
deviation and the 0..100 % quantiles (1 % steps) of the time per call together
with the machine it ran on. A scenario with ``decision.time: calibrated`` and
``decision.costs: COSTS.yaml`` (relative to the scenario file) then charges each
decision from that file:

* ``charge: sample`` (the default): a draw from the measured distribution
  (inverse CDF, linear between the stored 1 % quantiles), from the random stream
  ``decision-time/<policy label>`` of the run's seed. Reproducible (same seed,
  same bytes) and keeps the spread: an edge queue's waiting time grows with the
  second moment of its service time (Pollaczek-Khinchine), so charging only the
  mean would understate queueing behind slow, jittery deciders.
* ``charge: mean``: the measured mean, every time.

An entry may also state a cost instead of a measurement, for a target device
(see ``docs/decision-time.md`` for where the shipped numbers come from)::

    policies:
      kd-dil: {seconds: 2.0e-5}          # a fixed time per decision
      large-dil: {ops_per_s: 1.0e+9}     # declared operations / rate (e.g. multiply-adds per second)
    default: {ops_per_s: 1.0e+9}         # for policies the file does not list

Bad files are one-line :class:`~simoffload.errors.UserError` s naming ``file:line``.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pydantic import Field, ValidationError, model_validator

from ..errors import UserError
from ..strict import StrictModel

FORMAT = "simoffload-decision-costs"
VERSION = 1
N_QUANTILES = 101  # 0, 1, ..., 100 %


class _Strict(StrictModel):
    """Unknown fields, booleans as numbers and non-finite numbers are refused (:mod:`simoffload.strict`)."""


class CostEntry(_Strict):
    """One policy's decision cost: measured (mean_s and quantiles_s), fixed (seconds), or per operation (ops_per_s)."""

    mean_s: float | None = Field(default=None, ge=0)
    std_s: float | None = Field(default=None, ge=0)
    n: int | None = Field(default=None, ge=1)
    quantiles_s: list[float] | None = None
    seconds: float | None = Field(default=None, ge=0)
    ops_per_s: float | None = Field(default=None, gt=0)
    source: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> "CostEntry":
        kinds = [k for k in ("mean_s", "seconds", "ops_per_s") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of mean_s (measured), seconds, ops_per_s (got {kinds or 'none'})")
        for k in ("mean_s", "std_s", "seconds", "ops_per_s"):
            v = getattr(self, k)
            if v is not None and not math.isfinite(v):
                raise ValueError(f"{k} must be finite (got {v})")
        q = self.quantiles_s
        if q is not None:
            if self.mean_s is None:
                raise ValueError("quantiles_s belongs to a measured entry (with mean_s)")
            if len(q) != N_QUANTILES:
                raise ValueError(f"quantiles_s needs {N_QUANTILES} values (0..100 %), got {len(q)}")
            a = np.asarray(q, dtype=float)
            if not np.all(np.isfinite(a)) or a[0] < 0 or np.any(np.diff(a) < 0):
                raise ValueError("quantiles_s must be finite, >= 0 and non-decreasing")
        return self


class CostFile(_Strict):
    format: str
    version: int
    created_utc: str | None = None
    machine: dict[str, Any] = Field(default_factory=dict)
    scenario: str | None = None
    subtasks: int | None = Field(default=None, ge=1, description="task length the costs were measured for")
    observations: int | None = None
    repeats: int | None = None
    policies: dict[str, CostEntry] = Field(default_factory=dict)
    default: CostEntry | None = None

    @model_validator(mode="after")
    def _fmt(self) -> "CostFile":
        if self.format != FORMAT:
            raise ValueError(f"not a decision cost file (format must be {FORMAT!r})")
        if self.version != VERSION:
            raise ValueError(f"unsupported version (this simoffload reads version {VERSION})")
        if not self.policies and self.default is None:
            raise ValueError("the file lists no policies and no default")
        return self


def load_costs(path: str | Path) -> CostFile:
    """Read and validate a decision cost file.

    Read with the bounded safe YAML loader (:func:`simoffload.yamlio.load_yaml`: size, depth,
    alias expansion, duplicate keys, NUL bytes), like a scenario.

    Raises:
        UserError: one line ``FILE:LINE: field: message (got value)``.
    """
    from ..config import _format_error
    from ..errors import shown_path
    from ..yamlio import load_yaml

    doc = load_yaml(Path(shown_path(path)), "decision cost file")  # messages name it relative to the working dir
    if not isinstance(doc.data, dict):
        got = "an empty file" if doc.data is None else f"a {type(doc.data).__name__}"
        raise UserError(f"{doc.where(())}: (top level): a decision cost file is a YAML mapping "
                        f"(format, version, machine, policies), got {got}")
    try:
        return CostFile.model_validate(doc.data)
    except ValidationError as exc:
        raise UserError(_format_error(exc.errors()[0], doc)) from None


def cost_sampler(entry: CostEntry, ops: float, charge: str, rng: np.random.Generator) -> Callable[[], float]:
    """A function returning the seconds to charge for one decision.

    Args:
        entry: the policy's entry of a cost file.
        ops: the policy's declared operations for the task structure (for ``ops_per_s`` entries).
        charge: ``sample`` (draw from the measured quantiles) or ``mean``.
        rng: the stream the draws come from (only used by ``sample`` on measured entries).
    """
    if entry.seconds is not None:
        s = float(entry.seconds)
        return lambda: s
    if entry.ops_per_s is not None:
        s = float(ops) / float(entry.ops_per_s)
        return lambda: s
    mean = float(entry.mean_s)
    if charge == "mean" or entry.quantiles_s is None:
        return lambda: mean
    q = np.asarray(entry.quantiles_s, dtype=float)
    grid = np.linspace(0.0, 1.0, len(q))

    def draw() -> float:
        return float(np.interp(rng.random(), grid, q))

    return draw


# ----------------------------------------------------------------------------- measuring


def machine_info() -> dict[str, Any]:
    """Where a calibration ran: CPU model, cores, load, Python and library versions, thread settings."""
    info: dict[str, Any] = {
        "platform": platform.platform(), "machine": platform.machine(), "processor": platform.processor() or None,
        "cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
    }
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        info["load_average_1min"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        info[var] = os.environ.get(var)
    try:
        import torch

        info["torch"] = str(torch.__version__)
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def calibration_observations(world: Any, count: int) -> list[Any]:
    """``count`` observations of the scenario's own workload (cycling over its tasks), as an idle edge sees them."""
    from ..policy import Observation

    sys_ = world.system
    tasks = sys_.tasks
    if not tasks:
        raise UserError("the scenario's workload has no tasks to calibrate on (raise horizon or the arrival rate)")
    est = sys_.estimator
    out = []
    for i in range(count):
        ts = tasks[i % len(tasks)]
        d = sys_.devices[ts.device]
        t = ts.arrival_s
        out.append(Observation(
            graph=sys_.graph, cycles=ts.cycles, data=ts.data, p1_hz=d.cpu_hz, p2_hz=sys_.edge_hz,
            b1_Bps=est.estimate(d.up, t), b2_Bps=est.estimate(sys_.wan_up, t),
            b1_down_Bps=est.estimate(d.down, t), b2_down_Bps=est.estimate(sys_.wan_down, t),
            p3_hz=sys_.cloud_hz, edge_cores=sys_.edge_cores, time_s=t, device=ts.device, objective=sys_.objective,
        ))
    return out


def measure(policies: list[tuple[str, Any]], obs: list[Any], warmup: int = 50, block: int = 250,
            repeats: int = 5) -> dict[str, np.ndarray]:
    """Seconds of each single ``decide`` call, per policy and observation.

    Each observation is decided ``repeats`` times in separate passes and the
    minimum is kept (the ``timeit`` convention): what remains is the policy's own
    cost for that input, not the time another process held the CPU. Policies are
    timed in interleaved blocks, so load on a shared machine falls on all alike.
    """
    for _, p in policies:
        for o in obs[:warmup]:
            p.decide(o)
    times = {label: np.full(len(obs), np.inf) for label, _ in policies}
    clock = time.perf_counter
    for _ in range(max(1, repeats)):
        for lo in range(0, len(obs), block):
            for label, p in policies:
                dec, arr = p.decide, times[label]
                for i in range(lo, min(lo + block, len(obs))):
                    t0 = clock()
                    dec(obs[i])
                    dt = clock() - t0
                    if dt < arr[i]:
                        arr[i] = dt
    return times


def summarise(samples: np.ndarray) -> dict[str, Any]:
    """Mean, standard deviation, count and 0..100 % quantiles of one policy's timings."""
    q = np.quantile(samples, np.linspace(0.0, 1.0, N_QUANTILES))
    return {"mean_s": float(samples.mean()), "std_s": float(samples.std(ddof=1)) if len(samples) > 1 else 0.0,
            "n": int(len(samples)), "quantiles_s": [float(x) for x in q]}


def calibrate(scenario_path: str | Path, out: str | Path, count: int = 5000, seed: int | None = None,
              only: list[str] | None = None, repeats: int = 5) -> dict[str, Any]:
    """Measure every policy of a scenario and write the cost file.

    Args:
        scenario_path: a scenario file (its policies, workload and estimator are used).
        out: the cost file to write (YAML).
        count: timed decisions per policy.
        seed: workload seed (default: the scenario's).
        only: policy labels to measure (default: all of the scenario's).
        repeats: passes over the observations; each observation's minimum is kept.

    Returns:
        The written document.
    """
    from ..config import load_scenario
    from .results import _atomic_write
    from .scenario import build_world, make_policies

    if count < 2:
        raise UserError(f"-n must be >= 2, got {count}")
    sc = load_scenario(scenario_path)
    sc.decision.time = "modelled"  # the cost file being written is not needed (nor may it exist yet)
    seed = sc.seed if seed is None else seed
    if only:
        labels = [p.display for p in sc.policies]
        missing = [x for x in only if x not in labels]
        if missing:
            raise UserError(f"--policy {missing[0]}: not a policy of {scenario_path} (it has {', '.join(labels)})")
        sc.policies = [p for p in sc.policies if p.display in only]
    world = build_world(sc, seed)
    pols = make_policies(sc, seed)
    obs = calibration_observations(world, count)
    if repeats < 1:
        raise UserError(f"--repeats must be >= 1, got {repeats}")
    times = measure(pols, obs, repeats=repeats)
    doc = {
        "format": FORMAT, "version": VERSION,
        "created_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine_info(), "scenario": str(scenario_path), "subtasks": world.graph.n,
        "observations": count, "repeats": repeats,
        "policies": {label: summarise(times[label]) for label, _ in pols},
    }
    import yaml

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(doc, sort_keys=False)
    _atomic_write(out, lambda p: Path(p).write_text(text, encoding="utf-8"))
    return doc


def cmd_calibrate(args: Any) -> int:
    doc = calibrate(args.file, args.out, count=args.n, seed=args.seed, only=args.policy or None, repeats=args.repeats)
    m = doc["machine"]
    print(f"calibrated {len(doc['policies'])} policies on {doc['observations']} decisions each "
          f"({m.get('cpu_model') or m['machine']}, {m['cpus']} CPUs, load {m.get('load_average_1min', '?')})")
    print(f"{'policy':14s} {'mean us':>10s} {'std us':>10s} {'p50 us':>10s} {'p99 us':>10s}")
    for label, e in doc["policies"].items():
        q = e["quantiles_s"]
        print(f"{label:14s} {e['mean_s'] * 1e6:10.2f} {e['std_s'] * 1e6:10.2f} {q[50] * 1e6:10.2f} {q[99] * 1e6:10.2f}")
    print(f"costs: {args.out}")
    return 0


def register_cli(sub: Any) -> None:
    p = sub.add_parser("calibrate", help="measure each policy's real decide() time; write a decision cost file")
    p.add_argument("file", help="scenario YAML (its policies and workload)")
    p.add_argument("--out", required=True, help="cost file to write (YAML)")
    p.add_argument("-n", type=int, default=5000, help="timed decisions per policy (default 5000)")
    p.add_argument("--repeats", type=int, default=5, help="passes over the observations; each one's minimum is kept (default 5)")
    p.add_argument("--seed", type=int, default=None, help="workload seed (default: the scenario's)")
    p.add_argument("--policy", action="append", help="measure only this policy label (repeatable)")
    p.set_defaults(func=cmd_calibrate)
