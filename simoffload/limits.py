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
  (the workload limits only: ``tasks``, ``subtasks``, ``memory_bytes``, ``bandwidth_steps``,
  ``mobility_samples``, ``trace_bytes``, ``sweep_runs``);
* in the environment, ``SIMOFFLOAD_LIMIT_<NAME>=N`` (e.g.
  ``SIMOFFLOAD_LIMIT_TASKS=5000000``); this is the only way for the YAML limits
  (``yaml_bytes``, ``yaml_nodes``, ``yaml_depth``), which apply before the
  scenario's own ``limits:`` section can be read.

The scenario's section wins over the environment, which wins over the default.

Memory. What decides whether a big workload may run is the memory it would
hold, not its task count: :func:`memory_estimate` multiplies the expected tasks
by the bytes each holds, with the per-item sizes in :data:`MEMORY_MODEL`
(measured by ``analysis/bench_memory.py``; adjust them there when the engine
changes how it holds records). Two ways of holding records count differently:

* streamed (``simoffload run``): the records go to disk in chunks as the run
  goes, so result rows cost a fixed buffer; the workload is drawn block by
  block (at most :data:`~simoffload.sim.workload.BLOCK` tasks per device at a
  time, or every task when there are at most
  :data:`~simoffload.sim.workload.CACHE_TASKS`). This is checked when a scenario
  is loaded (``validate`` and every command): it is the least any run needs.
* in memory (the Python API ``simoffload.run`` / ``run_scenario`` without a
  directory, sweep points, split runs): every task's rows of every policy are
  held until the tables are built, per the ``output.record`` switches; checked
  by :func:`check_in_memory` when such a run starts.

