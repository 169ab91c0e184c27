"""The policy interface: from an observation to a decision (a variant and a placement).

A policy is an object with

* ``decide(obs)`` - one decision from an :class:`Observation`: either a plain
  placement, an ``(n,)`` int array (0 device, 1 edge, 2 cloud per subtask),
  which means *variant 0* of the task, or a :class:`Decision` ``(variant,
  placement)``;
* ``decide_batch(inst, objective)`` - the batched form for offline evaluation
  (an :class:`~simoffload.model.task.Instances` batch): a ``(B, n)`` int array
  (variant 0 everywhere) or a :class:`Decision` whose ``variant`` is ``(B,)``
  ints and ``placement`` ``(B, n)``;
* ``decision_ops(graph) -> float`` - its declared decision cost in basic
  operations, which the engine charges as ``ops * cycles_per_op / p2`` seconds
  of edge CPU when decision time is ``modelled``. A policy that examines
  several variants may accept a keyword ``n_variants`` (``decision_ops(graph,
  n_variants=1)``); the engine then passes the task's variant count.
  Policies without that keyword are charged ``decision_ops(graph)``;
* ``name`` - the name it is found by in scenario files (see :mod:`simoffload.registry`);
* ``observe(outcome)`` - optional: the engine reports how each decision turned
  out (an :class:`Outcome`) at the simulated time the result is known, so
  online learners can close the loop. The default does nothing and costs
  nothing: the engine collects outcomes only for policies that override it.

Variants (:mod:`simoffload.model.variants`). A task may offer several
variants - e.g. the models of one DNN family - with their own accuracy,
cycles and data sizes; ``obs.variants`` lists them and ``obs.accuracy_req``
is the task's accuracy requirement. A task without variants has exactly one
implicit variant (its cycles and data, accuracy 1.0), so a policy that knows
nothing about variants keeps working unchanged: its plain placement runs
variant 0 (by convention the scenario's default, full model). Variant-aware
built-in policies return a plain array when the task has one variant and a
:class:`Decision` otherwise; the engine accepts both from any policy.

Following scikit-learn, ``__init__`` only stores keyword arguments, learned
state ends in ``_``, and randomness is passed in (:meth:`Policy.reset`), never
global. Policies know nothing about SimPy: the engine builds the observation.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .model.cost import LATENCY, Objective
from .model.task import Instances, TaskGraph
from .model.variants import Variants


@dataclass
class Observation:
    """What a policy sees when it decides one task (SI units).

    Bandwidths are *estimates* at decision time (the scenario's estimator), not
    the truth the transfers will experience.

    Attributes:
        graph: the task's structure.
        cycles: (n,) CPU cycles per subtask of variant 0 (the task's default variant).
        data: (m,) bytes per data edge of variant 0.
        p1_hz, p2_hz: device and edge CPU speed (one edge core).
        b1_Bps, b2_Bps: estimated device->edge and edge->cloud bandwidth.
        b1_down_Bps, b2_down_Bps: estimated edge->device and cloud->edge bandwidth.
        p3_hz: cloud speed (inf = zero execution time).
        edge_queue: jobs waiting for an edge core at decision time (not running).
        edge_busy: edge cores busy at decision time.
        edge_cores: number of edge cores.
        time_s: simulated time of the decision.
        device: index of the requesting device.
        objective: the scenario's objective and energy parameters.
        site: the device's own edge site (absolute index; several sites only).
        other_sites: the other edge sites a placement may name (absolute indices): place code ``2 + j``
            is ``other_sites[j - 1]``. Empty unless the scenario lets placements use the MAN.
        sites: what the cost model needs about the own site (first) and ``other_sites``: speeds, estimated
            WAN and MAN bandwidths and latencies (:class:`~simoffload.model.cost.SiteTopology`, batch of
            one). ``None`` on the classic single-edge system without latency: the 0/1/2 model holds.
        site_queue, site_busy, site_cores: jobs waiting, cores busy, cores, per site in the order of ``sites``.
        active_devices: devices with at least one task in the system (arrived, not
            finished) at decision time, the requesting device included.
        objective: the scenario's objective, energy parameters and accuracy
            mode (``objective.accuracy_mode``: ``constrain`` or ``penalty``).
        variants: the task's variants (:class:`~simoffload.model.variants.Variants`:
            ``accuracy`` (V,) fractions in [0, 1], ``cycles`` (V, n), ``data``
            (V, m), ``names``). Variant 0 has this observation's ``cycles`` and
            ``data``. Left ``None`` when constructing, it becomes the single
            implicit variant (``cycles``, ``data``, accuracy 1.0), so
            ``len(obs.variants) >= 1`` always holds.
        accuracy_req: the task's accuracy requirement, a fraction in [0, 1]
            (0 = none).
        lat1_s, lat2_s: one-way propagation latency device->edge and edge->cloud (s), as the
            scenario's latency model tells it (a constant, a distribution's mean, a trace's current value).
        lat1_down_s, lat2_down_s: the same edge->device and cloud->edge.
    """

    graph: TaskGraph
    cycles: np.ndarray
    data: np.ndarray
    p1_hz: float
    p2_hz: float
    b1_Bps: float
    b2_Bps: float
    b1_down_Bps: float | None = None
    b2_down_Bps: float | None = None
    p3_hz: float = math.inf
    edge_queue: int = 0
    edge_busy: int = 0
    edge_cores: int = 1
    time_s: float = 0.0
    device: int = 0
    objective: Objective = field(default_factory=lambda: LATENCY)
    site: int = 0
    other_sites: tuple[int, ...] = ()
    sites: Any = None
    site_queue: tuple[int, ...] = ()
    site_busy: tuple[int, ...] = ()
    site_cores: tuple[int, ...] = ()
    active_devices: int = 1

    @property
    def places(self) -> int:
        """Number of place codes a placement may use: 3 + len(other_sites)."""
        return 3 + len(self.other_sites)

    def place_coefficients(self) -> Any:
        """The K-place cost coefficients (batch of one) of this observation (``sites`` must be set)."""
        from .model.cost import place_coefficients

        return place_coefficients(self.instances(), self.sites, self.objective)
    variants: Variants | None = None
    accuracy_req: float = 0.0

    lat1_s: float = 0.0
    lat2_s: float = 0.0
    lat1_down_s: float = 0.0
    lat2_down_s: float = 0.0

    @property
    def has_latency(self) -> bool:
        """True if any hop has a propagation latency (fast scalar paths that ignore it must not be used)."""
        return bool(self.lat1_s or self.lat2_s or self.lat1_down_s or self.lat2_down_s)

    def __post_init__(self) -> None:
        if self.variants is None:
            self.variants = Variants.single(self.cycles, self.data)

    def instances(self) -> Instances:
        """This observation as a batch of one (with its variants when it has more than one)."""
        many = len(self.variants) > 1
        lat = self.has_latency
        return Instances(
            self.graph, self.cycles[None, :], self.data[None, :],
            np.array([self.p1_hz]), np.array([self.p2_hz]), np.array([self.b1_Bps]), np.array([self.b2_Bps]),
            None if self.b1_down_Bps is None else np.array([self.b1_down_Bps]),
            None if self.b2_down_Bps is None else np.array([self.b2_down_Bps]),
            self.p3_hz,
            self.variants.cycles[None] if many else None,
            self.variants.data[None] if many else None,
            self.variants.accuracy[None] if many else None,
            np.array([self.accuracy_req]) if self.accuracy_req else None,
            **({"lat1": np.array([self.lat1_s]), "lat2": np.array([self.lat2_s]),
                "lat1_down": np.array([self.lat1_down_s]), "lat2_down": np.array([self.lat2_down_s])} if lat else {}),
        )


@dataclass
class Outcome:
    """How one decision turned out, as the engine reports it to :meth:`Policy.observe`.

    Reported at ``known_s``, the simulated time a real system learns it: when
    the task's output is back on the device (``status`` ``"done"``, or
    ``"missed"`` if later than its deadline), when it is abandoned
    (``"dropped"`` at its deadline, ``"failed"``), or at the horizon for a task
    still in the system (``"unfinished"``); the latency of a task that did not
    complete is unknown (``nan``). Outcomes reach a policy in order of
    ``known_s`` (ties in the engine's event order, unfinished ones last in
    task order), and a decision at time t has been preceded by every outcome
    known before t and by no other.

    Attributes:
        task_id, device: which task.
        obs: the observation the decision was made on (``None`` if the task was
            still waiting for its decision at the horizon).
        placement: (n,) places chosen (``None`` if never decided).
        variant: the task variant chosen (0 for tasks without variants).
        status: ``"done"``, ``"missed"``, ``"dropped"``, ``"failed"`` or ``"unfinished"``.
        arrival_s: task arrival time.
        deadline_s: the task's deadline relative to its arrival (``inf``: none).
        decided_s: simulated time of the decision (``obs.time_s``).
        start_s: time execution started (after the decision and its reply).
        finish_s: time the output was back on the device (``nan`` if unfinished).
        known_s: time this outcome is reported.
        latency_s: realised end-to-end latency ``finish_s - arrival_s`` (``nan`` if unfinished).
        decision_s: ``start_s - arrival_s``: request, wait, decision time, reply.
        energy_j: device energy spent on the task (so far, if unfinished).
        accuracy: accuracy of the variant run (``nan`` when the task has no variants).
        ready_s, exec_start_s, end_s: (n,) per-subtask times its inputs were
            ready, it got its processor and it ended (``nan`` where it did not).
    """

    task_id: int
    device: int
    obs: Observation | None
    placement: np.ndarray | None
    status: str
    arrival_s: float
    deadline_s: float
    decided_s: float
    start_s: float
    finish_s: float
    known_s: float
    latency_s: float
    decision_s: float
    energy_j: float
    ready_s: np.ndarray
    exec_start_s: np.ndarray
    end_s: np.ndarray
    variant: int = 0
    accuracy: float = math.nan

    @property
    def done(self) -> bool:
        """True if the task completed (in time or late)."""
        return not math.isnan(self.finish_s)


@dataclass(frozen=True, eq=False)
class Decision:
    """A policy's answer naming the variant: run variant ``variant`` with ``placement``.

    From ``decide``: ``variant`` an int in ``0..len(obs.variants)-1`` and
    ``placement`` an (n,) int array. From ``decide_batch``: ``variant`` (B,)
    ints and ``placement`` (B, n). A plain placement array is shorthand for
    ``Decision(0, placement)``.
    """

    variant: Any
    placement: Any


class Policy:
    """Base class of offloading policies. Subclasses override ``decide_batch`` and/or ``decide``."""

    name: ClassVar[str] = "policy"
    #: True if the policy's decisions depend on a random stream (see :meth:`reset`).
    stochastic: ClassVar[bool] = False
    #: ranges of constructor parameters, ``{name: {"ge": 0, ...}}`` (keyword arguments of
    #: :func:`pydantic.Field`; ``"type"`` overrides the annotation). Types come from the
    #: annotations of ``__init__``; see :func:`simoffload.registry.param_model`.
    param_spec: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self, **params: Any):
        for k, v in params.items():
            setattr(self, k, v)

    # --- scikit-learn style parameters ------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (the named arguments of ``__init__``), as stored on the object."""
        sig = inspect.signature(type(self).__init__)
        names = [p.name for p in sig.parameters.values()
                 if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        return {k: getattr(self, k) for k in names}

    # --- the decision -----------------------------------------------------------------
    def check(self, graph: TaskGraph) -> None:
        """Refuse, with ``UserError``, what :meth:`prepare` would refuse, without training anything.

        ``simoffload validate`` calls this: e.g. a task structure the policy cannot
        decide, or a weights file that is missing or corrupt.
        """

    def prepare(self, graph: TaskGraph) -> None:
        """Get ready to decide tasks of this structure (called once before a simulation run).

        Learned policies load or train their model here, so neither loading nor
        training is ever charged as decision time. Raise ``UserError`` if the
        policy cannot handle the structure. The default runs :meth:`check`.
        """
        self.check(graph)

    def reset(self, rng: np.random.Generator) -> None:
        """Give the policy its random stream (called once per simulation run)."""
        self.rng_ = rng

    def decide(self, obs: Observation) -> np.ndarray | Decision:
        """One decision for the task in ``obs``: an (n,) placement (variant 0) or a :class:`Decision`."""
        out = self.decide_batch(obs.instances(), obs.objective)
        if isinstance(out, Decision):
            return Decision(int(np.asarray(out.variant)[0]), np.asarray(out.placement)[0])
        return out[0]

    def decide_batch(self, inst: Instances, objective: Objective = LATENCY) -> np.ndarray | Decision:
        """(B, n) placements (variant 0), or a :class:`Decision` of (B,) variants and (B, n) placements.

        The default calls :meth:`decide` once per instance (with an empty edge
        queue) and returns a :class:`Decision` exactly when the batch has more
        than one variant; override it with a vectorised form where speed matters.
        """
        if type(self).decide is Policy.decide:
            raise NotImplementedError(f"{type(self).__name__} implements neither decide_batch nor decide")
        B, V = len(inst), inst.n_variants
        out = np.empty((B, inst.graph.n), dtype=np.int64)
        var = np.zeros(B, dtype=np.int64)
        for i, obs in enumerate(observations(inst, objective)):
            var[i], out[i] = check_decision(self.decide(obs), inst.graph, V)
        return Decision(var, out) if V > 1 else out

    def decision_ops(self, graph: TaskGraph) -> float:
        """Declared decision cost in basic operations for a task of this structure."""
        return 0.0

    def observe(self, outcome: Outcome) -> None:
        """Hear how a decision turned out (called by the engine at ``outcome.known_s``).

        The default ignores it. Work done here costs no simulated time, so an
        online learner should only store the outcome here and learn in
        :meth:`decide`, where :meth:`decision_ops` charges it.
        """

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def observations(inst: Instances, objective: Objective = LATENCY) -> list[Observation]:
    """One :class:`Observation` per instance of a batch (idle edge, time 0, device 0)."""
    down1, down2 = inst.b1_down, inst.b2_down
    p3 = np.broadcast_to(np.asarray(inst.p3, dtype=float), (len(inst),))
    req = inst.requirement
    out = []
    for i in range(len(inst)):
        var = None
        if inst.variant_cycles is not None:
            var = Variants(inst.variant_accuracy[i], inst.variant_cycles[i], inst.variant_data[i])
        out.append(Observation(
            inst.graph, inst.cycles[i], inst.data[i], float(inst.p1[i]), float(inst.p2[i]),
            float(inst.b1[i]), float(inst.b2[i]), None if down1 is None else float(down1[i]),
            None if down2 is None else float(down2[i]), float(p3[i]), objective=objective,
            variants=var, accuracy_req=float(req[i]),
        ))
        if inst.has_latency:
            o = out[-1]
            o.lat1_s, o.lat2_s = float(inst.lat_up1[i]), float(inst.lat_up2[i])
            o.lat1_down_s, o.lat2_down_s = float(inst.lat_down1[i]), float(inst.lat_down2[i])
    return out


def check_decision(answer: Any, graph: TaskGraph, n_variants: int = 1, places: int = 3) -> tuple[int, np.ndarray]:
    """Validate a ``decide`` answer (a placement or a :class:`Decision`); return (variant, placement)."""
    if isinstance(answer, Decision):
        v = answer.variant
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or not 0 <= int(v) < n_variants:
            raise ValueError(f"a decision's variant must be an int in 0..{n_variants - 1}, got {v!r}")
        return int(v), check_placement(answer.placement, graph, places)
    return 0, check_placement(answer, graph, places)


def check_batch_decision(answer: Any, graph: TaskGraph, B: int, n_variants: int = 1, places: int = 3
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Validate a ``decide_batch`` answer; return (B,) variants and (B, n) placements."""
    if isinstance(answer, Decision):
        v, P = np.asarray(answer.variant), np.asarray(answer.placement)
    else:
        v, P = np.zeros(B, dtype=np.int64), np.asarray(answer)
    if v.shape != (B,) or not np.issubdtype(v.dtype, np.integer) or (B and (v.min() < 0 or v.max() >= n_variants)):
        raise ValueError(f"batched variants must be ({B},) ints in 0..{n_variants - 1}, got {answer.variant!r}")
    if P.shape != (B, graph.n) or not np.issubdtype(P.dtype, np.integer) or (P.size and (P.min() < 0 or P.max() >= places)):
        raise ValueError(f"batched placements must be ({B}, {graph.n}) ints in 0..{places - 1}, got shape {P.shape}")
    return v.astype(np.int64), P.astype(np.int64)


def check_placement(place: Any, graph: TaskGraph, places: int = 3) -> np.ndarray:
    """Validate a policy's answer: an int array of shape (n,) with values in 0..places-1 (default {0, 1, 2})."""
    if type(place) is np.ndarray and place.dtype.kind in "iu" and place.shape == (graph.n,):
        codes = place.tolist()  # the usual answer, checked in plain Python (called on every decision)
        if min(codes) >= 0 and max(codes) < places:
            return place.astype(np.int64)
    p = np.asarray(place)
    if p.shape != (graph.n,) or not np.issubdtype(p.dtype, np.integer) and not np.all(np.mod(p, 1) == 0):
        raise ValueError(f"a placement must be {graph.n} integers, got {place!r}")
    p = p.astype(np.int64)
    if p.min() < 0 or p.max() > places - 1:
        if places == 3:
            raise ValueError(f"a placement holds 0 (device), 1 (edge) or 2 (cloud), got {place!r}")
        raise ValueError(f"a placement holds codes 0..{places - 1} (device, own site, cloud, other sites), got {place!r}")
    return p
