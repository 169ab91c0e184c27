"""Scenario files: YAML validated on load (pydantic), friendly units, clear errors.

``load_scenario(path)`` parses with ``yaml.safe_load`` semantics (no Python
object construction), validates every field with defaults, and raises
:class:`~simoffload.errors.UserError` with one line naming ``file:line``, the
field's dotted path and the bad value. Units are converted here, once:
``"2 MB/s"``, ``"1.5 GHz"``, ``"10 MB"``, ``"500 ms"`` become SI numbers.

The full format is documented in ``docs/scenarios.md``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from . import limits as _limits
from .errors import UserError
from .strict import StrictModel
from .yamlio import Document, load_yaml, shorten
from .model.task import PAPER_DISTRIBUTIONS, Dist, size_dist
from .units import UnitError, parse_quantity


def _q(kind: str, allow_inf: bool = False) -> BeforeValidator:
    def conv(v: Any) -> float:
        if v is None:
            raise ValueError("a value is required")
        try:
            x = parse_quantity(v, kind)
        except UnitError as exc:
            raise ValueError(str(exc)) from None
        if math.isnan(x) or (math.isinf(x) and not allow_inf):
            raise ValueError("must be finite")
        return x

    return BeforeValidator(conv)


Seconds = Annotated[float, _q("s")]
Bytes = Annotated[float, _q("bytes")]
Hz = Annotated[float, _q("hz")]
HzOrInf = Annotated[float, _q("hz", allow_inf=True)]
PerSecond = Annotated[float, _q("per_s")]
Watts = Annotated[float, _q("w")]


_Strict = StrictModel  # the base of every scenario section (see simoffload.strict)


def _finite_dist(v: Any, kind: str) -> Dist:
    """``Dist(v, kind)`` whose parameters are all finite (ValueError otherwise)."""
    if isinstance(v, bool):
        raise ValueError("expected a value or a distribution, not a boolean")
    d = Dist(v, kind)
    if not all(math.isfinite(a) for a in d.args):
        raise ValueError(f"a distribution's parameters must be finite (got {shorten(v)})")
    return d


def _dist(kind: str) -> BeforeValidator:
    def conv(v: Any) -> Any:
        try:
            _finite_dist(v, kind)
        except (ValueError, UnitError, TypeError) as exc:
            raise ValueError(str(exc)) from None
        return v

    return BeforeValidator(conv)


class PoissonArrivals(_Strict):
    rate: PerSecond = Field(gt=0, description="mean arrivals per second per device")


class PeriodicArrivals(_Strict):
    interval: Seconds = Field(gt=0, description="time between arrivals")
    offset: Seconds = Field(default=0.0, ge=0, description="time of the first arrival")


class Arrivals(_Strict):
    """Exactly one of poisson, periodic, times."""

    poisson: PoissonArrivals | None = None
    periodic: PeriodicArrivals | None = None
    times: list[Annotated[float, _q("s")]] | None = None

    @model_validator(mode="after")
    def _one(self) -> "Arrivals":
        given = [k for k in ("poisson", "periodic", "times") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of poisson, periodic, times (got {given or 'none'})")
        if self.times is not None:
            if any(t < 0 for t in self.times):
                raise ValueError("times: arrival times must be non-negative")
            if any(b < a for a, b in zip(self.times, self.times[1:])):
                raise ValueError("times: arrival times must be non-decreasing")
        return self


Fraction = Annotated[float, _q("fraction")]


class VariantConfig(_Strict):
    """One variant of the task (see docs/scenarios.md, "Task variants").

    Cycles: an explicit per-subtask list ``cycles`` or ``cycles_scale`` times
    the drawn base cycles (default 1). Bytes: an explicit per-edge list
    ``bytes`` or ``bytes_scale`` times the drawn base bytes (default 1), then
    ``input_bytes`` / ``output_bytes`` replace the device input / output edges.
    """

    name: str = ""
    accuracy: Fraction = Field(ge=0, le=1, description="a fraction in [0, 1] or a percentage (\"70.6 %\")")
    cycles: list[Annotated[float, _q("cycles")]] | None = None
    cycles_scale: float | None = Field(default=None, ge=0)
    bytes: list[Annotated[float, _q("bytes")]] | None = None
    bytes_scale: float | None = Field(default=None, ge=0)
    input_bytes: Bytes | None = Field(default=None, ge=0)
    output_bytes: Bytes | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_form(self) -> "VariantConfig":
        if self.cycles is not None and self.cycles_scale is not None:
            raise ValueError("give cycles or cycles_scale, not both")
        if self.bytes is not None and self.bytes_scale is not None:
            raise ValueError("give bytes or bytes_scale, not both")
        for key in ("cycles", "bytes"):
            v = getattr(self, key)
            if v is not None and any(not (x >= 0) or math.isinf(x) for x in v):
                raise ValueError(f"{key} must be finite and non-negative")
        return self


def _req(v: Any) -> Any:
    if isinstance(v, dict) and set(v) == {"per_device"}:
        lst = v["per_device"]
        if not isinstance(lst, list) or not lst:
            raise ValueError("per_device needs a non-empty list of requirements (DIST each)")
        items = lst
    else:
        items = [v]
    for x in items:
        try:
            d = Dist(x, "fraction")
        except (ValueError, UnitError) as exc:
            raise ValueError(str(exc)) from None
        hi = {"constant": d.args[0], "uniform": d.args[-1], "choice": max(d.args)}.get(d.form)
        if hi is None:
            raise ValueError("an accuracy requirement is a value, uniform or choice (it must stay within [0, 1])")
        if hi > 1:
            raise ValueError("an accuracy requirement is a fraction in [0, 1]")
    return v


class TaskConfig(_Strict):
    subtasks: int = Field(default=6, ge=1, le=64, description="chain length (ignored when edges is given)")
    edges: list[tuple[int, int]] | None = Field(default=None, description="DAG edges between subtasks 0..subtasks-1")
    distribution: Any = Field(default="paper-5.1", description="paper-5.1, paper-5.2 or {cycles: DIST, bytes: DIST}")
    deadline: Annotated[Any, _dist("s")] | None = Field(
        default=None, description="deadline after arrival, drawn per task (a value or a distribution); none by default")
    variants: list[VariantConfig] | None = Field(default=None, min_length=1,
                                                 description="the task's variants; variant 0 is the default")
    accuracy_req: Annotated[Any, BeforeValidator(_req)] = Field(
        default=0.0, description="accuracy requirement per task: DIST (fractions) or {per_device: [DIST, ...]}")

    @field_validator("distribution", mode="before")
    @classmethod
    def _check_dist(cls, v: Any) -> Any:
        if isinstance(v, str):
            if v not in PAPER_DISTRIBUTIONS:
                raise ValueError(f"unknown distribution {v!r} (expected {', '.join(sorted(PAPER_DISTRIBUTIONS))} or a mapping)")
            return v
        if not isinstance(v, dict):
            raise ValueError("expected a distribution name or a mapping with cycles and bytes")
        extra = set(v) - {"cycles", "bytes"}
        if extra or set(v) != {"cycles", "bytes"}:
            raise ValueError(f"a task distribution mapping has exactly the keys cycles and bytes (got {sorted(v)})")
        for key, kind in (("cycles", "cycles"), ("bytes", "bytes")):
            specs = v[key] if isinstance(v[key], list) else [v[key]]  # a list: one DIST per subtask / data edge
            if not specs:
                raise ValueError(f"{key}: an empty list (give one DIST, or one per {'subtask' if key == 'cycles' else 'data edge'})")
            for i, spec in enumerate(specs):
                try:
                    _finite_dist(spec, kind)
                except (ValueError, UnitError, TypeError) as exc:
                    where = f"{key}.{i}" if isinstance(v[key], list) else key
                    raise ValueError(f"{where}: {exc}") from None
        return v

    @model_validator(mode="after")
    def _check_edges(self) -> "TaskConfig":
        if self.edges is not None:
            for u, w in self.edges:
                if not (0 <= u < self.subtasks and 0 <= w < self.subtasks) or u == w:
                    raise ValueError(f"edges: edge ({u}, {w}) must join two different subtasks in 0..{self.subtasks - 1}")
        if isinstance(self.distribution, dict):
            cyc, byt = self.distribution["cycles"], self.distribution["bytes"]
            if isinstance(cyc, list) and len(cyc) != self.subtasks:
                raise ValueError(f"distribution.cycles: {self.subtasks} subtasks need {self.subtasks} distributions "
                                 f"(got {len(cyc)})")
            if isinstance(byt, list):
                m = _data_edges(self.subtasks, self.edges)
                if m is not None and len(byt) != m:
                    raise ValueError(f"distribution.bytes: {m} data edges need {m} distributions (got {len(byt)}; "
                                     f"a chain of n subtasks has n + 1: input, n - 1 between subtasks, output)")
        return self

    @field_validator("variants")
    @classmethod
    def _variant_lengths(cls, v: list[VariantConfig] | None, info: Any) -> list[VariantConfig] | None:
        if not v:
            return v
        n = info.data.get("subtasks", 6)
        m = _data_edges(n, info.data.get("edges"))
        if m is None:
            return v  # reported where the graph is built
        for i, var in enumerate(v):
            if var.cycles is not None and len(var.cycles) != n:
                raise ValueError(f"variant {i}: cycles: {n} subtasks need {n} values, got {len(var.cycles)}")
            if var.bytes is not None and len(var.bytes) != m:
                raise ValueError(f"variant {i}: bytes: {m} data edges need {m} values, got {len(var.bytes)}")
        return v

    def dists(self) -> tuple[Any, Any]:
        """Cycles and bytes: a :class:`Dist` each, or a per-position list (``PositionDists``)."""
        spec = PAPER_DISTRIBUTIONS[self.distribution] if isinstance(self.distribution, str) else self.distribution
        return size_dist(spec["cycles"], "cycles"), size_dist(spec["bytes"], "bytes")


def _data_edges(n: int, edges: list[tuple[int, int]] | None) -> int | None:
    """Data edges (input, inner, output) of a chain of ``n`` or of the DAG ``edges``; None if not a DAG."""
    if edges is None:
        return n + 1
    import networkx as nx

    from .model.task import TaskGraph

    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edges)
    try:
        return TaskGraph.from_networkx(g)[0].m
    except ValueError:
        return None


class DevicesConfig(_Strict):
    count: int = Field(default=1, ge=1, le=100_000)
    cpu: Annotated[Any, _dist("hz")] = Field(default="1 GHz", description="device CPU speed (a value or a distribution, drawn once per device)")
    arrivals: Arrivals = Field(default_factory=lambda: Arrivals(periodic=PeriodicArrivals(interval=60.0)))
    max_tasks: int | None = Field(default=None, ge=1, description="tasks per device at most")
    deadline: Annotated[Any, _dist("s")] | None = Field(
        default=None, description="deadline after arrival, drawn once per device (task.deadline takes precedence)")


class ApplicationConfig(_Strict):
    """One task type (EdgeCloudSim's application profile): its structure, sizes, deadline, arrivals, devices."""

    name: str = Field(min_length=1, description="label in the tasks table's app column")
    share: float = Field(gt=0, description="share of the devices running it (shares are normalised to sum 1)")
    task: TaskConfig = Field(default_factory=TaskConfig)
    arrivals: Arrivals | None = Field(default=None, description="per device; default: devices.arrivals")
    max_tasks: int | None = Field(default=None, ge=1, description="per device; default: devices.max_tasks")


class EdgeConfig(_Strict):
    cores: int = Field(default=1, ge=1, le=4096)
    cpu: Hz = Field(default=2.5e9, gt=0, description="speed of one edge core")


class CloudConfig(_Strict):
    cpu: HzOrInf = Field(default=math.inf, gt=0, allow_inf_nan=True,
                         description="cloud speed; inf = zero execution time (the paper)")


def _bw(v: Any) -> Any:
    from .net.channels import parse_bandwidth_spec

    try:
        return parse_bandwidth_spec(v, where="")
    except (UserError, ValueError, UnitError) as exc:
        raise ValueError(str(exc).removeprefix(": ")) from None  # pydantic adds the field path and line


Bandwidth = Annotated[Any, BeforeValidator(_bw)]


def _lat(v: Any) -> Any:
    from .net.latency import parse_latency_spec

    return None if v is None else parse_latency_spec(v)


Latency = Annotated[Any, BeforeValidator(_lat)]


class HopConfig(_Strict):
    up: Bandwidth = Field(description="uplink capacity (device->edge, or edge->cloud)")
    down: Bandwidth | None = Field(default=None, description="downlink capacity; default: the same model as up")
    latency: Latency = Field(default=None, description="one-way propagation latency of the uplink: a time, a "
                             "distribution (per transfer) or {trace: ...}; default none (0 s)")
    latency_down: Latency = Field(default=None, description="the downlink's; default: the same as latency")


class NetworkConfig(_Strict):
    sharing: Literal["fair", "fifo"] = "fair"
    shared_cell: bool = Field(default=False, description="all devices share one wireless cell")
    wireless: HopConfig = Field(default_factory=lambda: HopConfig(up=_bw("1 MB/s")))
    wan: HopConfig = Field(default_factory=lambda: HopConfig(up=_bw("2 MB/s")))


class SiteWanConfig(HopConfig):
    latency: Seconds = Field(default=0.0, ge=0, description="one-way propagation latency of the WAN")


class SiteConfig(_Strict):
    """One edge site of a several-site ``edge:`` list (see docs/topology.md)."""

    name: str | None = Field(default=None, description="default: site<index>")
    cores: int = Field(default=1, ge=1, le=4096)
    cpu: Hz = Field(default=2.5e9, gt=0, description="speed of one core")
    position: tuple[float, float] | None = Field(default=None, description="[x, y] in metres")
    wan: SiteWanConfig | None = Field(default=None, description="this site's link to the cloud (default: network.wan)")
    wireless: HopConfig | None = Field(
        default=None, description="this cell's wireless rate (a trace or model) for every device associated with it")

    @model_validator(mode="after")
    def _one_latency_per_hop(self) -> "SiteConfig":
        # the several-site engine has one WAN latency per site (both ways) and topology.wireless_latency for every
        # cell: refuse the fields it would otherwise ignore
        if self.wan is not None and self.wan.latency_down is not None:
            raise ValueError("wan.latency_down: a site's WAN has one latency, both ways (give wan.latency)")
        if self.wireless is not None and (self.wireless.latency is not None or self.wireless.latency_down is not None):
            raise ValueError("wireless.latency: give topology.wireless_latency (one latency for every cell)")
        return self


class ManLinkConfig(_Strict):
    between: tuple[str | int, str | int] = Field(description="two site names (or indices)")
    bandwidth: Bandwidth = Field(description="capacity each way (the first site to the second)")
    back: Bandwidth | None = Field(default=None, description="capacity second -> first (default: the same model)")
    latency: Seconds = Field(default=0.0, ge=0, description="one-way propagation latency")


class AssociationConfig(_Strict):
    """Which site each device is associated with: exactly one of fixed, nearest, trace."""

    fixed: list[str | int] | None = Field(default=None, description="site per device (cycled if shorter)")
    nearest: bool | None = Field(default=None, description="the nearest site by position (needs positions)")
    trace: str | None = Field(default=None, description="CSV file: time, device, site")

    @model_validator(mode="after")
    def _one(self) -> "AssociationConfig":
        given = [k for k in ("fixed", "nearest", "trace") if getattr(self, k) not in (None, False)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of fixed, nearest, trace (got {given or 'none'})")
        if self.fixed is not None and not self.fixed:
            raise ValueError("fixed needs at least one site")
        return self


class TopologyConfig(_Strict):
    """Several edge sites: the MAN, association, placement reach and the handover rule (docs/topology.md)."""

    man: list[ManLinkConfig] = Field(default_factory=list, description="links between sites")
    placement: Literal["own", "man"] = Field(
        default="own", description="own: placements name the own site only (codes 0/1/2); man: also other sites")
    association: AssociationConfig = Field(default_factory=lambda: AssociationConfig(fixed=[0]))
    handover: Literal["continue", "restart", "fail"] = "continue"
    wireless_latency: Seconds = Field(default=0.0, ge=0, description="one-way propagation latency of the wireless hop")
    mobility: Any = Field(default=None, description="random_waypoint or trace (docs/topology.md)")
    wireless: Any = Field(default=None, description="distance-based wireless (docs/topology.md)")

    @field_validator("mobility", mode="before")
    @classmethod
    def _mob(cls, v: Any) -> Any:
        if v is None:
            return v
        from .net.mobility import parse_mobility

        return parse_mobility(v)

    @field_validator("wireless", mode="before")
    @classmethod
    def _wl(cls, v: Any) -> Any:
        if v is None:
            return v
        from .net.mobility import parse_radio

        return parse_radio(v)


def _est(v: Any) -> Any:
    from .net.channels import parse_estimator_spec

    try:
        return parse_estimator_spec(v, where="")
    except (UserError, ValueError, UnitError) as exc:
        raise ValueError(str(exc).removeprefix(": ")) from None


class DecisionConfig(_Strict):
    time: Literal["modelled", "measured", "calibrated"] = "modelled"
    cycles_per_op: float = Field(default=1.0, ge=0)
    costs: str | None = Field(default=None, description="decision cost file for time: calibrated (relative to the scenario file)")
    charge: Literal["sample", "mean"] = Field(default="sample", description="calibrated: a seeded draw from the measured distribution, or its mean")
    on_edge_cpu: bool = True
    priority: bool = Field(default=True, description="decisions wait ahead of queued subtasks for an edge core")
    request: Bytes = Field(default=0.0, ge=0)
    reply: Bytes = Field(default=0.0, ge=0)
    estimator: Annotated[Any, BeforeValidator(_est)] = Field(default="oracle")

    @field_validator("estimator", mode="after")
    @classmethod
    def _default_est(cls, v: Any) -> Any:
        return _est(v) if isinstance(v, str) else v

    @model_validator(mode="after")
    def _costs_given(self) -> "DecisionConfig":
        if self.time == "calibrated" and not self.costs:
            raise ValueError("time: calibrated needs costs: FILE (write one with: simoffload calibrate SCENARIO --out FILE)")
        return self


class ObjectiveConfig(_Strict):
    latency_weight: float = Field(default=1.0, ge=0)
    energy_weight: float = Field(default=0.0, ge=0)
    accuracy: Literal["constrain", "penalty"] = Field(
        default="constrain", description="constrain: variants below the requirement are infeasible; penalty: weighted")
    accuracy_weight: float = Field(default=0.0, ge=0, description="penalty per unit of accuracy shortfall")

    @model_validator(mode="after")
    def _nonzero(self) -> "ObjectiveConfig":
        if self.latency_weight == 0 and self.energy_weight == 0:
            raise ValueError("latency_weight and energy_weight cannot both be 0")
        return self


class EnergyConfig(_Strict):
    kappa: float = Field(default=1e-27, ge=0, description="J per cycle per Hz^2")
    tx_power: Watts = Field(default=0.5, ge=0)
    rx_power: Watts = Field(default=0.5, ge=0)


class PolicyConfig(_Strict):
    # a Policy object given in Python (not a YAML field): the run uses this very object
    instance: Any = Field(default=None, exclude=True, repr=False)
    module_dir: str | None = Field(default=None, description="directory searched first for the policy's module "
                                   "(relative to the scenario file; default: the scenario file's directory)")
    name: str = Field(description="a registered name (simoffload policies) or 'package.module:Class'")
    label: str | None = Field(default=None, description="name in the results (default: name)")
    params: dict[str, Any] = Field(default_factory=dict, description="keyword arguments of the policy")

    @field_validator("instance")
    @classmethod
    def _is_policy(cls, v: Any) -> Any:
        from .policy import Policy

        if v is not None and not isinstance(v, Policy):
            raise ValueError(f"not a simoffload.policy.Policy object: {v!r}")
        return v

    @field_validator("name")
    @classmethod
    def _known(cls, v: str, info: ValidationInfo) -> str:
        from .registry import PolicyNotFound, locate

        if info.data.get("instance") is not None:
            return v  # a Python object: nothing to look up
        try:
            locate(v, policy_module_dir(info.data.get("module_dir"), (info.context or {}).get("base_dir")))
        except PolicyNotFound as exc:
            raise ValueError(str(exc)) from None
        return v

    @property
    def display(self) -> str:
        return self.label or self.name


def policy_module_dir(module_dir: str | None, base_dir: Path | None) -> Path | None:
    """Where a policy's module is looked for first: ``module_dir`` (relative to the scenario's directory) or that directory."""
    if module_dir is None:
        return None if base_dir is None else Path(base_dir)
    p = Path(module_dir).expanduser()
    return p if p.is_absolute() or base_dir is None else Path(base_dir) / p


def _policy(v: Any) -> Any:
    from .policy import Policy

    if isinstance(v, type) and issubclass(v, Policy):
        v = v()  # a class: its defaults
    if isinstance(v, Policy):
        cls = type(v)
        label = cls.name if cls.name != Policy.name else cls.__name__
        return {"instance": v, "name": f"{cls.__module__}:{cls.__qualname__}", "label": label, "params": v.get_params()}
    return {"name": v} if isinstance(v, str) else v


class RecordConfig(_Strict):
    subtasks: bool = True
    links: bool = True
    queues: bool = True


class OutputConfig(_Strict):
    format: Literal["parquet", "csv"] = "parquet"
    record: RecordConfig = Field(default_factory=RecordConfig)


class ExecutionConfig(_Strict):
    dag: Literal["parallel", "serial"] = "parallel"
    on_deadline: Literal["keep", "drop"] = Field(
        default="keep", description="keep: a late task runs on (status missed); drop: abandoned at its deadline (dropped)")


class LimitsConfig(_Strict):
    """Raise or lower the workload limits of :mod:`simoffload.limits` for this scenario."""

    tasks: int | None = Field(default=None, ge=1)
    subtasks: int | None = Field(default=None, ge=1)
    memory_bytes: int | None = Field(default=None, ge=1, description="memory a run may plan to hold (bytes)")
    bandwidth_steps: int | None = Field(default=None, ge=1)
    mobility_samples: int | None = Field(default=None, ge=1)
    trace_bytes: int | None = Field(default=None, ge=1)
    sweep_runs: int | None = Field(default=None, ge=1)


class Scenario(_Strict):
    """A whole scenario (see docs/scenarios.md), validated; public as ``simoffload.Scenario``.

    Build it from a YAML file (:meth:`from_yaml`), a mapping (:meth:`from_dict`), or
    keyword arguments (``Scenario(name="x", edge={"cores": 2}, policies=["local", MyPolicy()])``,
    which raises pydantic's ``ValidationError`` on bad input where the other two raise a
    one-line :class:`~simoffload.errors.UserError`). Units are parsed once: ``"2 MB/s"``.
    Policies may be names, ``{name, label, params}`` mappings, or Policy objects.
    """

    name: str = "scenario"
    description: str = ""
    seed: int = Field(default=0, ge=0)
    horizon: Seconds = Field(default=3600.0, gt=0, description="simulated time; unfinished work is reported")
    task: TaskConfig = Field(default_factory=TaskConfig)
    applications: list[ApplicationConfig] | None = Field(
        default=None, min_length=1, description="several task types instead of task (see docs/scenarios.md)")
    devices: DevicesConfig = Field(default_factory=DevicesConfig)
    edge: Annotated[
        Annotated[EdgeConfig, Tag("[one edge]")] | Annotated[list[SiteConfig], Tag("[sites]")],
        Discriminator(lambda v: "[sites]" if isinstance(v, list) else "[one edge]"),
    ] = Field(default_factory=EdgeConfig, description="one edge (mapping) or several sites (list)")
    topology: TopologyConfig | None = Field(default=None, description="several edge sites (docs/topology.md)")
    cloud: CloudConfig = Field(default_factory=CloudConfig)
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    decision: DecisionConfig = Field(default_factory=DecisionConfig)
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    energy: EnergyConfig = Field(default_factory=EnergyConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    policies: list[Annotated[PolicyConfig, BeforeValidator(_policy)]] = Field(
        default_factory=lambda: [PolicyConfig(name=n) for n in ("local", "edge", "cloud", "random")], min_length=1)
    output: OutputConfig = Field(default_factory=OutputConfig)
    sweep: dict[str, Any] | None = Field(default=None, description="parameter sweep (see docs/sweeps.md)")
    limits: LimitsConfig | None = Field(default=None, description="raise the resource limits (see README 'Bad input')")

    # where the file lives, for relative trace paths (not a YAML field)
    base_dir: Path = Field(default=Path("."), exclude=True)
    # the file it was read from, if any (not a YAML field; recorded in meta.json)
    source: Path | None = Field(default=None, exclude=True)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Scenario":
        """Read and validate a scenario file (relative paths in it resolve against its directory)."""
        return load_scenario(path)

    @classmethod
    def from_dict(cls, data: dict, base_dir: str | Path | None = None) -> "Scenario":
        """Validate a mapping of scenario fields (relative paths resolve against ``base_dir``, default the working directory)."""
        return parse_scenario(data, "<scenario>", base_dir=None if base_dir is None else Path(base_dir))

    def to_yaml(self) -> str:
        """This scenario as YAML that runs as is from any directory (see :func:`scenario_to_yaml`)."""
        return scenario_to_yaml(self)

    # the parsed file, so errors found after parsing can name FILE:LINE of a field
    _doc: Document | None = PrivateAttr(default=None)

    def where(self, *loc: Any) -> str:
        """``FILE:LINE: field`` for the field at ``loc`` (e.g. ``where("task", "edges")``).

        Errors raised after parsing (while building or running) start with this,
        so they name the line of the field they are about.
        """
        field = ".".join(str(x) for x in loc) or "(top level)"
        if self._doc is None:
            return f"<scenario>:1: {field}"
        return f"{self._doc.where(loc)}: {field}"

    def effective_limits(self) -> _limits.Limits:
        """The limits in force for this scenario (defaults, environment, its ``limits:`` section)."""
        return _limits.current(self.limits.model_dump() if self.limits is not None else None)

    @model_validator(mode="after")
    def _sites(self) -> "Scenario":
        if isinstance(self.edge, list):
            if not self.edge:
                raise ValueError("edge: a list of sites needs at least one site")
            names = [s.name or f"site{i}" for i, s in enumerate(self.edge)]
            if len(set(names)) != len(names):
                raise ValueError(f"edge: site names must be distinct, got {names}")
            for i, s in enumerate(self.edge):
                s.name = names[i]
            topo = self.topology or TopologyConfig()
            self.topology = topo
            if self.network.shared_cell:
                raise ValueError("network.shared_cell: not supported with several edge sites (each device has its own wireless link)")
            for k, link in enumerate(topo.man):
                for x in link.between:
                    site_index(self, x, f"topology.man.{k}.between")
                if site_index(self, link.between[0], "") == site_index(self, link.between[1], ""):
                    raise ValueError(f"topology.man.{k}.between: a link joins two different sites (got {list(link.between)})")
            if topo.association.fixed is not None:
                for k, x in enumerate(topo.association.fixed):
                    site_index(self, x, f"topology.association.fixed.{k}")
            if topo.association.nearest and any(s.position is None for s in self.edge):
                raise ValueError("topology.association.nearest: every site needs a position")
            if topo.association.nearest and topo.mobility is None:
                raise ValueError("topology.association.nearest: needs device positions (topology.mobility)")
            if topo.wireless is not None and (topo.mobility is None or any(s.position is None for s in self.edge)):
                raise ValueError("topology.wireless: distance-based wireless needs topology.mobility and site positions")
            cells = [s.wireless is not None for s in self.edge]
            if any(cells) and not all(cells):
                raise ValueError(f"edge.{cells.index(False)}.wireless: give every site a wireless model, or none")
            if any(cells) and topo.wireless is not None:
                raise ValueError("topology.wireless: per-cell wireless (edge.N.wireless) and distance-based wireless exclude each other")
        elif self.topology is not None:
            raise ValueError("topology: needs edge to be a list of sites")
        return self

    @field_validator("applications")
    @classmethod
    def _apps_distinct(cls, v: list[ApplicationConfig] | None) -> list[ApplicationConfig] | None:
        if v is not None:
            names = [a.name for a in v]
            dup = sorted({x for x in names if names.count(x) > 1})
            if dup:
                raise ValueError(f"duplicate application name(s) {dup}")
        return v

    @model_validator(mode="after")
    def _latency_with_sites(self) -> "Scenario":
        if isinstance(self.edge, list):
            for hop in ("wireless", "wan"):
                h = getattr(self.network, hop)
                if h.latency is not None or h.latency_down is not None:
                    raise ValueError(f"network.{hop}.latency: with several edge sites give topology.wireless_latency, "
                                     "the sites' wan.latency and the MAN links' latency instead")
        return self

    @model_validator(mode="after")
    def _task_or_apps(self) -> "Scenario":
        if self.applications is not None and "task" in self.model_fields_set:
            raise ValueError("give task (one task type) or applications (several), not both")
        return self

    def apps(self) -> list[ApplicationConfig]:
        """The task types: ``applications``, or the single ``task`` as one application named ``default``."""
        if self.applications is not None:
            return list(self.applications)
        return [ApplicationConfig(name="default", share=1.0, task=self.task)]

    @field_validator("policies")
    @classmethod
    def _distinct(cls, v: list[PolicyConfig]) -> list[PolicyConfig]:
        labels = [p.display for p in v]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"duplicate label(s) {dup}; give each a distinct 'label'")
        return v


def site_index(sc: "Scenario", x: str | int, where: str) -> int:
    """Index of a site given by name or index in ``sc.edge`` (a list)."""
    sites = sc.edge if isinstance(sc.edge, list) else []
    if isinstance(x, int) and not isinstance(x, bool):
        if 0 <= x < len(sites):
            return x
    else:
        for i, s in enumerate(sites):
            if s.name == x:
                return i
    raise ValueError(f"{where}: unknown site; sites are {[s.name for s in sites]} (got {x!r})")


# ----------------------------------------------------------------------------- loading


_SUBFIELD = re.compile(r"^([A-Za-z_][\w]*(?:(?:\.[\w]+)|(?:\[\d+\]))*): (.*)$", re.S)


def _deepen(loc: tuple, msg: str, doc: Document) -> tuple[tuple, str]:
    """A validator's message ``"sub.field: text"`` names a field below ``loc``: move it into ``loc``."""
    m = _SUBFIELD.match(msg)
    if not m:
        return loc, msg
    parts: list[Any] = []
    for piece in re.findall(r"[A-Za-z_]\w*|\[\d+\]|\d+", m.group(1)):
        parts.append(int(piece[1:-1]) if piece.startswith("[") else int(piece) if piece.isdigit() else piece)
    return loc + tuple(parts), m.group(2)


def _format_error(err: dict, doc: Document | yaml.Node | None, path: str | None = None, prefix: tuple = ()) -> str:
    """One line ``FILE:LINE: field: message (got value)`` for a pydantic error.

    ``doc`` is the parsed :class:`~simoffload.yamlio.Document`, or (older form)
    the root node with ``path``; ``prefix`` is the location of the validated
    object inside the file.
    """
    if not isinstance(doc, Document):
        doc = Document(None, doc, path or "<input>")
    loc = prefix + tuple(x for x in err["loc"] if not (isinstance(x, str) and ("[" in x or x.startswith("function-"))))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "value_error":
        deeper, msg = _deepen(loc, msg, doc)
        if deeper != loc and not loc:  # a whole-scenario check that names its field: the input is the file
            err = dict(err, input=None)
        loc = deeper
    field = shorten(".".join(str(x) for x in loc)).strip("'\"") or "(top level)"
    where = doc.where(loc)
    if err["type"] == "extra_forbidden":
        return f"{where}: {field}: unknown field"
    if err["type"] == "missing":
        return f"{where}: {field}: required field is missing"
    bad = err.get("input")
    shown = "" if isinstance(bad, (dict, list)) or bad is None or "got " in msg else f" (got {shorten(bad)})"
    return f"{where}: {field}: {msg}{shown}"


def parse_scenario(data: Any, path: str = "<scenario>", root: yaml.Node | None = None,
                   base_dir: Path | None = None, doc: Document | None = None) -> Scenario:
    """Validate an already-parsed mapping; errors raise UserError.

    Besides the fields themselves this checks, without simulating: each
    policy's parameters against its declared parameters, the ``sweep:``
    section, and the workload estimate against :mod:`simoffload.limits`.
    """
    doc = doc or Document(data, root, path)
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise UserError(f"{doc.where(())}: (top level): a scenario must be a YAML mapping of fields, "
                        f"but the file is {kind}")
    try:
        sc = Scenario.model_validate(data, context={"base_dir": base_dir or Path(".")})
    except ValidationError as exc:
        raise UserError(_format_error(exc.errors()[0], doc)) from None
    except UserError as exc:
        raise UserError(f"{doc.where(())}: {exc}") from None
    sc.base_dir = base_dir or Path(".")
    sc._doc = doc
    _check_policy_params(sc, doc)
    _check_workload(sc)
    if sc.sweep is not None:
        _check_sweep(sc)
    return sc


def _check_policy_params(sc: Scenario, doc: Document) -> None:
    """Validate (and coerce) each policy's ``params`` against the parameters its class declares."""
    from .registry import validate_params

    for i, p in enumerate(sc.policies):
        if p.instance is not None:
            continue  # a Policy object given in Python: already constructed
        try:
            p.params = validate_params(p.name, p.params, policy_module_dir(p.module_dir, sc.base_dir))
        except ValidationError as exc:
            raise UserError(_format_error(exc.errors()[0], doc, prefix=("policies", i, "params"))) from None


def _check_workload(sc: Scenario) -> None:
    _limits.check_scenario(sc)


def _sweep_base(sc: Scenario) -> dict[str, Any]:
    """The scenario as plain data for building sweep points: ``task`` or ``applications``, never both."""
    base = sc.model_dump(mode="json", exclude={"base_dir"})
    base.pop("task" if sc.applications is not None else "applications", None)
    return base


def _check_sweep(sc: Scenario) -> Any:
    from .experiments.sweep import parse_sweep

    base = _sweep_base(sc)
    section = base.pop("sweep")
    try:
        spec = parse_sweep(section, base, "sweep")
    except UserError as exc:
        msg = str(exc)
        # name the line of the deepest sweep key the message mentions
        field = msg.split(":", 1)[0]
        parts = field.split(".")
        loc = parts[:2] + ([".".join(parts[2:])] if len(parts) > 2 else [])
        if field.startswith("sweep") and " " not in field:
            raise UserError(f"{sc._doc.where(tuple(loc))}: {msg}") from None
        raise UserError(f"{sc._doc.where(('sweep',))}: sweep: {msg}") from None
    return spec


def check_sweep_points(sc: Scenario) -> None:
    """Validate every sweep point as a whole scenario (``simoffload validate``; ``sweep`` fails bad points only)."""
    if sc.sweep is None:
        return
    from .experiments.sweep import parse_sweep

    base = _sweep_base(sc)
    section = base.pop("sweep")
    _check_sweep_values(sc, parse_sweep(section, base, "sweep"), base)


#: at most this many sweep points are validated (each is a full scenario check, a few ms)
MAX_CHECKED_SWEEP_POINTS = 500
_SWEEP_LABEL = "<sweep point>"


def sweep_value_locations(sc: Scenario, spec: Any, point: dict[str, Any]) -> dict[str, str]:
    """``FILE:LINE: sweep.AXIS.PATH[i]`` of each swept value of ``point`` in the scenario file.

    Args:
        sc: the scenario with the ``sweep:`` section (its file gives the lines).
        spec: its parsed :class:`~simoffload.experiments.sweep.SweepSpec`.
        point: one point, ``{dotted.path: value}``.
    """
    out = {}
    for path, v in point.items():
        axis = "grid" if path in spec.grid else "zip"
        values = (spec.grid if axis == "grid" else spec.zip)[path]
        i = next((k for k, x in enumerate(values) if x == v), 0)
        file_line = sc._doc.where(("sweep", axis, path, i)) if sc._doc is not None else "<scenario>:1"
        out[path] = f"{file_line}: sweep.{axis}.{path}[{i}]"
    return out


def blame_sweep_value(msg: str, where: dict[str, str], label: str = _SWEEP_LABEL) -> str | None:
    """An error of one sweep point's scenario re-aimed at the sweep file's line of the swept value it is about.

    ``msg`` is ``LABEL:LINE: field: message`` (the point's scenario was parsed under
    ``label``), or a file's own ``FILE:LINE: field: message (from LABEL:LINE: field)``
    (a trace the point names). The field is matched against the swept paths (equal,
    or one inside the other); ``where`` comes from :func:`sweep_value_locations`.

    Returns:
        ``FILE:LINE: sweep.AXIS.PATH[i]: field: message`` (or the trace's line with
        ``(from FILE:LINE: sweep.AXIS.PATH[i])``), or ``None`` if no swept value matches.
    """
    def hit(field: str) -> str | None:
        found = [p for p in where if field == p or field.startswith(p + ".") or p.startswith(field + ".")]
        return found[0] if found else None

    head = re.match(re.escape(label) + r":\d+: ", msg)
    if head:
        inner = msg[head.end():]
        path = hit(inner.split(":", 1)[0])
        return f"{where[path]}: {inner}" if path else None
    tail = re.search(r"\(from " + re.escape(label) + r":\d+: ([^()]+)\)$", msg)
    if tail:
        path = hit(tail.group(1))
        return f"{msg[:tail.start()]}(from {where[path]})" if path else None
    return None


def _check_sweep_values(sc: Scenario, spec: Any, base: dict) -> None:
    """Validate each sweep point (up to ``MAX_CHECKED_SWEEP_POINTS``) as a whole scenario.

    A bad point names the line of the swept value the error is about, e.g.
    ``FILE:LINE: sweep.grid.horizon[1]: horizon: must be > 0 (got -5.0)``.
    """
    import copy

    from .experiments.sweep import set_path

    for point in spec.points()[:MAX_CHECKED_SWEEP_POINTS]:
        where = sweep_value_locations(sc, spec, point)
        data = copy.deepcopy(base)
        for path, v in point.items():
            set_path(data, path, copy.deepcopy(v), where[path].split(": ", 1)[1])
        try:
            parse_scenario(data, _SWEEP_LABEL, base_dir=sc.base_dir)
        except UserError as exc:
            msg = blame_sweep_value(str(exc), where)
            if msg is None:  # about no swept field: name the point's first swept value
                inner = re.sub(re.escape(_SWEEP_LABEL) + r":\d+: ", "", str(exc))
                msg = f"{next(iter(where.values()))}: {inner}"
            raise UserError(msg) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file (safely: see :mod:`simoffload.yamlio`)."""
    p = Path(path)
    doc = load_yaml(p, "scenario file")
    sc = parse_scenario(doc.data, str(p), doc.root, p.resolve().parent, doc=doc)
    sc.source = p.resolve()
    return sc


def _drop_none(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _drop_none(v) for k, v in d.items() if v is not None}
    return d


def _absolute_traces(obj: Any, base_dir: Path) -> Any:
    """Every ``trace: {file: ...}`` below ``obj`` with its file made absolute against ``base_dir``."""
    if isinstance(obj, list):
        return [_absolute_traces(x, base_dir) for x in obj]
    if not isinstance(obj, dict):
        return obj
    out = {k: _absolute_traces(v, base_dir) for k, v in obj.items()}
    tr = out.get("trace")
    if isinstance(tr, dict) and isinstance(tr.get("file"), str):
        f = Path(tr["file"]).expanduser()
        tr["file"] = str(f if f.is_absolute() else (base_dir / f).resolve())
    return out


_PATH_PARAMS = ("weights", "teacher")  # policy parameters that name files (relative to the working directory)


#: optional fields left out of the effective scenario while at these defaults, so scenarios that do not use
#: them dump (and hash, e.g. sweep point ids) exactly as before the fields existed
_QUIET_DEFAULTS: dict[tuple[str, ...], Any] = {
    ("task", "deadline"): None, ("devices", "deadline"): None, ("execution", "on_deadline"): "keep",
    **{("network", hop, key): None for hop in ("wireless", "wan") for key in ("latency", "latency_down")},
}


def scenario_dict(sc: Scenario) -> dict[str, Any]:
    """The effective scenario (defaults filled in) as plain data: what ``scenario.yaml`` holds."""
    data = sc.model_dump(mode="json", exclude={"base_dir", "source"})
    data.pop("task" if sc.applications is not None else "applications")
    for path, default in _QUIET_DEFAULTS.items():
        d = data
        for k in path[:-1]:
            d = d.get(k) if isinstance(d, dict) else None
        if isinstance(d, dict) and path[-1] in d and d[path[-1]] == default:
            del d[path[-1]]
    # fields added with task variants are written only when used, so older scenarios' files keep their bytes
    for task in ([data["task"]] if "task" in data else [a["task"] for a in data["applications"]]):
        if task.get("variants") is None:
            task.pop("variants", None)
            if task.get("accuracy_req") in (0, 0.0):
                task.pop("accuracy_req", None)
    obj = data["objective"]
    if obj.get("accuracy") == "constrain" and obj.get("accuracy_weight") == 0:
        obj.pop("accuracy", None)
        obj.pop("accuracy_weight", None)
    return data


def scenario_to_yaml(sc: Scenario) -> str:
    """The effective scenario as YAML, for saving next to results; it runs as is from any directory.

    Defaults are filled in, with only the parameters that apply (the estimator's
    own, the one bandwidth model given); trace files, policy model files and
    the directories of policy modules found beside the scenario become absolute
    paths, so the record reproduces the run wherever it is moved to or run from
    (on this machine). Policies given as Python objects are written by class
    and parameters (``module:Class``); they rerun if that module is importable.
    """
    from .net.channels import _EST_PARAMS
    from .registry import PolicyNotFound, locate

    base = Path(sc.base_dir).resolve()
    data = scenario_dict(sc)
    if data.get("limits") is None:
        data.pop("limits", None)
    est = data["decision"]["estimator"]
    est = {"kind": est} if isinstance(est, str) else est  # the default is stored unparsed
    data["decision"]["estimator"] = {k: v for k, v in est.items() if k == "kind" or k in _EST_PARAMS[est["kind"]]}
    for hop in ("wireless", "wan"):
        for d in ("up", "down"):
            spec = data["network"][hop][d]
            if spec is not None:
                data["network"][hop][d] = _absolute_traces(_drop_none(spec), base)
        for d in ("latency", "latency_down"):  # a latency trace's file, too
            spec = data["network"][hop].get(d)
            if isinstance(spec, dict):
                data["network"][hop][d] = _absolute_traces(spec, base)
    if data.get("sweep") is not None:
        data["sweep"] = _absolute_traces(data["sweep"], base)
    costs = data["decision"].get("costs")
    if costs:  # the decision cost file, like traces, resolves from the scenario's directory
        data["decision"]["costs"] = str((base / Path(costs).expanduser()).resolve())
    policies = []
    for p, d in zip(sc.policies, data["policies"]):
        entry = {"name": d["name"], "label": d["label"], "params": dict(d["params"])}
        for k in _PATH_PARAMS:
            v = entry["params"].get(k)
            if isinstance(v, str) and v:
                entry["params"][k] = str(Path(v).expanduser().resolve())
        module_dir = d.get("module_dir")
        if p.instance is None:
            try:
                loc = locate(p.name, policy_module_dir(module_dir, base))
            except PolicyNotFound:
                loc = None
            if loc is not None and loc.module_dir is not None:
                module_dir = str(loc.module_dir)
        if module_dir is not None:
            entry["module_dir"] = module_dir
        policies.append(entry)
    data["policies"] = policies
    return yaml.safe_dump(data, sort_keys=False)