A scenario is refused only when the estimate exceeds
``memory_bytes``, by default :data:`MEMORY_FRACTION` of the memory this process
can use (physical memory, or the address-space limit ``ulimit -v`` less the
libraries' virtual overhead, whichever is smaller). The ``tasks`` and
``subtasks`` limits stay as coarse caps far above what fits (they catch
``horizon: 1.0e+15`` before any arithmetic on it matters).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields

#: bytes a run holds in memory, per item; measured with ``analysis/bench_memory.py`` (peak RSS slopes,
#: README "Bad input"; the measured value in brackets), rounded up. Edit these when the engine holds its records differently (e.g. streamed
#: to disk: ``task_row``, ``subtask_row`` and ``link_row`` then drop towards 0).
MEMORY_MODEL: dict[str, float] = {
    "base": 250 * 2**20,  # the interpreter, numpy, pandas, pyarrow, SimPy and a small run (measured 207-227 MiB)
    "task": 1400,         # one task of the drawn workload, held for the whole run, shared by all policies (1310)
    "task_row": 800,      # one row of the tasks table, per policy (always recorded) (745)
    "subtask_row": 300,   # one row of the subtasks table per subtask, per policy (output.record.subtasks) (269)
    "link_row": 150,      # one row of the links table, per policy (output.record.links) (edge: 2044 B a task)
    "device": 5500,       # one device (its CPU, links and streams), beyond its tasks (5174)
    # the chunk buffers of a streamed run: 65,536 rows of each table being filled (about 150 B a row in
    # numpy columns while converted) and one Parquet row group being written, per table; fixed
    "stream_buffers": 100 * 2**20,
    # bandwidth paths (see :func:`bandwidth_bytes`): one step of a path held whole (three float64 arrays and
    # three lists of Python floats; measured 120 B), one block checkpoint of a path drawn block by block (999 B)
    "bandwidth_step": 120,
    "bandwidth_block": 1000,
    # trace files (see :func:`trace_bytes_held`): parsed whole (up to 4 MiB), the peak per byte of the file
    # (measured 25.9 for a Mahimahi file, 8.0 Pensieve, 2.6 5G CSV); streamed, the pass's fixed buffers
    # (a 256 KiB chunk as bytes, text and lines, 16,384 buffered steps: traced peak under 8 MB in the tests)
    # and per link one block checkpoint (about 350 B) per 4,096 steps, at most one step per 2 bytes of file
    "trace_byte": 26,
    "trace_streamed": 8 * 2**20,
    "trace_block": 400,
}

#: rows of the links table a task adds per policy, at most in the usual case: its upload and its download
#: (``output.record.links``), plus with ``output.record.queues`` a flows row at each start and end of those
#: transfers and a queue row at each start and end of each subtask run on the edge
LINK_ROWS_PER_TASK = 2
QUEUE_ROWS_PER_TASK = 4
QUEUE_ROWS_PER_SUBTASK = 2

#: the share of usable memory a run may plan to hold (the estimate is rough: leave room)
MEMORY_FRACTION = 0.8

#: address space a run reserves beyond what it touches (measured: VmPeak - VmHWM of a 60K-task run, 1.3 GB)
VIRTUAL_OVERHEAD_BYTES = 3 * 2**29


def usable_memory_bytes() -> int:
    """Physical memory, or the address-space limit (``ulimit -v``) less the virtual overhead if smaller."""
    try:
        phys = int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        phys = 8 * 2**30  # unknown: assume a modest machine
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY and soft > 0:
            phys = min(phys, max(soft - VIRTUAL_OVERHEAD_BYTES, soft // 4))
    except (ImportError, ValueError, OSError):
        pass
    return phys


#: default limits; see the module docstring and README "Bad input"
DEFAULTS: dict[str, int] = {
    "yaml_bytes": 16 * 2**20,       # size of a scenario / config file
    "yaml_nodes": 1_000_000,        # YAML nodes after alias expansion (alias bombs)
    "yaml_depth": 64,               # nesting depth of YAML collections
    "tasks": 100_000_000,           # expected tasks over all devices within the horizon (a coarse cap)
    "subtasks": 1_000_000_000,      # expected tasks x subtasks per task (a coarse cap)
    "memory_bytes": int(MEMORY_FRACTION * usable_memory_bytes()),  # what a run may plan to hold
    "bandwidth_steps": 20_000_000,  # steps of generated bandwidth paths over all links
    "mobility_samples": 20_000_000, # device positions on the mobility grid plus random waypoints
    "trace_bytes": 512 * 2**20,     # size of one trace file (bandwidth, mobility, association)
    "sweep_runs": 100_000,          # sweep points x replicates
}

#: the limits a scenario's ``limits:`` section may set
SCENARIO_LIMITS = ("tasks", "subtasks", "memory_bytes", "bandwidth_steps", "mobility_samples", "trace_bytes",
                   "sweep_runs")


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
    memory_bytes: int = DEFAULTS["memory_bytes"]
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


def bandwidth_bytes(spec: object, horizon_s: float) -> float:
    """Bytes one link's bandwidth model holds at its peak (0 for constant and piecewise links).

    A stochastic path of at most :data:`~simoffload.net.stochastic.WHOLE_STEPS` steps
    is held whole; a longer one as a checkpoint per block plus
    :data:`~simoffload.net.blocked.CACHE_BLOCKS` decoded blocks, whatever its length.
    """
    from .net.blocked import CACHE_BLOCKS
    from .net.stochastic import BLOCK_STEPS, WHOLE_STEPS

    m = MEMORY_MODEL
    steps = bandwidth_steps(spec, horizon_s)
    if steps <= WHOLE_STEPS:
        return steps * m["bandwidth_step"]
    return CACHE_BLOCKS * BLOCK_STEPS * m["bandwidth_step"] + math.ceil(steps / BLOCK_STEPS) * m["bandwidth_block"]


def trace_bytes_held(size: int) -> tuple[float, float]:
    """Bytes a trace file of ``size`` bytes costs: (once per file, per link replaying it).

    Up to :data:`~simoffload.net.trace_stream.WHOLE_TRACE_BYTES` the file is parsed
    whole and each link's model holds its steps; above, the streaming pass's
    buffers once, and per link its decoded blocks and a checkpoint per block.
    """
    from .net.blocked import CACHE_BLOCKS
    from .net.trace_stream import BLOCK_STEPS, WHOLE_TRACE_BYTES

    m = MEMORY_MODEL
    if size <= WHOLE_TRACE_BYTES:
        return float(size * m["trace_byte"]), 0.0
    per_link = CACHE_BLOCKS * BLOCK_STEPS * m["bandwidth_step"] + math.ceil(size / 2 / BLOCK_STEPS) * m["trace_block"]
    return float(m["trace_streamed"]), float(per_link)


def bandwidth_memory(sc: object) -> float:
    """Bytes all the bandwidth models of ``sc`` hold (the wireless hop once per device unless the cell is shared)."""
    from pathlib import Path

    horizon = float(sc.horizon) if math.isfinite(sc.horizon) else 3600.0
    cells = 1 if sc.network.shared_cell else max(int(sc.devices.count), 1)
    total = 0.0
    files: dict[str, int] = {}
    for loc, spec in bandwidth_specs(sc):
        n_links = cells if loc[:2] == ("network", "wireless") else 1
        total += n_links * bandwidth_bytes(spec, horizon)
        if getattr(spec, "kind", None) == "trace":
            path = Path(spec.trace.file).expanduser()
            if not path.is_absolute():
                path = Path(getattr(sc, "base_dir", ".")) / path
            try:
                size = path.stat().st_size
            except OSError:
                continue  # reported by the trace file check
            once, per_link = trace_bytes_held(size)
            files[str(path)] = once  # the parsed file is shared by the links replaying it
            total += n_links * per_link
    return total + sum(files.values())


def held_tasks(sc: object, tasks: float) -> float:
    """Tasks of the drawn workload a streamed run holds at once (see :class:`~simoffload.sim.workload.Workload`).

    Every task when there are at most ``CACHE_TASKS`` (the list is kept for the
    next policy); otherwise the current block of each device, at most ``BLOCK``
    tasks each.
    """
    from .sim.workload import BLOCK, CACHE_TASKS

    if tasks <= CACHE_TASKS:
        return float(tasks)
    n_dev = max(int(sc.devices.count), 1)
    return float(min(tasks, n_dev * min(tasks / n_dev, BLOCK)))


def memory_estimate(sc: object, tasks: float | None = None, streamed: bool = False) -> tuple[float, str]:
    """Bytes a run of ``sc`` would hold at its peak, and how that was counted (for messages).

    In memory: ``base + devices * device + tasks * (task + policies * rows)``, where
    ``rows`` is the bytes of result rows one task leaves per policy under the
    scenario's ``output.record`` switches (:data:`MEMORY_MODEL`,
    :data:`LINK_ROWS_PER_TASK`, ...). Streamed: ``base + stream_buffers + devices
    * device + held * task`` with ``held`` from :func:`held_tasks` (the rows are on
    disk). Several applications count with the largest task structure. Not
    counted: the tasks in the system at once (small unless the system is
    overloaded).

    Args:
        sc: a validated :class:`~simoffload.config.Scenario`.
        tasks: the expected tasks (default: computed from the arrivals).
        streamed: records streamed to disk (``simoffload run``) rather than kept in memory.
    """
    m = MEMORY_MODEL
    if tasks is None:
        tasks = expected_tasks(sc)
    base = m["base"] + sc.devices.count * m["device"] + bandwidth_memory(sc)
    if streamed:
        held = held_tasks(sc, tasks)
        total = base + m["stream_buffers"] + held * m["task"]
        how = (f"records streamed to disk; {held:.3g} of {tasks:.3g} tasks of the workload held at once "
               f"x {_size(m['task'])}")
        return float(total), how
    n_sub = max_subtasks(sc)
    rec = sc.output.record
    row = m["task_row"]
    if rec.subtasks:
        row += n_sub * m["subtask_row"]
    if rec.links:
        links = LINK_ROWS_PER_TASK + (QUEUE_ROWS_PER_TASK + QUEUE_ROWS_PER_SUBTASK * n_sub if rec.queues else 0)
        row += links * m["link_row"]
    n_pol = len(sc.policies)
    total = base + tasks * (m["task"] + n_pol * row)
    how = (f"records kept in memory; {tasks:.3g} tasks x ({_size(m['task'])} + {n_pol} "
           f"polic{'y' if n_pol == 1 else 'ies'} x {_size(row)} of result rows)")
    return float(total), how


def _size(n: float) -> str:
    """Bytes in a short human form: ``980 B``, ``3.1 KB``, ``58.2 GB`` (powers of 1000)."""
    for unit, k in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= k:
            return f"{n / k:.3g} {unit}"
    return f"{n:.0f} B"


def max_subtasks(sc: object) -> int:
    """Subtasks of the largest task structure of ``sc`` (``task.subtasks`` or its applications')."""
    apps = getattr(sc, "applications", None)
    if apps:
        return max(int(a.task.subtasks) for a in apps)
    return int(sc.task.subtasks)


def expected_tasks(sc: object) -> float:
    """Expected tasks of all devices within the horizon (from ``devices.arrivals`` and ``max_tasks``)."""
    dev = sc.devices
    return expected_tasks_per_device(dev.arrivals, sc.horizon, dev.max_tasks) * dev.count


def _blame(sc: object) -> tuple:
    """The field a workload-size message names: a horizon beyond a year, else the arrivals."""
    arr = sc.devices.arrivals
    kind = "times" if arr.times is not None else "periodic" if arr.periodic is not None else "poisson"
    return ("horizon",) if sc.horizon > 3.2e7 and kind != "times" else ("devices", "arrivals", kind)


def _check_memory(sc: object, tasks: float, lim: Limits, streamed: bool) -> None:
    from .errors import UserError

    need, how = memory_estimate(sc, tasks, streamed=streamed)
    if need <= lim.memory_bytes:
        return
    n_sub = max_subtasks(sc)
    advice = ("fewer tasks or devices" if streamed else
              "fewer tasks or policies, output.record switches off, 'simoffload run' (it streams records to disk)")
    raise UserError(f"{sc.where(*_blame(sc))}: expected memory ({how}, {n_sub} subtasks each): about {_size(need)}, "
                    f"above the limit of {_size(lim.memory_bytes)} ({advice}, or {how_to_raise('memory_bytes')})")


def check_in_memory(sc: object) -> None:
    """Refuse a run that keeps its records in memory (API, sweep point, split run) if they would not fit.

    Raises:
        UserError: ``FILE:LINE: field: expected memory (...): about N, above the limit of M (...)``.
    """
    from .errors import UserError

    try:
        lim = sc.effective_limits()
    except ValueError as exc:
        raise UserError(f"{sc.where('limits')}: {exc}") from None
    _check_memory(sc, expected_tasks(sc), lim, streamed=False)


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
    blame = _blame(sc)
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
    # after the step count: a path too long to draw is named as such, not as the memory its index takes
    _check_memory(sc, tasks, lim, streamed=True)
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
