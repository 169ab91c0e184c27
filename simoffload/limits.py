"""Resource limits: what a scenario may ask for, checked before anything is allocated.

A scenario file is small, but what it describes need not be: ``horizon: 1.0e+15``
with Poisson arrivals asks for 10^17 tasks, a Gauss-Markov link with
``step_s: 1.0e-7`` for 3.6e10 bandwidth steps, a 1.6 KB YAML alias bomb for 10^9
nodes. Every such quantity is estimated from the validated configuration alone
and compared with a limit below, so a scenario beyond a limit is refused in
milliseconds with one line naming the field, instead of running the machine out
of memory.

Each limit can be raised (or lowered) in two ways:

* in the scenario, a ``limits:`` section, e.g. ``limits: {tasks: 5000000}``
  (the workload limits only: ``tasks``, ``subtasks``, ``bandwidth_steps``,
  ``mobility_samples``, ``trace_bytes``, ``sweep_runs``);
* in the environment, ``SIMOFFLOAD_LIMIT_<NAME>=N`` (e.g.
  ``SIMOFFLOAD_LIMIT_TASKS=5000000``); this is the only way for the YAML limits
  (``yaml_bytes``, ``yaml_nodes``, ``yaml_depth``), which apply before the
  scenario's own ``limits:`` section can be read.

The scenario's section wins over the environment, which wins over the default.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields

#: default limits; see the module docstring and README "Bad input"
DEFAULTS: dict[str, int] = {
    "yaml_bytes": 16 * 2**20,       # size of a scenario / config file
    "yaml_nodes": 1_000_000,        # YAML nodes after alias expansion (alias bombs)
    "yaml_depth": 64,               # nesting depth of YAML collections
    "tasks": 2_000_000,             # expected tasks over all devices within the horizon
    "subtasks": 20_000_000,         # expected tasks x subtasks per task
    "bandwidth_steps": 20_000_000,  # steps of generated bandwidth paths over all links
    "mobility_samples": 20_000_000, # device positions on the mobility grid plus random waypoints
    "trace_bytes": 512 * 2**20,     # size of one trace file (bandwidth, mobility, association)
    "sweep_runs": 100_000,          # sweep points x replicates
}

#: the limits a scenario's ``limits:`` section may set
SCENARIO_LIMITS = ("tasks", "subtasks", "bandwidth_steps", "mobility_samples", "trace_bytes", "sweep_runs")


def env_name(name: str) -> str:
    """The environment variable that sets limit ``name``."""
    return f"SIMOFFLOAD_LIMIT_{name.upper()}"


@dataclass(frozen=True)
class Limits:
    """The limits in force (defaults, then the environment, then a scenario's ``limits:``)."""

    yaml_bytes: int = DEFAULTS["yaml_bytes"]
    yaml_nodes: int = DEFAULTS["yaml_nodes"]
    yaml_depth: int = DEFAULTS["yaml_depth"]
    tasks: int = DEFAULTS["tasks"]
    subtasks: int = DEFAULTS["subtasks"]
    bandwidth_steps: int = DEFAULTS["bandwidth_steps"]
    mobility_samples: int = DEFAULTS["mobility_samples"]
    trace_bytes: int = DEFAULTS["trace_bytes"]
    sweep_runs: int = DEFAULTS["sweep_runs"]

    def with_overrides(self, overrides: dict[str, int | None] | None) -> "Limits":
        """A copy with the given (non-None) values replaced."""
        if not overrides:
            return self
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update({k: int(v) for k, v in overrides.items() if v is not None})
        return Limits(**values)


def current(overrides: dict[str, int | None] | None = None) -> Limits:
    """The limits: defaults, overridden by ``SIMOFFLOAD_LIMIT_*`` variables, then by ``overrides``.

    Raises:
        ValueError: an environment variable that is not a positive integer.
    """
    values: dict[str, int] = {}
    for name in DEFAULTS:
        raw = os.environ.get(env_name(name))
        if raw is None or not raw.strip():
            continue
        try:
            x = float(raw)
        except ValueError:
            x = math.nan
        if not (math.isfinite(x) and x >= 1 and x == int(x)):
            raise ValueError(f"{env_name(name)}: expected a positive integer, got {raw[:100]!r}")
        values[name] = int(x)
    return Limits().with_overrides(values).with_overrides(overrides)


def how_to_raise(name: str) -> str:
    """The advice appended to a message about limit ``name``."""
    if name in SCENARIO_LIMITS:
        return f"raise it with 'limits: {{{name}: N}}' in the scenario or {env_name(name)}=N"
    return f"raise it with {env_name(name)}=N"


def exceeded(name: str, what: str, value: float, limits: Limits) -> str | None:
    """A message if ``value`` exceeds limit ``name``, else None.

    Args:
        name: the limit's name (a field of :class:`Limits`).
        what: what was counted, e.g. ``"expected tasks"``.
        value: the estimate.
        limits: the limits in force.
    """
    lim = getattr(limits, name)
    if value <= lim:
        return None
    return f"{what}: about {value:.3g}, above the limit of {lim:,} ({how_to_raise(name)})"


# ----------------------------------------------------------------------------- workload estimate


def expected_tasks_per_device(arrivals: object, horizon_s: float, max_tasks: int | None) -> float:
    """Expected number of task arrivals of one device in ``[0, horizon_s)``.

    Poisson: ``rate * horizon``; periodic: ``ceil((horizon - offset) / interval)``;
    times: their number; each capped by ``max_tasks``.
    """
    cap = math.inf if max_tasks is None else float(max_tasks)
    if getattr(arrivals, "times", None) is not None:
        n = float(sum(1 for t in arrivals.times if t < horizon_s))
    elif getattr(arrivals, "periodic", None) is not None:
        p = arrivals.periodic
        n = float(math.ceil((horizon_s - p.offset) / p.interval)) if p.offset < horizon_s else 0.0
    else:
        n = arrivals.poisson.rate * horizon_s
    return min(n, cap)


def bandwidth_steps(spec: object, horizon_s: float) -> float:
    """Steps a bandwidth spec generates over ``horizon_s`` (0 for constant, piecewise and traces)."""
    kind = getattr(spec, "kind", None)
    if kind == "gauss_markov":
        return math.ceil(horizon_s / spec.gauss_markov.step_s) + 1.0
    if kind == "gilbert_elliott":
        g = spec.gilbert_elliott
        return 2.0 * horizon_s / (g.mean_good_s + g.mean_bad_s) + 16.0
    return 0.0


def check_scenario(sc: object) -> None:
    """Refuse a scenario whose workload exceeds the limits, before anything is drawn.

    Args:
        sc: a validated :class:`~simoffload.config.Scenario`.

    Raises:
        UserError: ``FILE:LINE: field: expected ...: about N, above the limit of M (raise it with ...)``.
    """
    from .errors import UserError

    try:
        lim = sc.effective_limits()
    except ValueError as exc:
        raise UserError(f"{sc.where('limits')}: {exc}") from None
    dev = sc.devices
    horizon = sc.horizon
    per_dev = expected_tasks_per_device(dev.arrivals, horizon, dev.max_tasks)
    tasks = per_dev * dev.count
    arr = dev.arrivals
    kind = "times" if arr.times is not None else "periodic" if arr.periodic is not None else "poisson"
    # the field to blame: a horizon beyond a year, else the arrivals
    blame = ("horizon",) if horizon > 3.2e7 and kind != "times" else ("devices", "arrivals", kind)
    detail = f"{dev.count} device(s) x {per_dev:.3g} arrivals within the horizon of {horizon:g} s"
    msg = exceeded("tasks", f"expected tasks ({detail})", tasks, lim)
    if msg:
        raise UserError(f"{sc.where(*blame)}: {msg}")
    n_sub = sc.task.subtasks
    msg = exceeded("subtasks", f"expected subtasks ({tasks:.3g} tasks x {n_sub} subtasks)", tasks * n_sub, lim)
    if msg:
        raise UserError(f"{sc.where(*blame)}: {msg}")
    net = sc.network
    cells = 1 if net.shared_cell else dev.count
    total = 0.0
    for loc, spec in bandwidth_specs(sc):
        if spec.kind == "trace":
            _check_trace_file(sc, loc, spec, lim)
        # the wireless hop is drawn once per device (or once for a shared cell); any other link once
        n_links = cells if loc[:2] == ("network", "wireless") else 1
        steps = bandwidth_steps(spec, horizon) * n_links
        total += steps
        msg = exceeded("bandwidth_steps", f"bandwidth steps to generate ({n_links} link(s) x "
                                          f"{steps / n_links:.3g} steps over {horizon:g} s)", total, lim)
        if msg:
            raise UserError(f"{sc.where(*loc, spec.kind)}: {msg}")
    _check_topology(sc, lim)
    dec = getattr(sc, "decision", None)
    if dec is not None and dec.time == "calibrated" and dec.costs:
        _check_file(sc, ("decision", "costs"), dec.costs, "decision cost file", lim,
                    "write one with: simoffload calibrate SCENARIO --out FILE")


def mobility_samples(spec: object, n_dev: int, horizon_s: float) -> tuple[float, str, str]:
    """Device positions a mobility spec makes over ``horizon_s`` (grid samples plus random waypoints), its kind,
    and the field that makes most of them (``step``, or ``speed`` for the waypoints).

    Random waypoint: a leg between two uniform points of a ``w x h`` rectangle is on average at least
    ``max(w, h) / 3`` long (``a / 3`` on a segment of length ``a``; 0.52 ``a`` on a square), so a device
    makes at most about ``horizon / (max(w, h) / 3 / speed_max + pause)`` legs on average.
    """
    kind = "random_waypoint" if spec.random_waypoint is not None else "trace"
    sub = getattr(spec, kind)
    grid_n = math.ceil(horizon_s / sub.step) + 1.0
    legs = 0.0
    if kind == "random_waypoint":
        leg_s = max(sub.area) / 3.0 / max(sub.speed) + sub.pause
        legs = horizon_s / leg_s + 2.0 if leg_s > 0 else math.inf
    return n_dev * (grid_n + legs), kind, "speed" if legs > grid_n else "step"


def _check_topology(sc: object, lim: Limits) -> None:
    """Mobility and association: trace files present and within ``trace_bytes``; positions within ``mobility_samples``."""
    from .errors import UserError

    topo = getattr(sc, "topology", None)
    if topo is None:
        return
    mob = topo.mobility
    if mob is not None:
        if mob.trace is not None:
            _check_file(sc, ("topology", "mobility", "trace", "file"), mob.trace.file, "mobility trace", lim)
        n, kind, field = mobility_samples(mob, sc.devices.count, sc.horizon)
        sub = getattr(mob, kind)
        msg = exceeded("mobility_samples", f"device positions to compute ({sc.devices.count} device(s) x "
                                           f"{n / sc.devices.count:.3g} samples and waypoints, step {sub.step:g} s, "
                                           f"over {sc.horizon:g} s)", n, lim)
        if msg:
            raise UserError(f"{sc.where('topology', 'mobility', kind, field)}: {msg}")
    assoc = getattr(topo, "association", None)
    if assoc is not None and assoc.trace is not None:
        _check_file(sc, ("topology", "association", "trace"), assoc.trace, "association trace", lim)


def bandwidth_specs(model: object, loc: tuple = ()) -> list[tuple[tuple, object]]:
    """Every bandwidth spec inside a validated scenario, with its location (e.g. ``("network", "wan", "up")``).

    Found by walking the pydantic models, so links added by new sections are counted too.
    """
    from pydantic import BaseModel

    from .net.channels import BandwidthSpec

    out: list[tuple[tuple, object]] = []
    if isinstance(model, BandwidthSpec):
        return [(loc, model)]
    if isinstance(model, BaseModel):
        for name in type(model).model_fields:
            out += bandwidth_specs(getattr(model, name, None), loc + (name,))
    elif isinstance(model, (list, tuple)):
        for i, x in enumerate(model):
            out += bandwidth_specs(x, loc + (i,))
    return out


def _check_trace_file(sc: object, loc: tuple, spec: object, lim: Limits) -> None:
    """The trace file a link names exists, is a file, and is within ``trace_bytes``."""
    _check_file(sc, (*loc, "trace", "file"), spec.trace.file, "trace file", lim)


def _check_file(sc: object, loc: tuple, file: str, what: str, lim: Limits,
                hint: str = "relative paths are relative to the scenario file") -> None:
    """The file at scenario field ``loc`` exists, is a file, and is within ``trace_bytes``."""
    from pathlib import Path

    from .errors import UserError

    where = sc.where(*loc)
    path = Path(file).expanduser()
    if not path.is_absolute():
        path = Path(sc.base_dir) / path
    if not path.exists():
        raise UserError(f"{where}: {what} {file[:100]!r} not found ({hint})")
    if not path.is_file():
        raise UserError(f"{where}: {file[:100]!r} is not a file")
    size = path.stat().st_size
    if size > lim.trace_bytes:
        raise UserError(f"{where}: the {what} has {size:,} bytes, above the limit of "
                        f"{lim.trace_bytes:,} ({how_to_raise('trace_bytes')})")
