"""Wire a validated :class:`~simoffload.config.Scenario` into engine objects and run it.

The workload and every bandwidth path are drawn once per seed from streams
named after their component (``arrivals/device3``, ``bandwidth/wan/up``, ...)
and reused for every policy, so policies compared in one run see identical
tasks and bandwidth (common random numbers) and their differences are paired.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..config import Arrivals, Scenario, TaskConfig, policy_module_dir
from ..errors import UserError
from ..model.cost import Objective
from ..model.task import Dist, TaskGraph
from ..model.variants import Variants
from ..registry import PolicyNotFound, make_policy
from ..rng import rng_for
from .engine import (
    DeviceSpec,
    PolicyError,
    RunRecords,
    Simulation,
    SystemSpec,
    bandwidth_rows,
)

log = logging.getLogger(__name__)


def _graph_of(task: TaskConfig, where: str, sc: Scenario | None = None) -> TaskGraph:
    if task.edges is None:
        return TaskGraph.chain(task.subtasks)
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(range(task.subtasks))
    g.add_edges_from(task.edges)
    try:
        return TaskGraph.from_networkx(g)[0]
    except ValueError as exc:
        if sc is not None:  # name FILE:LINE of the edges
            raise UserError(f"{sc.where(*(int(x) if x.isdigit() else x for x in where.split('.')), 'edges')}: {exc}") from None
        raise UserError(f"{where}.edges: {exc}") from None


def task_graphs(sc: Scenario) -> list[TaskGraph]:
    """The task structure of each application (one entry for the single ``task:`` form)."""
    if sc.applications is None:
        return [_graph_of(sc.task, "task", sc)]
    return [_graph_of(a.task, f"applications.{i}.task", sc) for i, a in enumerate(sc.applications)]


def task_graph(sc: Scenario) -> TaskGraph:
    """The scenario's task structure: a chain, or the DAG its ``task.edges`` describe.

    Raises:
        UserError: the scenario's applications have different structures (use :func:`task_graphs`).
    """
    graphs = task_graphs(sc)
    if any(g != graphs[0] for g in graphs[1:]):
        raise UserError("the scenario's applications have different task structures; this needs one")
    return graphs[0]


def app_of_device(sc: Scenario, seed: int) -> np.ndarray:
    """Application index of each device: counts by largest remainder of the normalised shares,
    assigned to devices in a random order (stream ``applications/devices``); one application: all 0."""
    n, apps = sc.devices.count, sc.apps()
    if len(apps) == 1:
        return np.zeros(n, dtype=np.int64)
    share = np.array([a.share for a in apps], dtype=float)
    quota = share / share.sum() * n
    counts = np.floor(quota).astype(np.int64)
    for j in np.argsort(-(quota - counts), kind="stable")[: n - int(counts.sum())]:
        counts[j] += 1
    labels = np.repeat(np.arange(len(apps)), counts)
    return labels[rng_for(seed, "applications/devices").permutation(n)]


def objective(sc: Scenario) -> Objective:
    return Objective(
        latency_weight=sc.objective.latency_weight, energy_weight=sc.objective.energy_weight,
        kappa=sc.energy.kappa, tx_power_w=sc.energy.tx_power, rx_power_w=sc.energy.rx_power,
        accuracy_mode=sc.objective.accuracy, accuracy_weight=sc.objective.accuracy_weight,
    )


def task_variants(sc: Scenario, graph: TaskGraph, cycles: np.ndarray, data: np.ndarray,
                  task: TaskConfig | None = None) -> list[Variants] | None:
    """Each task's :class:`Variants` from the scenario's ``task.variants`` and its drawn base sizes.

    Args:
        cycles: (T, n) drawn base cycles of T tasks; data: (T, m) drawn base bytes.
        task: the application's task type (default: the scenario's ``task``).

    Returns:
        T variant sets (one shared object when no variant depends on the drawn
        sizes), or ``None`` when the scenario has no variants.
    """
    vs = (task or sc.task).variants
    if not vs:
        return None
    T = cycles.shape[0]
    acc = np.array([v.accuracy for v in vs])
    names = tuple(v.name for v in vs)
    fixed = all(v.cycles is not None and v.bytes is not None for v in vs)
    if fixed:
        T = min(T, 1)
    vc = np.empty((T, len(vs), graph.n))
    vd = np.empty((T, len(vs), graph.m))
    for k, v in enumerate(vs):
        vc[:, k] = v.cycles if v.cycles is not None else (1.0 if v.cycles_scale is None else v.cycles_scale) * cycles[:T]
        vd[:, k] = v.bytes if v.bytes is not None else (1.0 if v.bytes_scale is None else v.bytes_scale) * data[:T]
        if v.input_bytes is not None:
            vd[:, k, graph.input_edges] = v.input_bytes
        if v.output_bytes is not None:
            vd[:, k, graph.output_edges] = v.output_bytes
    out = [Variants(acc, vc[t], vd[t], names) for t in range(T)]
    if fixed:
        return out * cycles.shape[0] if out else []
    return out


def _requirements(sc: Scenario, device: int, size: int, seed: int, task: TaskConfig | None = None) -> np.ndarray:
    """Accuracy requirement of each of ``size`` tasks of ``device`` (stream ``accuracy/device{i}``)."""
    spec = (task or sc.task).accuracy_req
    if isinstance(spec, dict) and "per_device" in spec:
        spec = spec["per_device"][device % len(spec["per_device"])]
    d = Dist(spec, "fraction")
    if d.form == "constant":
        return np.full(size, d.args[0])
    return d.sample(rng_for(seed, f"accuracy/device{device}"), size)


def _arrival_times(sc: Scenario, rng: np.random.Generator, arr: Arrivals | None = None,
                   cap: int | None = None) -> np.ndarray:
    arr = sc.devices.arrivals if arr is None else arr
    cap = sc.devices.max_tasks if cap is None else cap
    horizon = sc.horizon
    limit = cap if cap is not None else math.inf
    if arr.times is not None:
        t = np.asarray(arr.times, dtype=float)
    elif arr.periodic is not None:
        k = int(min(limit, math.floor((horizon - arr.periodic.offset) / arr.periodic.interval) + 1))
        t = arr.periodic.offset + arr.periodic.interval * np.arange(max(k, 0))
    else:
        rate = arr.poisson.rate
        chunks, total, last = [], 0, 0.0
        while last < horizon and total < limit:
            k = int(min(max(16, rate * (horizon - last) * 1.2 + 10), 1_000_000))
            gaps = rng.exponential(1.0 / rate, k)
            t = last + np.cumsum(gaps)
            chunks.append(t)
            total += k
            last = float(t[-1])
        t = np.concatenate(chunks) if chunks else np.zeros(0)
    t = t[t < horizon]
    return t[: int(limit)] if math.isfinite(limit) else t


def _decision_costs(sc: Scenario, seed: int, graph: TaskGraph) -> Callable[[str, Any], Callable[[], float]] | None:
    """For ``decision.time: calibrated``: (label, policy) -> the function charging each decision.

    The cost file is read (and checked against the scenario's policies) here, so
    a bad or incomplete file fails before any run. Draws come from the stream
    ``decision-time/<label>``: same seed, same charged times.
    """
    if sc.decision.time != "calibrated":
        return None
    from .calibration import cost_sampler, load_costs

    path = Path(sc.decision.costs)
    if not path.is_absolute():
        path = sc.base_dir / path
    try:
        costs = load_costs(path)  # errors: the cost file's FILE:LINE, then the scenario line naming it
    except UserError as exc:
        raise blame(sc, exc, "decision", "costs") from None
    where = sc.where("decision", "costs")
    if costs.subtasks is not None and costs.subtasks != graph.n:
        raise UserError(f"{where}: {path.name} was measured for {costs.subtasks}-subtask tasks, "
                        f"the scenario's have {graph.n} (calibrate again for this scenario)")
    missing = [p.display for p in sc.policies if p.display not in costs.policies and costs.default is None]
    if missing:
        raise UserError(f"{where}: {path.name} has no entry for policy {missing[0]!r} and no default "
                        f"(it lists {', '.join(costs.policies) or 'none'}; run simoffload calibrate)")

    def factory(label: str, policy: Any) -> Callable[[], float]:
        entry = costs.policies.get(label, costs.default)
        if entry is None:
            raise UserError(f"decision.costs: {path} has no entry for policy {label!r}")
        ops = float(policy.decision_ops(graph)) if entry.ops_per_s is not None else 0.0
        return cost_sampler(entry, ops, sc.decision.charge, rng_for(seed, f"decision-time/{label}"))

    return factory


@dataclass
class World:
    """Everything that is the same for every policy of one (scenario, seed)."""

    scenario: Scenario
    seed: int
    graph: TaskGraph
    system: SystemSpec
    bandwidth: dict[str, Any] = field(default_factory=dict)  # link name -> model


def build_world(sc: Scenario, seed: int | None = None) -> World:
    """Draw the workload and the bandwidth realisations for one seed."""
    from ..net.channels import build_bandwidth, make_estimator
    from ..net.latency import build_latency

    seed = sc.seed if seed is None else int(seed)
    graphs = task_graphs(sc)
    graph = graphs[0]
    apps = sc.apps()
    dev_app = app_of_device(sc, seed)
    n_dev = sc.devices.count
    cpu = Dist(sc.devices.cpu, "hz").sample(rng_for(seed, "devices/cpu"), n_dev)
    if not np.all(np.isfinite(cpu) & (cpu > 0)):
        bad = float(cpu[~(np.isfinite(cpu) & (cpu > 0))][0])
        raise UserError(f"{sc.where('devices', 'cpu')}: device CPU speed must be finite and > 0 Hz "
                        f"(the distribution drew {bad:g} Hz)")
    dists = [a.task.dists() for a in apps]
    dev_deadline = (Dist(sc.devices.deadline, "s").sample(rng_for(seed, "deadlines/devices"), n_dev)
                    if sc.devices.deadline is not None else None)
    task_deadline = [Dist(a.task.deadline, "s") if a.task.deadline is not None else None for a in apps]
    from .workload import Workload

    # drawn lazily, block by block, when the engine iterates it (same draws as drawing every task at once)
    tasks = Workload(sc, seed, graphs, apps, dev_app, dists, dev_deadline, task_deadline)
    for _ in zip(range(1), tasks):  # draw the first block now: a bad draw fails here, not mid-run
        pass

    horizon = sc.horizon

    def bw(spec: Any, stream: str, *loc: str) -> Any:
        try:
            return build_bandwidth(spec, seed=seed, stream=stream, horizon_s=horizon, base_dir=sc.base_dir)
        except UserError as exc:
            raise blame(sc, exc, "network", *loc, spec.kind if hasattr(spec, "kind") else "") from None

    def lat(hop: Any, key: str) -> tuple[Any, Any]:
        """(up, down) latency models of a hop; the downlink's defaults to the uplink's spec."""
        down_spec = hop.latency if hop.latency_down is None else hop.latency_down
        return (build_latency(hop.latency, stream=f"latency/{key}_up", base_dir=sc.base_dir),
                build_latency(down_spec, stream=f"latency/{key}_down", base_dir=sc.base_dir))

    models: dict[str, Any] = {}
    devices = []
    cells = range(1) if sc.network.shared_cell else range(n_dev)
    ups, downs, lats = [], [], []
    for i in cells:
        key = "cell" if sc.network.shared_cell else f"device{i}"
        up = bw(sc.network.wireless.up, f"bandwidth/{key}/up", "wireless", "up")
        down = (up if sc.network.wireless.down is None
                else bw(sc.network.wireless.down, f"bandwidth/{key}/down", "wireless", "down"))
        models[f"{key}_up"], models[f"{key}_down"] = up, down
        ups.append(up)
        downs.append(down)
        lats.append(lat(sc.network.wireless, key))
    for i in range(n_dev):
        j = 0 if sc.network.shared_cell else i
        devices.append(DeviceSpec(float(cpu[i]), ups[j], downs[j], *lats[j]))
    wan_up = bw(sc.network.wan.up, "bandwidth/wan/up", "wan", "up")
    wan_down = wan_up if sc.network.wan.down is None else bw(sc.network.wan.down, "bandwidth/wan/down", "wan", "down")
    models["wan_up"], models["wan_down"] = wan_up, wan_down
    wan_lat_up, wan_lat_down = lat(sc.network.wan, "wan")

    topology = None
    if isinstance(sc.edge, list):
        from .topology import build_topology

        topology = build_topology(sc, seed, devices, models, bw)
    edge0 = sc.edge[0] if isinstance(sc.edge, list) else sc.edge
    if sc.decision.time == "calibrated" and len({g.n for g in graphs}) > 1:
        raise UserError("decision.time: calibrated costs are measured for one task size; the applications have "
                        f"{sorted({g.n for g in graphs})} subtasks (use modelled decision time)")
    rec = sc.output.record
    system = SystemSpec(
        graph=graph, graphs=graphs, apps=[a.name for a in apps], tasks=tasks, devices=devices, edge_cores=edge0.cores, edge_hz=edge0.cpu,
        cloud_hz=sc.cloud.cpu, wan_up=wan_up, wan_down=wan_down, wan_lat_up=wan_lat_up, wan_lat_down=wan_lat_down,
        seed=seed, shared_cell=sc.network.shared_cell,
        sharing=sc.network.sharing, horizon_s=horizon, decision_time=sc.decision.time,
        cycles_per_op=sc.decision.cycles_per_op, decision_cost=_decision_costs(sc, seed, graph),
        decision_on_edge_cpu=sc.decision.on_edge_cpu,
        decision_priority=sc.decision.priority,
        request_bytes=sc.decision.request, reply_bytes=sc.decision.reply,
        estimator=make_estimator(sc.decision.estimator), objective=objective(sc),
        dag_execution=sc.execution.dag, on_deadline=sc.execution.on_deadline, record_subtasks=rec.subtasks, record_links=rec.links,
        record_queues=rec.queues, topology=topology,
    )
    return World(sc, seed, graph, system, models)


_FILE_LINE = re.compile(r"^[^\s:][^:]*:\d+: ")


def blame(sc: Scenario, exc: Exception, *loc: Any) -> UserError:
    """``exc`` as a UserError that names ``FILE:LINE: field`` of the scenario field at ``loc``.

    A message that already starts with ``FILE:LINE:`` (e.g. a malformed trace
    file's own line) keeps it and gets the scenario field appended.
    """
    loc = tuple(x for x in loc if x != "")
    msg = str(exc)
    if _FILE_LINE.match(msg):
        return UserError(f"{msg} (from {sc.where(*loc)})")
    return UserError(f"{sc.where(*loc)}: {msg.removeprefix(': ')}")


def _blame_policy(sc: Scenario, i: int, exc: UserError) -> UserError:
    """A policy's check/prepare error, naming ``policies.i`` (or ``policies.i.params.X`` for ``"params.X: ..."``)."""
    msg = str(exc)
    if msg.startswith("params."):
        field, _, rest = msg.partition(":")
        return blame(sc, UserError(rest.strip()), "policies", i, "params", field.removeprefix("params."))
    return blame(sc, exc, "policies", i)


def make_policy_checked(sc: Scenario, i: int) -> Any:
    """Instantiate policy ``i`` of the scenario (or take its Python instance); errors name its FILE:LINE."""
    p = sc.policies[i]
    if getattr(p, "instance", None) is not None:  # a Policy object given in Python: run that very object
        return p.instance
    try:
        return make_policy(p.name, policy_module_dir(p.module_dir, sc.base_dir), **p.params)
    except PolicyNotFound as exc:
        raise blame(sc, exc, "policies", i) from None


def _check_policy(sc: Scenario, i: int, pol: Any, graphs: list[TaskGraph]) -> None:
    """``pol.check`` on each distinct task structure; errors name the policy's FILE:LINE (and application)."""
    for j, g in enumerate(graphs):
        if g in graphs[:j]:
            continue
        try:
            pol.check(g)
        except UserError as exc:
            if sc.applications is None:
                raise _blame_policy(sc, i, exc) from None
            raise UserError(f"{sc.where('policies', i)} ({sc.policies[i].display}): application "
                            f"{sc.applications[j].name!r}: {exc}") from None


def check_policies(sc: Scenario) -> None:
    """Every check of the scenario's policies that needs no simulation and no training (``validate``)."""
    graphs = task_graphs(sc)
    for i in range(len(sc.policies)):
        pol = make_policy_checked(sc, i)
        _check_policy(sc, i, pol, graphs)


def make_policies(sc: Scenario, seed: int, prepare_s: dict[str, float] | None = None,
                  notify: Callable[[str], None] | None = None) -> list[tuple[str, Any]]:
    """Instantiate the scenario's policies, each reset with its own named random stream, and prepare them.

    ``prepare_s``, if given, receives each policy's wall-clock ``prepare`` time (s) by label.
    Before any model is trained, ``notify`` (default: a logged warning) receives
    one line naming each learned model that is not in the model cache and a rough
    training time, so a long wait never comes unannounced.
    """
    import time as _time

    out = []
    for i, p in enumerate(sc.policies):
        pol = make_policy_checked(sc, i)
        pol.reset(rng_for(seed, f"policy/{p.display}"))
        out.append((p.display, pol))
    graphs = task_graphs(sc)
    for i, (_, pol) in enumerate(out):
        _check_policy(sc, i, pol, graphs)
    from ..learn.cache import training_notice

    for line in training_notice(out):
        (notify or log.warning)(line)
    for i, (label, pol) in enumerate(out):
        w0 = _time.perf_counter()
        for j, g in enumerate(graphs):  # once per distinct task structure
            if g in graphs[:j]:
                continue
            try:
                pol.prepare(g)  # learned policies load or train their model here, outside the clock
            except UserError as exc:
                if sc.applications is None:
                    raise _blame_policy(sc, i, exc) from None
                raise UserError(f"{sc.where('policies', i)} ({label}): application "
                                f"{sc.applications[j].name!r}: {exc}") from None
        if prepare_s is not None:
            prepare_s[label] = _time.perf_counter() - w0
    return out


@dataclass
class RunResult:
    """Records of every policy of one run, plus what is shared between them.

    ``failed`` maps the label of each policy whose run stopped on a
    :class:`~simoffload.sim.engine.PolicyError` to the error message; the other
    policies' runs are complete and kept.
    """

    world: World
    runs: list[RunRecords]
    failed: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False  # stopped by Ctrl-C: ``runs`` holds the policies that finished
    prepare_s: dict[str, float] = field(default_factory=dict)  # wall clock of each policy's prepare (meta.json only)
    policies: list[tuple[str, Any]] = field(default_factory=list)  # (label, policy object) as run

    sink: Any = None  # the RunSink the records streamed through (None: in memory)

    def link_rows(self) -> list[tuple]:
        """Bandwidth offered by each link over the run (once: identical for every policy)."""
        if not self.world.system.record_links:
            return []
        end = max([r.end_s for r in self.runs] + [1e-9])
        return _bandwidth_rows(self.world, end)


def _bandwidth_rows(world: World, end: float) -> list[tuple]:
    rows: list[tuple] = []
    for name, model in world.bandwidth.items():
        rows += bandwidth_rows(name, model, end)
    return rows


def predicted_link_rows(world: World) -> list[tuple]:
    """The bandwidth rows of a run of ``world``, known before it ends.

    Every policy's run that completes ends at the horizon (SimPy's ``run(until=)``),
    so the rows over [0, horizon] are those :meth:`RunResult.link_rows` gives for
    any run with at least one completed policy (:func:`tables_from` checks it).
    """
    if not world.system.record_links:
        return []
    return _bandwidth_rows(world, max(float(world.system.horizon_s), 1e-9))


def _site_simulation() -> Any:
    from .engine_sites import SiteSimulation

    return SiteSimulation


def run_world(world: World, policies: list[tuple[str, Any]],
              on_task_done: Callable[[], None] | None = None, sink: Any = None) -> RunResult:
    """Run every policy on the same world, one after another.

    A policy that fails (raises, or returns an invalid placement) is recorded in
    ``failed`` and the others still run.

    ``sink`` (a :class:`~simoffload.sim.records.RunSink`) streams the records
    into a directory as they fill (a failed or interrupted policy's rows are cut
    back out); without one they stay in memory.
    """
    runs, failed = [], {}
    for label, pol in policies:
        log.info("running policy %s", label)
        sim = None
        try:
            sim_class = Simulation if world.system.topology is None else _site_simulation()
            sim = sim_class(world.system, pol, label, on_task_done)
            if sink is not None:
                sink.begin(sim.rec)
            runs.append(sim.run())
            if sink is not None:
                sink.end(sim.rec, True)
        except PolicyError as exc:
            log.debug("%s", exc)
            failed[label] = str(exc)
            if sink is not None and sim is not None:
                sink.end(sim.rec, False)
        except KeyboardInterrupt:
            if sink is not None and sim is not None:
                sink.end(sim.rec, False)
            result = RunResult(world, runs, failed, interrupted=True)  # keep what finished
            result.sink = sink
            return result
    result = RunResult(world, runs, failed)
    result.sink = sink
    return result


def run_scenario(sc: Scenario, seed: int | None = None, progress: bool = False,
                 notify: Callable[[str], None] | None = None, stream_to: Any = None,
                 fmt: str = "parquet") -> RunResult:
    """Build the world for ``seed`` (default: the scenario's) and run all its policies.

    ``notify`` receives a line for each learned model that must be trained first
    (default: logged as a warning); see :func:`make_policies`. ``stream_to``: a
    directory (the run's staging directory) into which the records stream as
    ``fmt`` tables while the run goes (:class:`~simoffload.sim.records.RunSink`);
    without it they stay in memory.
    """
    from .._progress import bar as progress_bar
    from .._progress import shown

    seed = sc.seed if seed is None else int(seed)
    if stream_to is None:  # every record of every policy is held until the tables are built
        from .. import limits

        limits.check_in_memory(sc)
    world = build_world(sc, seed)
    prepare_s: dict[str, float] = {}
    policies = make_policies(sc, seed, prepare_s, notify)
    sink = None
    if stream_to is not None:
        from .records import RunSink

        sink = RunSink(stream_to, fmt, lambda: predicted_link_rows(world))
    if not shown(progress):
        result = run_world(world, policies, sink=sink)
    else:
        total = len(world.system.tasks) * len(policies)
        with progress_bar(total=total, desc=sc.name, unit="task", mininterval=0.5, leave=False) as bar:
            counter = [0]

            def tick() -> None:
                counter[0] += 1
                if counter[0] >= 256:
                    bar.update(counter[0])
                    counter[0] = 0

            result = run_world(world, policies, tick, sink=sink)
            bar.update(counter[0])
    result.prepare_s = prepare_s
    result.policies = policies
    return result
