"""The discrete-event engine (SimPy): devices, the edge server, the cloud and their links.

Model objects here are built on an ``env`` passed in and know nothing about
concrete policies; :mod:`simoffload.sim.scenario` wires them from a scenario.

Semantics (DESIGN.md section 4):

* Each device has a one-core FIFO CPU and a wireless uplink/downlink to the
  edge (or all devices share one cell). The edge has a k-core FIFO CPU shared
  by all devices and one WAN uplink/downlink to the cloud. The cloud runs
  subtasks at ``p3`` Hz, or in zero time when ``p3`` is infinite, with
  unbounded parallelism.
* A transfer of d bytes is one flow on a :class:`Link`. Its completion is one
  scheduled event computed from the bandwidth model's cumulative capacity, and
  is re-planned only when a flow joins or leaves the link (fair sharing: every
  flow gets ``1/k`` of the capacity; FIFO: the head flow gets all of it).
  Bandwidth steps need no events because under both disciplines all flows'
  progress is a fixed fraction of the cumulative capacity.
* Data between places crosses the hops between them (device-edge-cloud lie on
  a line), store-and-forward at the edge. A hop with a propagation latency
  adds it to each non-empty transfer *after* the last byte is sent: the flow
  shares the link only while it transmits, never during the propagation
  (as in the several-site engine); device<->cloud pays both hops' latencies.
* Deadlines: a late task is ``missed``; under ``on_deadline="drop"`` it is
  abandoned at its deadline (``dropped``) and its in-flight work withdrawn
  (:meth:`Simulation.abandon`, also the way to fail a task with a reason).
* Deciding: the request (``request_bytes``) goes up the wireless link, waits
  for an edge core, the policy observes and decides, the decision time is held
  on that core (``modelled``: declared ops x ``cycles_per_op`` / p2;
  ``measured``: the wall clock of the call; ``calibrated``: a cost measured
  once by ``simoffload calibrate``), then the reply
  (``reply_bytes``) comes down. Execution starts after that.
* Outcomes: a policy that overrides ``observe`` is told how each decision
  turned out (:class:`~simoffload.policy.Outcome`) at the simulated time the
  task's output is back on the device, and of tasks still in the system at
  the horizon; other policies cost nothing extra.
* External control: a policy with ``external = True`` (the Gymnasium
  environment's controller) is handed the observation and a SimPy event
  through ``submit(obs, event)``; the task waits until the controller
  succeeds the event with its decision.
* Chains run subtask by subtask; DAG subtasks start when all their inputs have
  arrived, independent branches concurrently (``dag_execution="parallel"``),
  or one at a time in index order (``"serial"``, the paper's closed form).
"""

from __future__ import annotations

import heapq
import inspect
import logging
import math
import time as _time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

import numpy as np
import simpy

from ..model.cost import LATENCY, Objective
from ..model.task import TaskGraph
from ..model.variants import Variants
from ..net.bandwidth import BandwidthModel, ConstantBandwidth
from ..net.channels import OracleEstimator as _ChannelOracle
from ..policy import Observation, Outcome, Policy, check_decision

log = logging.getLogger(__name__)

DEVICE, EDGE, CLOUD = 0, 1, 2


class PolicyError(RuntimeError):
    """A policy raised or returned an invalid placement during a run."""


class Estimator(Protocol):
    """What the policy is told a link's bandwidth is, at time ``t``."""

    def estimate(self, model: BandwidthModel, t: float) -> float: ...


class OracleEstimator:
    """The true current capacity (an upper bound on what a real device can know)."""

    name = "oracle"

    def estimate(self, model: BandwidthModel, t: float) -> float:
        return model.rate(t)


_isinf = math.isinf
_Timeout = simpy.Timeout
_INT64 = np.dtype(np.int64)

# ----------------------------------------------------------------------------- the event loop


class _TaskProcess:
    """A process nobody waits for (a task's): :class:`simpy.Process` without what only waiters need.

    It starts exactly as a SimPy process does (an urgent initialisation event now), resumes its
    generator on each event it yields, and simply ends when the generator returns: SimPy would
    schedule one more event (the process's own completion) that nothing listens to. Events keep
    their relative order (the event ids are a counter; the skipped completions only leave gaps).
    An exception raised by the generator propagates out of :meth:`Simulation.run` unchanged.
    """

    __slots__ = ("gen", "resume")

    def __init__(self, env: simpy.Environment, gen: Iterator[simpy.Event]):
        self.gen = gen
        self.resume = self._resume
        simpy.events.Initialize(env, self)  # scheduled now, urgent, calling self._resume (as simpy.Process)

    def _resume(self, event: simpy.Event) -> None:
        gen = self.gen
        while True:
            try:
                if event._ok:
                    event = gen.send(event._value)
                else:  # as simpy.Process: the generator handles the failed event or fails itself
                    event._defused = True
                    exc = type(event._value)(*event._value.args)
                    exc.__cause__ = event._value
                    event = gen.throw(exc)
            except StopIteration:
                return
            callbacks = event.callbacks
            if callbacks is not None:
                callbacks.append(self.resume)
                return
            # an event already processed: go on at once, as simpy.Process does


def _trigger_last(env: simpy.Environment, ev: simpy.Event) -> None:
    """``ev.succeed()`` as the very last action of an event's last callback, one event cheaper when possible.

    ``succeed`` schedules ``ev`` now, behind every event already scheduled for this instant.
    When there is none (the queue's next event is later), ``ev`` would be the very next event
    processed, so its callbacks run here at once: the same order, without a trip through the
    queue. Callers make sure nothing else of the current event remains to run.
    """
    ev._ok = True
    ev._value = None
    queue = env._queue
    if queue and queue[0][0] <= env._now:
        env.schedule(ev)
        return
    callbacks, ev.callbacks = ev.callbacks, None
    for callback in callbacks:
        callback(ev)


def _run_until(env: simpy.Environment, until: float) -> None:
    """``env.run(until=until)`` with :meth:`simpy.Environment.step` written out in the loop.

    The stop is the same urgent event SimPy schedules (same time, same event id), so exactly
    the same events run and the clock ends at the same value.
    """
    at = float(until)
    if at <= env._now:
        raise ValueError(f"until ({at}) must be greater than the current simulation time")
    stop = simpy.Event(env)
    stop._ok = True
    stop._value = None
    env.schedule(stop, simpy.core.URGENT, at - env._now)
    queue, pop = env._queue, heapq.heappop
    while True:
        env._now, _, _, event = pop(queue)
        if event is stop:
            event.callbacks = None
            return
        callbacks, event.callbacks = event.callbacks, None
        for callback in callbacks:
            callback(event)
        if not event._ok and not hasattr(event, "_defused"):  # as simpy: a failure nobody handled
            exc = type(event._value)(*event._value.args)
            exc.__cause__ = event._value
            raise exc


# ----------------------------------------------------------------------------- resources


class Cpu:
    """A CPU with ``cores`` identical cores of ``speed_hz`` and a FIFO queue.

    Work taken with ``acquire(urgent=True)`` (decisions) waits in a second FIFO
    served before the ordinary queue; nothing running is preempted.

    ``run(seconds)`` returns an event that fires when the job has finished. A job
    that finds a free core costs exactly one scheduled event.
    """

    def __init__(self, env: simpy.Environment, name: str, cores: int, speed_hz: float,
                 on_queue: Callable[[float, int, int], None] | None = None):
        if cores < 1:
            raise ValueError(f"{name}: cores must be >= 1")
        if not speed_hz > 0:
            raise ValueError(f"{name}: speed must be > 0 Hz")
        self.env, self.name, self.cores, self.speed_hz = env, name, cores, speed_hz
        self.free = cores
        self.queue: deque = deque()
        self.urgent: deque = deque()
        self.on_queue = on_queue
        self._last_reported = (0, 0)
        self._release_cb = self._release  # bound once (a callback per job started on a free core)
        self._finish_queued_cb = self._finish_queued  # bound once (a callback per job that waited)

    @property
    def busy(self) -> int:
        return self.cores - self.free

    def run(self, seconds: float) -> simpy.Event:
        """Occupy one core for ``seconds`` after any queued jobs; the event fires at the end.

        The event's ``start_s`` attribute is the time the job got its core.
        """
        env = self.env
        if self.free > 0:
            self.free -= 1
            ev = _Timeout(env, seconds)
            ev.start_s = env._now
            ev.callbacks.append(self._release_cb)
            return ev  # a free core means an empty queue, and it stays empty: no queue row
        ev = env.event()
        self.queue.append((ev, seconds))
        if self.on_queue is not None:
            self._notify()
        return ev

    @property
    def waiting(self) -> int:
        """Jobs waiting for a core (urgent and ordinary)."""
        return len(self.urgent) + len(self.queue)

    def _release(self, _: Any = None) -> None:
        if self.urgent or self.queue:
            ev, seconds = (self.urgent or self.queue).popleft()
            ev.start_s = self.env._now
            if seconds is None:
                ev.succeed()  # an acquire(): the core passes straight to the waiter
            else:
                t = _Timeout(self.env, seconds)
                t.job = ev
                t.callbacks.append(self._finish_queued_cb)
                ev.timer = t  # for cancel()
            if self.on_queue is not None:
                self._notify()
        else:
            self.free += 1  # the queue was empty and stays so: no queue row

    def _finish_queued(self, timer: simpy.Timeout) -> None:  # the queued job's timer's only callback
        self._release()
        _trigger_last(self.env, timer.job)

    def acquire(self, urgent: bool = False) -> simpy.Event | None:
        """Take a core (for work of unknown length); ``None`` if one was free at once.

        ``urgent`` work waits ahead of every ordinary queued job.
        """
        if self.free > 0:
            self.free -= 1
            self._notify()
            return None
        ev = self.env.event()
        (self.urgent if urgent else self.queue).append((ev, None))
        self._notify()
        return ev

    def release_acquired(self) -> None:
        """Give back a core taken with :meth:`acquire`."""
        self._release()

    def cancel(self, ev: simpy.Event) -> None:
        """Withdraw a job given by :meth:`run` or :meth:`acquire` (a task was dropped or failed).

        A queued job leaves the queue; a running job stops at once and its core
        goes to the next job in line. Its event never fires. A finished job is
        left alone. A core held through :meth:`acquire` (the event has fired) is
        given back with :meth:`release_acquired`, not here.
        """
        if not hasattr(ev, "start_s"):  # still waiting for a core
            for q in (self.urgent, self.queue):
                for i, (e, _) in enumerate(q):
                    if e is ev:
                        del q[i]
                        self._notify()
                        return
            return
        timer = getattr(ev, "timer", None)
        if timer is None:  # started on a free core: ``ev`` is the timeout itself
            if ev.processed or self._release_cb not in ev.callbacks:
                return
            ev.callbacks.remove(self._release_cb)
        else:
            if timer.processed:
                return
            timer.callbacks.clear()
        self._release()

    def _notify(self) -> None:
        on_queue = self.on_queue
        if on_queue is not None:
            waiting = len(self.urgent) + len(self.queue)
            if waiting != self._last_reported[0]:  # record changes of the queue length only
                busy = self.cores - self.free
                on_queue(self.env._now, waiting, busy)
                self._last_reported = (waiting, busy)

    def __repr__(self) -> str:
        return f"Cpu({self.name}: {self.busy}/{self.cores} cores busy, {self.waiting} queued, {self.speed_hz:g} Hz)"




class _Flow(simpy.Event):
    """A transfer in progress on a :class:`Link`, and the event that fires when its last byte arrives
    (one object for both: a transfer is started and finished once per subtask that moves)."""

    def __init__(self, env: simpy.Environment, nbytes: float, tag: float, start_s: float, task_id: int):
        self.env = env  # simpy.Event.__init__, inline
        self.callbacks = []
        self.nbytes, self.tag, self.start_s, self.task_id = nbytes, tag, start_s, task_id

    def __lt__(self, other: "_Flow") -> bool:  # heap order: finish tag, then arrival (stable, deterministic)
        return (self.tag, self.start_s) < (other.tag, other.start_s)


class Link:
    """A link whose capacity follows a :class:`BandwidthModel`, shared by concurrent flows.

    Both disciplines are tracked with *finish tags*, so an event costs O(log k)
    for k flows, never a pass over all flows:

    * ``fair`` (processor sharing): a virtual clock V counts the bytes each
      active flow has received (it advances by dC/k as capacity dC is offered to
      k flows). A flow joining at V0 finishes when V reaches V0 + d.
    * ``fifo``: a flow's tag is the cumulative capacity C at which its last byte
      is sent: max(C at joining, tag of the flow ahead) + d. Joining never
      changes the head's completion.

    The next completion is one scheduled event at the time the cumulative
    capacity reaches the needed value (``model.time_at``), re-planned only when
    a flow joins or leaves.

    Args:
        env: the simulation environment.
        name: for records.
        model: capacity over time (bytes/s).
        sharing: ``"fair"`` (processor sharing) or ``"fifo"``.
        on_transfer: sink called with (start_s, end_s, nbytes, task_id) per finished transfer.
        on_flows: sink called with (t, active flows) when the number of flows changes.
        latency: one-way propagation latency model (:mod:`simoffload.net.latency`), None for none.
            :meth:`transfer` knows nothing of it: the caller waits ``delay(t)`` after the last byte.
        seed: the run's root seed, for a random latency's stream.
    """

    def __init__(self, env: simpy.Environment, name: str, model: BandwidthModel, sharing: str = "fair",
                 on_transfer: Callable[..., None] | None = None, on_flows: Callable[..., None] | None = None,
                 latency: Any = None, seed: int = 0):
        if sharing not in ("fair", "fifo"):
            raise ValueError(f"sharing must be fair or fifo, got {sharing!r}")
        self.env, self.name, self.model, self.sharing = env, name, model, sharing
        self.latency = latency  # LatencyModel or None; what policies are told: latency.estimate(t)
        self.delay: Callable[[float], float] | None = None if latency is None else latency.sampler(seed)
        self._fair = sharing == "fair"
        self.flows: list[_Flow] = []  # fair: a heap by tag; fifo: in order (tags increase)
        self._head = 0  # fifo: index of the first unfinished flow in ``flows``
        self._c_last = 0.0  # cumulative capacity at the last update (fair)
        self._v = 0.0  # virtual clock (fair): bytes received by each active flow
        self._version = 0  # of the plan: a completion timer of an older plan does nothing
        self._fire_cb = self._fire  # bound once (a callback per planned completion)
        self.on_transfer, self.on_flows = on_transfer, on_flows
        # a constant capacity's cumulative and inverse, written out where a transfer starts and ends
        # (the same arithmetic as ConstantBandwidth's methods); None for any other model
        self._rate: float | None = model.rate_Bps if type(model) is ConstantBandwidth else None

    @property
    def active(self) -> int:
        """Number of flows in progress."""
        return len(self.flows) - self._head

    def transfer(self, nbytes: float, task_id: int = -1) -> simpy.Event:
        """Start sending ``nbytes`` (> 0); the returned event fires when the last byte arrives."""
        env = self.env
        now = env._now
        if self._fair:
            flows = self.flows
            rate = self._rate
            c = self.model.cumulative(now) if rate is None else rate * now  # _advance(now), inline
            if flows:
                if c > self._c_last:
                    self._v += (c - self._c_last) / len(flows)
                self._c_last = c
                ev = _Flow(env, nbytes, self._v + nbytes, now, task_id)
                heapq.heappush(flows, ev)
                self._replan(now)
            else:  # an idle link: _replan(now) inline, the same arithmetic for one flow
                self._c_last = c
                v = self._v
                tag = v + nbytes
                ev = _Flow(env, nbytes, tag, now, task_id)
                flows.append(ev)
                self._version += 1
                target = c + max(tag - v, 0.0) * 1
                if rate is None:
                    t1 = self.model.time_at(target)
                else:  # ConstantBandwidth.time_at, inline
                    t1 = 0.0 if target <= 0 else (target / rate if rate > 0 else math.inf)
                if not _isinf(t1):
                    timer = _Timeout(env, max(t1 - now, 0.0))
                    timer.link_version = self._version
                    timer.callbacks.append(self._fire_cb)
        else:
            c = self.model.cumulative(now)
            tail = self.flows[-1].tag if self.active else c
            ev = _Flow(env, nbytes, max(c, tail) + nbytes, now, task_id)
            self.flows.append(ev)
            if self.active == 1:
                self._replan(now)
        if self.on_flows is not None:
            self.on_flows(now, len(self.flows) - self._head)
        return ev

    def cancel(self, ev: simpy.Event) -> None:
        """Withdraw the flow whose completion event is ``ev``; the other flows share its capacity from now on.

        Bytes already sent are lost; the event never fires. Nothing happens if the flow has finished.
        """
        now = self.env._now
        if self._fair:
            for i, f in enumerate(self.flows):
                if f is ev:
                    break
            else:
                return
            self._advance(now)
            self.flows[i] = self.flows[-1]
            self.flows.pop()
            heapq.heapify(self.flows)
            if not self.flows:
                self._v = 0.0
            self._replan(now)
        else:
            for i in range(self._head, len(self.flows)):
                if self.flows[i] is ev:
                    break
            else:
                return
            f = self.flows[i]
            # later flows queue right behind this one (their tags are the previous tag + their bytes)
            shift = f.tag - max(self.model.cumulative(now), f.tag - f.nbytes) if i == self._head else f.nbytes
            del self.flows[i]
            for g in self.flows[i:]:
                g.tag -= shift
            if self._head == len(self.flows):
                self.flows.clear()
                self._head = 0
            if i == self._head or not self.active:
                self._replan(now)
        if self.on_flows is not None:
            self.on_flows(now, len(self.flows) - self._head)

    def _advance(self, now: float) -> None:
        c = self.model.cumulative(now)
        if self.flows and c > self._c_last:
            self._v += (c - self._c_last) / len(self.flows)
        self._c_last = c

    def _replan(self, now: float) -> None:
        self._version += 1
        flows = self.flows
        if len(flows) == self._head:  # no active flow
            return
        if self._fair:
            target = self._c_last + max(flows[0].tag - self._v, 0.0) * len(flows)
        else:
            target = flows[self._head].tag
        t1 = self.model.time_at(target)
        if math.isinf(t1):
            return  # the link never delivers that much: the flows stay unfinished
        timer = self.env.timeout(max(t1 - now, 0.0))
        timer.link_version = self._version
        timer.callbacks.append(self._fire_cb)

    def _fire(self, timer: simpy.Event) -> None:
        if timer.link_version != self._version:
            return  # superseded by a later re-plan
        env = self.env
        now = env._now
        if self._fair:
            flows = self.flows
            rate = self._rate
            c = self.model.cumulative(now) if rate is None else rate * now  # _advance(now), inline
            if len(flows) == 1:  # the only flow ends and the link goes idle: the steps below, for one flow
                self._c_last = c
                f = flows.pop()
                self._v = 0.0
                if self.on_flows is not None:
                    self.on_flows(now, 0)
                self._version += 1
                if self.on_transfer is not None:
                    self.on_transfer(f.start_s, now, f.nbytes, f.task_id)
                f._ok = True  # _trigger_last(env, f), inline
                f._value = None
                queue = env._queue
                if queue and queue[0][0] <= now:
                    env.schedule(f)
                    return
                callbacks, f.callbacks = f.callbacks, None
                for callback in callbacks:
                    callback(f)
                return
            if flows and c > self._c_last:
                self._v += (c - self._c_last) / len(flows)
            self._c_last = c
            done = [heapq.heappop(flows)]
            while flows and flows[0].tag - self._v <= 1e-9 * flows[0].nbytes:
                done.append(heapq.heappop(flows))  # flows finishing at the same instant
            if not flows:
                self._v = 0.0  # an idle link restarts its virtual clock (keeps tags small)
        else:
            done = [self.flows[self._head]]
            self._head += 1
            if self._head == len(self.flows):
                self.flows.clear()
                self._head = 0
            elif self._head > 64 and self._head * 2 > len(self.flows):
                del self.flows[: self._head]  # drop finished flows in bulk
                self._head = 0
        if self.on_flows is not None:
            self.on_flows(now, len(self.flows) - self._head)
        if len(self.flows) == self._head:  # no flow left: _replan(now) would only retire the plan
            self._version += 1
        else:
            self._replan(now)
        on_transfer = self.on_transfer
        if len(done) == 1:  # the usual case; this is the timer's only callback: nothing of it runs after
            f = done[0]
            if on_transfer is not None:
                on_transfer(f.start_s, now, f.nbytes, f.task_id)
            _trigger_last(env, f)
            return
        for f in done:
            if on_transfer is not None:
                on_transfer(f.start_s, now, f.nbytes, f.task_id)
            ev = f  # f.succeed(), inline
            ev._ok = True
            ev._value = None
            env.schedule(ev)

    def __repr__(self) -> str:
        return f"Link({self.name}: {self.active} flows, {self.sharing}, {self.model!r})"


# ----------------------------------------------------------------------------- setup


@dataclass(slots=True)
class TaskSpec:
    """One task of the workload: who, when, and its sizes.

    ``deadline_s`` is relative to the arrival (``inf``: none).

    ``cycles`` and ``data`` are variant 0's; ``variants`` is ``None`` for a
    task without variants (one implicit variant) and ``accuracy_req`` its
    accuracy requirement (a fraction, 0 = none).
    ``app`` is the task's application (its structure is ``SystemSpec.graphs[app]``).
    """

    task_id: int
    device: int
    arrival_s: float
    cycles: np.ndarray  # (n,)
    data: np.ndarray  # (m,)
    deadline_s: float = math.inf
    variants: Variants | None = None
    accuracy_req: float = 0.0
    app: int = 0  # index into SystemSpec.graphs / apps


@dataclass
class DeviceSpec:
    """A device's CPU speed, wireless bandwidth models and (optional) propagation latency models."""

    cpu_hz: float
    up: BandwidthModel
    down: BandwidthModel
    lat_up: Any = None  # a simoffload.net.latency.LatencyModel, or None: no propagation delay
    lat_down: Any = None


@dataclass
class SystemSpec:
    """Everything the engine needs for one run, already in SI units and built models.

    Attributes:
        graph: the task structure shared by the workload (the first application's when there are several).
        graphs: the structure of each application (None: ``[graph]``).
        apps: the applications' names, for the records (None: ``["default"]``).
        tasks: the workload, sorted by arrival.
        devices: per device: CPU speed and wireless up/down bandwidth models.
        shared_cell: if True, all devices share the wireless links of device 0.
        edge_cores, edge_hz: the edge CPU.
        cloud_hz: cloud speed (inf = zero execution time).
        wan_up, wan_down: edge<->cloud bandwidth models.
        wan_lat_up, wan_lat_down: edge<->cloud propagation latency models (None: 0 s).
        seed: the run's root seed (random per-transfer latencies draw from their own streams of it).
        sharing: "fair" or "fifo" on every link.
        horizon_s: simulation end; unfinished work is reported as such.
        decision_time: "modelled", "measured" or "calibrated".
        cycles_per_op: edge cycles per declared policy operation (modelled time).
        decision_cost: calibrated time: ``(policy label, policy) -> draw()``, a function returning
            the seconds of each decision (built from a cost file, see :mod:`simoffload.sim.calibration`).
        decision_on_edge_cpu: decisions need an edge core (else a dedicated controller).
        decision_priority: decisions wait ahead of queued subtasks for an edge core (no preemption).
        request_bytes, reply_bytes: decision request/reply sizes on the wireless link.
        estimator: what the policy is told about bandwidth.
        objective: passed to the policy in every observation.
        dag_execution: "parallel" or "serial".
        on_deadline: "keep" (a late task runs on and is ``missed``) or "drop" (abandoned at its deadline:
            ``dropped``; its in-flight work is withdrawn, see :meth:`Simulation.abandon`).
        record_subtasks, record_links, record_queues: which records to keep.
        topology: several edge sites (:class:`simoffload.sim.engine_sites.Topology`); ``None``: one edge,
            run by :class:`Simulation` (``SiteSimulation`` runs the other case).
    """

    graph: TaskGraph
    tasks: list[TaskSpec]
    devices: list[DeviceSpec]
    graphs: list[TaskGraph] | None = None
    apps: list[str] | None = None
    edge_cores: int = 1
    edge_hz: float = 2.5e9
    cloud_hz: float = math.inf
    wan_up: BandwidthModel | None = None
    wan_down: BandwidthModel | None = None
    wan_lat_up: Any = None
    wan_lat_down: Any = None
    seed: int = 0
    shared_cell: bool = False
    sharing: str = "fair"
    horizon_s: float = 3600.0
    decision_time: str = "modelled"
    cycles_per_op: float = 1.0
    decision_cost: Callable[[str, Policy], Callable[[], float]] | None = None
    decision_on_edge_cpu: bool = True
    decision_priority: bool = True
    request_bytes: float = 0.0
    reply_bytes: float = 0.0
    estimator: Any = field(default_factory=OracleEstimator)
    objective: Objective = LATENCY
    dag_execution: str = "parallel"
    on_deadline: str = "keep"
    record_subtasks: bool = True
    record_links: bool = True
    record_queues: bool = True
    topology: Any = None


TASK_FIELDS = ("policy", "task_id", "device", "arrival_s", "start_s", "finish_s", "latency_s",
               "decision_s", "placement", "energy_j", "app", "deadline_s", "site", "reason", "status")
#: every value of the tasks table's ``status`` column
STATUSES = ("done", "missed", "dropped", "failed", "unfinished")
SUBTASK_FIELDS = ("policy", "task_id", "subtask", "place", "ready_s", "start_s", "end_s")
LINK_FIELDS = ("policy", "link", "kind", "start_s", "end_s", "value", "bytes", "task_id")
#: the links table's row kinds (the first codes of its ``kind`` column)
LINK_KINDS = ("bandwidth", "transfer", "flows", "queue")
#: appended to TASK_FIELDS when the workload has variants (tables without variants keep their bytes)
VARIANT_TASK_FIELDS = ("variant", "accuracy", "accuracy_req")


class RunRecords:
    """Append-only records of one policy's run (tuples in the *_FIELDS order).

    ``tasks``, ``subtasks`` and ``links`` are :class:`~simoffload.sim.records.RecordBuffer`
    objects: the engine appends tuples to ``tasks`` and packed rows to the other two
    (the policy a constant, link names and kinds small codes); every chunk of rows
    becomes one typed batch, kept in memory or streamed to a file
    (:class:`~simoffload.sim.records.RunSink`).
    """

    def __init__(self, policy: str, task_fields: tuple = TASK_FIELDS):
        from .records import RecordBuffer, chunk_rows

        n = chunk_rows()
        self.policy = policy
        self.task_fields = task_fields
        self.tasks = RecordBuffer(task_fields, n)
        self.subtasks = RecordBuffer(SUBTASK_FIELDS, n, const={"policy": policy})
        self.links = RecordBuffer(LINK_FIELDS, n, const={"policy": policy}, codes={"link": [], "kind": LINK_KINDS})
        self.end_s = 0.0
        self.wall_s = 0.0  # wall clock of the whole run (not reproducible: meta.json only)
        self.decide_wall_s = 0.0  # wall clock spent in decide() calls, summed
        self.decisions = 0
        self._full = n

    def set_task_fields(self, fields: tuple) -> None:
        """The tasks table's columns (before any row is appended)."""
        from .records import RecordBuffer

        self.task_fields = fields
        self.tasks = RecordBuffer(fields, self._full)

    def check(self) -> None:
        """Move full buffers out (once per task arrival: cheap when nothing is full)."""
        if len(self.subtasks.rows) >= self.subtasks.full:
            self.subtasks.flush()
        if len(self.links.rows) >= self.links.full:
            self.links.flush()
        if len(self.tasks.rows) >= self.tasks.full:
            self.tasks.flush()

    def flush(self) -> None:
        """Move every pending row out (to the sink, if one is attached)."""
        for b in (self.tasks, self.subtasks, self.links):
            if b.sink is not None:
                b.flush()


class _NoWork:
    """The work entry of a chain task before its first step: nothing to withdraw."""

    def cancel(self, ev: Any) -> None:
        pass


_NO_WORK = _NoWork()


class _TaskState:
    __slots__ = ("spec", "graph", "placement", "decision_s", "energy_j", "finish_s", "start_s", "site", "dead",
                 "status", "reason", "held", "core_held", "obs", "timings", "variant", "cycles", "data")

    def __init__(self, spec: TaskSpec, graph: TaskGraph, timings: list | None = None):
        self.spec = spec
        self.graph = graph
        self.obs: Observation | None = None
        self.timings = timings  # per subtask (ready, start, end), only for policies that observe
        self.placement: np.ndarray | None = None
        self.variant = 0  # the chosen variant; cycles and data are the ones executed
        self.cycles = spec.cycles
        self.data = spec.data
        self.decision_s = math.nan
        self.start_s = math.nan
        self.energy_j = 0.0
        self.finish_s = math.nan
        self.site = 0  # the edge site the device was associated with at arrival
        self.dead = False  # abandoned (dropped or failed): no further step starts
        self.status = ""  # set when abandoned; otherwise decided from finish_s and the deadline at the end
        self.reason = ""
        self.held: list | None = []  # (resource, event) of the requests made while the task lives (see _chain_task)
        self.core_held = False  # holds an edge core for its decision


# ----------------------------------------------------------------------------- simulation


class Simulation:
    """One run of one policy over a :class:`SystemSpec`.

    Args:
        spec: the system and workload.
        policy: the deciding policy (already reset with its random stream).
        policy_name: label for the records.
        on_task_done: optional callback (count of finished tasks) for progress bars.
    """

    def __init__(self, spec: SystemSpec, policy: Policy, policy_name: str,
                 on_task_done: Callable[[], None] | None = None):
        self.spec = spec
        self.policy = policy
        self.name = policy_name
        self.env = env = simpy.Environment()
        self.rec = RunRecords(policy_name)
        self.on_task_done = on_task_done
        self.graph = spec.graph
        self.graphs = spec.graphs or [spec.graph]
        self.apps = spec.apps or ["default"]
        def mk(name: str, model: BandwidthModel, lat: Any = None) -> Link:
            return Link(env, name, model, spec.sharing, self._sink(name, "transfer"), self._sink(name, "flows"),
                        lat, spec.seed)
        on_queue = self._sink("edge_cpu", "queue")

        self.dev_cpu = [Cpu(env, f"device{i}_cpu", 1, d.cpu_hz) for i, d in enumerate(spec.devices)]
        if spec.shared_cell:
            d0 = spec.devices[0]
            up, down = mk("cell_up", d0.up, d0.lat_up), mk("cell_down", d0.down, d0.lat_down)
            self.w_up = [up] * len(spec.devices)
            self.w_down = [down] * len(spec.devices)
        else:
            self.w_up = [mk(f"device{i}_up", d.up, d.lat_up) for i, d in enumerate(spec.devices)]
            self.w_down = [mk(f"device{i}_down", d.down, d.lat_down) for i, d in enumerate(spec.devices)]
        self.edge_cpu = Cpu(env, "edge_cpu", spec.edge_cores, spec.edge_hz, on_queue)
        if spec.wan_up is None or spec.wan_down is None:
            raise ValueError("the WAN link needs bandwidth models")
        self.wan_up = mk("wan_up", spec.wan_up, spec.wan_lat_up)
        self.wan_down = mk("wan_down", spec.wan_down, spec.wan_lat_down)
        self.states: dict[int, _TaskState] = {}  # the tasks in the system, by task id (arrival order)
        self._window: deque[_TaskState] = deque()  # arrived tasks whose row is not yet emitted, in arrival order
        self._quiet: dict[int, float] = {}  # abandoned task id -> when its last withdrawn job would have ended
        self._draw_cost = None
        self._modelled = spec.decision_time == "modelled"
        if spec.decision_time == "calibrated":
            if spec.decision_cost is None:
                raise ValueError("calibrated decision time needs decision_cost")
            self._draw_cost = spec.decision_cost(policy_name, policy)
        observe = getattr(policy, "observe", None)
        self._observing = observe is not None and getattr(observe, "__func__", observe) is not Policy.observe
        self._external = bool(getattr(policy, "external", False))
        self._in_system = [0] * len(spec.devices)  # tasks of each device arrived and not finished
        self._active_devices = 0
        has = getattr(spec.tasks, "has_variants", None)  # a streamed workload knows without a pass
        self._variants = bool(has) if has is not None else any(t.variants is not None for t in spec.tasks)
        if self._variants:
            self.rec.set_task_fields(TASK_FIELDS + VARIANT_TASK_FIELDS)
        try:
            self._ops_take_variants = "n_variants" in inspect.signature(policy.decision_ops).parameters
        except (TypeError, ValueError):
            self._ops_take_variants = False
        # a chain task runs as one flat generator unless a subclass changes how chains run
        self._instant = (type(self)._decide is Simulation._decide and not self._external
                         and not spec.request_bytes > 0 and not spec.reply_bytes > 0)
        self._flat_chain = all(getattr(type(self), m) is getattr(Simulation, m) for m in ("_run_chain", "_move", "_execute"))
        self._has_latency = any(link.latency is not None for link in (*self.w_up, *self.w_down, self.wan_up, self.wan_down))
        self._tx_w = spec.objective.tx_power_w
        self._place_text: dict[bytes, str] = {}  # placement (int64 bytes) -> its text in the tasks table
        self._taken: np.ndarray | None = None  # the last read-only placement accepted (see _accept)
        self._taken_text: str | None = None  # its text in the tasks table, once known
        self._chain_consts: tuple | None = None  # what every chain task reads (see _chain_task)
        # the oracle's estimates of constant capacities never change: each device's four, once
        models = [[link.model for link in (self.w_up[i], self.wan_up, self.w_down[i], self.wan_down)]
                  for i in range(len(spec.devices))]
        self._fixed_est: list[tuple[float, ...]] | None = None
        if type(spec.estimator) in (OracleEstimator, _ChannelOracle) \
                and all(type(m) is ConstantBandwidth for ms in models for m in ms):
            self._fixed_est = [tuple(spec.estimator.estimate(m, 0.0) for m in ms) for ms in models]
        self._rx_w = spec.objective.rx_power_w

    def _sink(self, name: str, kind: str) -> Callable[..., None] | None:
        """The links-table callback of link or CPU ``name`` for rows of ``kind`` (``transfer``, ``flows``,
        ``queue``), packed as records.RecordBuffer keeps them; ``None`` when the scenario does not record them."""
        spec = self.spec
        if not spec.record_links or (kind != "transfer" and not spec.record_queues):
            return None
        rl = self.rec.links
        # float constants: struct packs a float faster than an int
        put, pack, nan, none = rl.put, rl.pack, math.nan, -1.0
        code, kc = float(rl.code("link", name)), float(LINK_KINDS.index(kind))
        if kind == "transfer":
            return lambda s, e, b, tid: put(pack(code, kc, s, e, nan, b, tid))
        if kind == "flows":
            return lambda t, k: put(pack(code, kc, t, nan, k, nan, none))
        return lambda t, q, busy: put(pack(code, kc, t, nan, q, nan, none))

    # ---- moves and execution ----------------------------------------------------------

    def _move(self, st: _TaskState, nbytes: float, a: int, b: int) -> Iterator[simpy.Event]:
        """Carry ``nbytes`` from place a to place b over the hops between them.

        On each hop the flow joins the link at once, shares it until its last byte
        is sent, then the hop's propagation latency (if any) passes before the
        data is at the far end (it holds no share of the link meanwhile).
        """
        if st.dead:
            return
        dev = st.spec.device
        tid = st.spec.task_id
        env = self.env
        held = st.held
        if a < b:
            if a == DEVICE:
                link = self.w_up[dev]
                t0 = env.now
                ev = link.transfer(nbytes, tid)
                held.append((link, ev))
                yield ev
                st.energy_j += self._tx_w * (env.now - t0)
                if link.delay is not None:  # propagation after the last byte
                    yield env.timeout(link.delay(env.now))
            if b == CLOUD:
                if st.dead:
                    return
                link = self.wan_up
                ev = link.transfer(nbytes, tid)
                held.append((link, ev))
                yield ev
                if link.delay is not None:
                    yield env.timeout(link.delay(env.now))
        else:
            if a == CLOUD:
                link = self.wan_down
                ev = link.transfer(nbytes, tid)
                held.append((link, ev))
                yield ev
                if link.delay is not None:
                    yield env.timeout(link.delay(env.now))
            if b == DEVICE:
                if st.dead:
                    return
                link = self.w_down[dev]
                t0 = env.now
                ev = link.transfer(nbytes, tid)
                held.append((link, ev))
                yield ev
                st.energy_j += self._rx_w * (env.now - t0)
                if link.delay is not None:
                    yield env.timeout(link.delay(env.now))

    def _execute(self, st: _TaskState, v: int, p: int) -> Iterator[simpy.Event]:
        if st.dead:
            return
        cycles = float(st.cycles[v])
        env = self.env
        ready = env.now
        start = ready
        if cycles > 0:
            if p == DEVICE:
                cpu = self.dev_cpu[st.spec.device]
                ev = cpu.run(cycles / cpu.speed_hz)
                st.held.append((cpu, ev))
                yield ev
                if st.dead:  # withdrawn while running: the core was freed then, the step never completed
                    return
                start = ev.start_s
                st.energy_j += self.spec.objective.kappa * cpu.speed_hz ** 2 * cycles
            elif p == EDGE:
                ev = self.edge_cpu.run(cycles / self.edge_cpu.speed_hz)
                st.held.append((self.edge_cpu, ev))
                yield ev
                if st.dead:
                    return
                start = ev.start_s
            elif math.isfinite(self.spec.cloud_hz):
                yield env.timeout(cycles / self.spec.cloud_hz)
                if st.dead:
                    return
        if self.spec.record_subtasks:
            self.rec.subtasks.put(self.rec.subtasks.pack(st.spec.task_id, v, p, ready, start, env.now))
        if st.timings is not None:
            st.timings[v] = (ready, start, env.now)

    # ---- deciding ---------------------------------------------------------------------

    def _observe(self, st: _TaskState) -> Observation:
        spec, env, dev = self.spec, self.env, st.spec.device
        d = spec.devices[dev]
        t = env._now
        fixed = self._fixed_est
        if fixed is not None:
            b1, b2, b1d, b2d = fixed[dev]
        else:
            est = spec.estimator
            b1, b2 = est.estimate(self.w_up[dev].model, t), est.estimate(self.wan_up.model, t)
            b1d, b2d = est.estimate(self.w_down[dev].model, t), est.estimate(self.wan_down.model, t)
        obs = Observation(  # positional up to ``objective`` (keywords cost a microsecond on every decision)
            st.graph, st.spec.cycles, st.spec.data, d.cpu_hz, spec.edge_hz, b1, b2, b1d, b2d,
            spec.cloud_hz, self.edge_cpu.waiting, self.edge_cpu.busy, spec.edge_cores, t, dev, spec.objective,
            active_devices=self._active_devices, variants=st.spec.variants, accuracy_req=st.spec.accuracy_req,
        )
        if self._has_latency:
            lu, l2, ld, l2d = (link.latency for link in (self.w_up[dev], self.wan_up, self.w_down[dev], self.wan_down))
            obs.lat1_s = 0.0 if lu is None else lu.estimate(t)
            obs.lat2_s = 0.0 if l2 is None else l2.estimate(t)
            obs.lat1_down_s = 0.0 if ld is None else ld.estimate(t)
            obs.lat2_down_s = 0.0 if l2d is None else l2d.estimate(t)
        return obs

    def _ask_policy(self, st: _TaskState, obs: Observation) -> tuple[Any, float]:
        """The policy's answer to ``obs`` and the wall-clock seconds it took.

        A policy's own exception ends its run as a :class:`PolicyError`. An external
        controller answers through an event instead: :meth:`_ask_external`.
        """
        if self._observing:
            st.obs = obs
        w0 = _time.perf_counter()
        try:
            place = self.policy.decide(obs)
        except Exception as exc:  # a policy's bug ends its run, not the whole comparison
            raise PolicyError(f"policy {self.name!r} failed deciding task {st.spec.task_id} at t={self.env.now:g} s: "
                              f"{type(exc).__name__}: {exc}") from exc
        wall = _time.perf_counter() - w0
        self.rec.decide_wall_s += wall
        self.rec.decisions += 1
        return place, wall

    def _ask_external(self, st: _TaskState, obs: Observation) -> Iterator[simpy.Event]:
        """The answer of an external controller (a Gymnasium agent) through an event; it takes 0 s of wall clock."""
        if self._observing:
            st.obs = obs
        ev = self.env.event()
        self.policy.submit(obs, ev)
        place = yield ev
        return place, 0.0

    def _decide(self, st: _TaskState) -> Iterator[simpy.Event]:
        spec, env = self.spec, self.env
        dev = st.spec.device
        if st.dead:
            return
        if spec.request_bytes > 0:
            t0 = env.now
            ev = self.w_up[dev].transfer(spec.request_bytes, st.spec.task_id)
            st.held.append((self.w_up[dev], ev))
            yield ev
            st.energy_j += self._tx_w * (env.now - t0)
            if self.w_up[dev].delay is not None:
                yield env.timeout(self.w_up[dev].delay(env.now))
                if st.dead:
                    return
        yield from self._decide_held(st, self._decision_hold(st))

    def _decision_hold(self, st: _TaskState) -> float | None:
        """Seconds the decision holds its core: modelled or calibrated; ``None`` when measured (the wall clock)."""
        if self._modelled:
            spec = self.spec
            n_var = 1 if st.spec.variants is None else len(st.spec.variants)
            if n_var > 1 and self._ops_take_variants:
                ops = float(self.policy.decision_ops(st.graph, n_variants=n_var))
            else:
                ops = float(self.policy.decision_ops(st.graph))
            return ops * spec.cycles_per_op / spec.edge_hz
        if self._draw_cost is not None:
            return self._draw_cost()
        return None

    def _decide_held(self, st: _TaskState, hold: float | None) -> Iterator[simpy.Event]:
        """The decision after its request has arrived: wait for a core, observe, ask, hold, reply."""
        spec, env = self.spec, self.env
        dev = st.spec.device
        use_core = spec.decision_on_edge_cpu and (hold is None or hold > 0)
        if use_core:
            wait = self.edge_cpu.acquire(urgent=spec.decision_priority)
            if wait is not None:
                st.held.append((self.edge_cpu, wait))
                yield wait
            st.core_held = True
        obs = self._observe(st)
        if self._external:  # the decision comes from outside the simulation (a Gymnasium agent)
            place, wall = yield from self._ask_external(st, obs)
        else:
            place, wall = self._ask_policy(st, obs)
        self._accept(st, place)
        if hold is None:
            hold = wall
        if hold > 0:
            yield env.timeout(hold)
        if st.core_held:
            st.core_held = False
            self.edge_cpu.release_acquired()
        if st.dead:
            return
        if spec.reply_bytes > 0:
            t0 = env.now
            ev = self.w_down[dev].transfer(spec.reply_bytes, st.spec.task_id)
            st.held.append((self.w_down[dev], ev))
            yield ev
            st.energy_j += self._rx_w * (env.now - t0)
            if self.w_down[dev].delay is not None:
                yield env.timeout(self.w_down[dev].delay(env.now))

    def _accept(self, st: _TaskState, place: Any) -> None:
        """Check the policy's answer and take its variant and placement."""
        variants = st.spec.variants
        if variants is None:
            if place is self._taken and len(place) == st.graph.n:  # the read-only answer checked last time
                st.variant, st.placement = 0, place
                return
            if type(place) is np.ndarray and place.dtype.kind in "iu" \
                    and place.shape == (st.graph.n,):  # the usual answer: check_decision's fast path, inline
                codes = place.tolist()
                if codes and min(codes) >= 0 and max(codes) < 3:
                    if place.dtype == _INT64 and not place.flags.writeable:
                        # nobody may change it (a static policy's one answer per task size): taken as it is,
                        # and the next task given this same array skips the checks
                        st.variant, st.placement = 0, place
                        self._taken, self._taken_text = place, None
                    else:
                        st.variant, st.placement = 0, place.astype(np.int64)
                    return
        n_var = 1 if variants is None else len(variants)
        try:
            st.variant, st.placement = check_decision(place, st.graph, n_var)
        except ValueError as exc:
            raise PolicyError(f"policy {self.name!r} returned a bad placement for task {st.spec.task_id}: {exc}") from None
        if st.variant:
            st.cycles = st.spec.variants.cycles[st.variant]
            st.data = st.spec.variants.data[st.variant]

    # ---- task processes ---------------------------------------------------------------

    def _task(self, st: _TaskState) -> Iterator[simpy.Event]:
        """The task's process: a chain's one flat generator (:meth:`_chain_task`) when this engine's
        ``_run_chain``, ``_move`` and ``_execute`` are the ones below, else :meth:`_task_steps`."""
        if self._flat_chain and st.graph.is_chain:
            return self._chain_task(st)
        return self._task_steps(st)

    def _task_steps(self, st: _TaskState) -> Iterator[simpy.Event]:
        env = self.env
        yield from self._decide(st)
        if st.dead:
            return
        st.start_s = env.now
        st.decision_s = st.start_s - st.spec.arrival_s
        if st.graph.is_chain:
            yield from self._run_chain(st)
        elif self.spec.dag_execution == "serial":
            yield from self._run_dag_serial(st)
        else:
            yield from self._run_dag_parallel(st)
        if st.dead:
            return
        self._done(st)

    def _done(self, st: _TaskState) -> None:
        """The task's output is back on the device now."""
        st.finish_s = self.env._now
        st.held = None
        self._leave(st)
        if self.on_task_done is not None:
            self.on_task_done()

    def _leave(self, st: _TaskState) -> None:
        """The task has left the system (finished or abandoned): count it out and report it."""
        self.states.pop(st.spec.task_id, None)
        dev = st.spec.device
        self._in_system[dev] -= 1
        if not self._in_system[dev]:
            self._active_devices -= 1
        if self._observing:
            self._report(st)

    def _status(self, st: _TaskState) -> str:
        if st.status:
            return st.status
        if math.isnan(st.finish_s):
            return "unfinished"
        return "missed" if st.finish_s - st.spec.arrival_s > st.spec.deadline_s else "done"

    def _report(self, st: _TaskState) -> None:
        """Tell the policy how the task turned out (now: its output is back, or the horizon)."""
        s = st.spec
        done = not math.isnan(st.finish_s)
        n = st.graph.n
        tm = st.timings
        nan = math.nan
        if tm is None:
            tm = [None] * n
        if None in tm:
            tm = [(nan, nan, nan) if t is None else t for t in tm]
        ready, start, end = np.array(tm, dtype=float).T  # one (n, 3) array: ready, start, end per subtask
        obs = st.obs
        self.policy.observe(Outcome(
            task_id=s.task_id, device=s.device, obs=obs, placement=st.placement,
            status=self._status(st), arrival_s=s.arrival_s, deadline_s=s.deadline_s,
            decided_s=nan if obs is None else obs.time_s, start_s=st.start_s, finish_s=st.finish_s,
            known_s=self.env.now, latency_s=st.finish_s - s.arrival_s if done else nan,
            decision_s=st.decision_s, energy_j=st.energy_j, ready_s=ready, exec_start_s=start, end_s=end,
            variant=st.variant,
            accuracy=float(s.variants.accuracy[st.variant]) if s.variants is not None and st.placement is not None else nan,
        ))

    def _run_chain(self, st: _TaskState) -> Iterator[simpy.Event]:
        place = st.placement.tolist()
        data = st.data
        prev = DEVICE
        for v, p in enumerate(place):
            if p != prev and data[v] > 0:
                yield from self._move(st, float(data[v]), prev, p)
            yield from self._execute(st, v, p)
            prev = p
        n = len(place)
        if prev != DEVICE and data[n] > 0 and not st.dead:
            yield from self._move(st, float(data[n]), prev, DEVICE)

    def _chain_task(self, st: _TaskState) -> Iterator[simpy.Event]:
        """A chain task's whole process in one generator: :meth:`_task_steps` with
        :meth:`_run_chain`, :meth:`_move` and :meth:`_execute` written out inline.

        This is the engine's hot path: each ``yield from`` level costs every event's
        resumption a frame, so the chain's steps are done here, exactly as those methods do
        them, step by step and in the same order (the DAG paths and subclasses use the
        methods). Once the task is dead nothing further starts, as there.
        """
        if self._instant:  # nothing to send for the decision: it may need no event at all
            if st.dead:
                return
            hold = self._decision_hold(st)
            if hold is not None and not hold > 0:  # no core, no hold: decided at once (as _decide_held does)
                self._accept(st, self._ask_policy(st, self._observe(st))[0])
            else:
                yield from self._decide_held(st, hold)
        else:
            yield from self._decide(st)
        if st.dead:
            return
        env = self.env
        st.start_s = env._now
        st.decision_s = st.start_s - st.spec.arrival_s
        s = st.spec
        dev, tid = s.device, s.task_id
        timings = st.timings
        # the work under way: a chain task waits for one request at a time, and a finished request
        # needs no withdrawing, so one entry of ``st.held`` is overwritten step by step (as if each
        # step were appended: :meth:`abandon` cancels the live one and skips finished ones)
        now_held = [_NO_WORK, None]
        st.held.append(now_held)
        rec = self.rec.subtasks if self.spec.record_subtasks else None
        rec_put, rec_pack = (rec.put, rec.pack) if rec is not None else (None, None)
        consts = self._chain_consts
        if consts is None:  # the run's constants, gathered once
            consts = self._chain_consts = (self.w_up, self.w_down, self.wan_up, self.wan_down, self.dev_cpu,
                                           self.edge_cpu, self._tx_w, self._rx_w, self.spec.objective.kappa,
                                           self.spec.cloud_hz, math.isfinite(self.spec.cloud_hz))
        w_ups, w_downs, wan_up, wan_down, dcpus, ecpu, tx_w, rx_w, kappa, cloud_hz, cloud_timed = consts
        w_up, w_down, dcpu = w_ups[dev], w_downs[dev], dcpus[dev]
        tid_f = float(tid) if rec is not None else 0.0  # struct packs a float faster than an int
        place = st.placement.tolist()
        cycles = st.cycles.tolist()
        data = st.data.tolist()
        n = len(place)
        prev = DEVICE
        for v in range(n + 1):
            p = place[v] if v < n else DEVICE  # v == n: the output goes back to the device
            if p != prev and data[v] > 0:  # ---- the move (see _move)
                if st.dead:
                    return
                nbytes = float(data[v])
                if prev < p:
                    if prev == DEVICE:
                        t0 = env._now
                        ev = w_up.transfer(nbytes, tid)
                        now_held[0], now_held[1] = w_up, ev
                        yield ev
                        st.energy_j += tx_w * (env._now - t0)
                        if w_up.delay is not None:
                            yield env.timeout(w_up.delay(env._now))
                    if p == CLOUD:
                        if st.dead:
                            return
                        ev = wan_up.transfer(nbytes, tid)
                        now_held[0], now_held[1] = wan_up, ev
                        yield ev
                        if wan_up.delay is not None:
                            yield env.timeout(wan_up.delay(env._now))
                else:
                    if prev == CLOUD:
                        ev = wan_down.transfer(nbytes, tid)
                        now_held[0], now_held[1] = wan_down, ev
                        yield ev
                        if wan_down.delay is not None:
                            yield env.timeout(wan_down.delay(env._now))
                    if p == DEVICE:
                        if st.dead:
                            return
                        t0 = env._now
                        ev = w_down.transfer(nbytes, tid)
                        now_held[0], now_held[1] = w_down, ev
                        yield ev
                        st.energy_j += rx_w * (env._now - t0)
                        if w_down.delay is not None:
                            yield env.timeout(w_down.delay(env._now))
            if v == n:
                break
            if st.dead:  # ---- the execution (see _execute)
                return
            c = float(cycles[v])
            ready = start = env._now
            if c > 0:
                if p == DEVICE:
                    ev = dcpu.run(c / dcpu.speed_hz)
                    now_held[0], now_held[1] = dcpu, ev
                    yield ev
                    if st.dead:  # withdrawn while running: the step never completed
                        return
                    start = ev.start_s
                    st.energy_j += kappa * dcpu.speed_hz ** 2 * c
                elif p == EDGE:
                    ev = ecpu.run(c / ecpu.speed_hz)
                    now_held[0], now_held[1] = ecpu, ev
                    yield ev
                    if st.dead:
                        return
                    start = ev.start_s
                elif cloud_timed:
                    yield env.timeout(c / cloud_hz)
                    if st.dead:
                        return
            if rec is not None:
                rec_put(rec_pack(tid_f, v, p, ready, start, env._now))
            if timings is not None:
                timings[v] = (ready, start, env._now)
            prev = p
        if st.dead:
            return
        self._done(st)

    def _place_of(self, st: _TaskState, node: int) -> int:
        return DEVICE if node < 0 or node >= st.graph.n else int(st.placement[node])

    def _run_dag_serial(self, st: _TaskState) -> Iterator[simpy.Event]:
        g = st.graph
        data = st.data
        for v in range(g.n + 1):  # node n = the device output
            pv = self._place_of(st, v)
            for k in g.in_edges[v]:
                a = self._place_of(st, int(g.src[k]))
                if a != pv and data[k] > 0 and not st.dead:
                    yield from self._move(st, float(data[k]), a, pv)
            if v < g.n:
                yield from self._execute(st, v, pv)

    def _run_dag_parallel(self, st: _TaskState) -> Iterator[simpy.Event]:
        g, env = st.graph, self.env
        data = st.data
        arrived = [env.event() for _ in range(g.m)]

        def carry(k: int) -> Iterator[simpy.Event]:
            a, b = self._place_of(st, int(g.src[k])), self._place_of(st, int(g.dst[k]))
            if a != b and data[k] > 0:
                yield from self._move(st, float(data[k]), a, b)
            if not st.dead:
                arrived[k].succeed()

        def node(v: int) -> Iterator[simpy.Event]:
            yield simpy.AllOf(env, [arrived[k] for k in g.in_edges[v]])
            yield from self._execute(st, v, self._place_of(st, v))
            if st.dead:
                return
            for k in g.out_edges[v]:
                env.process(carry(k))

        for k in g.input_edges:
            env.process(carry(k))
        for v in range(g.n):
            env.process(node(v))
        yield simpy.AllOf(env, [arrived[k] for k in g.output_edges])

    def _source(self) -> Iterator[simpy.Event]:
        env = self.env
        drop = self.spec.on_deadline == "drop"
        horizon = self.spec.horizon_s
        graphs, observing = self.graphs, self._observing
        states, window, in_system = self.states, self._window, self._in_system
        site_at, task, check = self._site_at_arrival, self._task, self.rec.check
        deadline_cb = self._deadline_timer
        for ts in self.spec.tasks:
            if ts.arrival_s >= horizon:
                break
            dt = ts.arrival_s - env._now
            if dt > 0:
                yield env.timeout(dt)
            g = graphs[ts.app]
            st = _TaskState(ts, g, [None] * g.n if observing else None)
            st.site = site_at(st)
            states[ts.task_id] = st
            window.append(st)
            if window[0] is not st:
                self._release()
            check()
            dev = ts.device
            if not in_system[dev]:
                self._active_devices += 1
            in_system[dev] += 1
            _TaskProcess(env, task(st))
            if drop and ts.deadline_s < math.inf:
                t = _Timeout(env, ts.deadline_s)
                t.task = st
                t.callbacks.append(deadline_cb)

    def _site_at_arrival(self, st: _TaskState) -> int:
        """The edge site the task's device is associated with at arrival (one edge: 0)."""
        return 0

    def _deadline_timer(self, timer: simpy.Timeout) -> None:  # a task's deadline timer's only callback
        self._deadline_passed(timer.task)

    def _deadline_passed(self, st: _TaskState, _: Any = None) -> None:
        if math.isnan(st.finish_s) and not st.dead:
            self.abandon(st, "dropped", "deadline")

    def abandon(self, st: _TaskState, status: str = "failed", reason: str = "") -> None:
        """Abandon a task now: mark it ``status`` (``failed`` or ``dropped``) with ``reason``, withdraw its work.

        What happens to the task's in-flight work (the rule of ``on_deadline: drop``, and of any
        failure): every transfer it has on a link leaves the link at once (the bytes sent are
        lost, the other flows share the capacity from now on); every CPU job of it that waits
        for a core leaves the queue; a job running on a core stops at once and frees the core;
        an edge core held for its decision is freed. Work already in the cloud (no resource)
        or a propagation delay under way simply ends without effect. Nothing further of the
        task starts, it gets no ``finish_s`` or latency, and its device energy counts what was
        spent up to the last completed step. Abandoning a finished or already abandoned task
        does nothing.

        Call it from any process or callback of the engine (e.g. a handover rule); the task's
        own processes stop at their next step without raising.

        Args:
            st: the task's state (``self.states`` holds the tasks in the system by id).
            status: ``"failed"`` or ``"dropped"``.
            reason: short text for the tasks table's ``reason`` column (e.g. ``"handover"``).
        """
        if status not in ("failed", "dropped"):
            raise ValueError(f"a task is abandoned as failed or dropped, not {status!r}")
        if st.dead or not math.isnan(st.finish_s):
            return
        st.dead = True
        st.status, st.reason = status, reason
        quiet = self.env.now
        for res, ev in st.held or ():
            if isinstance(res, Cpu) and getattr(ev, "timer", None) is None and hasattr(ev, "start_s") \
                    and not ev.processed:  # a job started on a free core: its timeout still fires (then the
                quiet = max(quiet, ev.start_s + getattr(ev, "_delay", 0.0))  # process sees it and stops)
            res.cancel(ev)
        self._quiet[st.spec.task_id] = quiet
        st.held = None
        if st.core_held:
            st.core_held = False
            self.edge_cpu.release_acquired()
        self._leave(st)
        if self.on_task_done is not None:
            self.on_task_done()

    def fail_task(self, task_id: int, reason: str) -> None:
        """Mark task ``task_id``, in the system, ``failed`` with ``reason`` and withdraw its work (see :meth:`abandon`).

        Raises:
            KeyError: the task is not in the system (it has not arrived, or has already left).
        """
        st = self.states.get(task_id)
        if st is None:
            raise KeyError(f"task {task_id} is not in the system (not arrived yet, or already left)")
        self.abandon(st, "failed", reason)

    # ---- records ----------------------------------------------------------------------

    def _release(self, final: bool = False) -> None:
        """Emit the rows of the leading tasks that have left the system, in arrival order.

        A task's row waits until it and every task that arrived before it have
        left (finished or abandoned), so the tasks table keeps arrival order. An
        abandoned task's row also waits until a job withdrawn from a core would
        have ended (its process wakes then and returns without counting the job);
        ``final`` (the end of the run) emits everything.
        """
        w, quiet, now = self._window, self._quiet, self.env._now
        append = self.rec.tasks.append
        while w:
            st = w[0]
            if not final:
                if st.dead:
                    if quiet.get(st.spec.task_id, now) >= now:
                        break
                elif math.isnan(st.finish_s):
                    break
            w.popleft()
            quiet.pop(st.spec.task_id, None)
            append(self._task_row(st))

    def _task_row(self, st: _TaskState) -> tuple:
        """The tasks-table row of a task (TASK_FIELDS, plus VARIANT_TASK_FIELDS with variants)."""
        s = st.spec
        done = not math.isnan(st.finish_s)
        if st.placement is None:
            place = ""
        elif st.placement is self._taken:  # the read-only answer of the last decisions (see _accept)
            place = self._taken_text
            if place is None:
                place = self._taken_text = "".join(map(str, st.placement.tolist()))
        else:  # a run uses few distinct placements: their text once each
            key = st.placement.tobytes()
            place = self._place_text.get(key)
            if place is None:
                place = "".join(map(str, st.placement.tolist()))
                if len(self._place_text) < 4096:  # bounded: a random policy over a big DAG repeats few
                    self._place_text[key] = place
        lat = st.finish_s - s.arrival_s if done else math.nan
        row = (
            self.name, s.task_id, s.device, s.arrival_s, st.start_s, st.finish_s,
            lat, st.decision_s, place, st.energy_j, self.apps[s.app], s.deadline_s, st.site, st.reason,
            self._status(st),
        )
        if self._variants:
            decided = st.placement is not None
            acc = (1.0 if s.variants is None else float(s.variants.accuracy[st.variant])) if decided else math.nan
            row += (st.variant if decided else -1, acc, float(s.accuracy_req))
        return row

    # ---- run --------------------------------------------------------------------------

    def start(self) -> None:
        """Schedule the workload (then advance ``env`` yourself and call :meth:`finish`)."""
        self.env.process(self._source())

    def finish(self) -> RunRecords:
        """Report the tasks still in the system to an observing policy and emit the remaining rows."""
        self.rec.end_s = self.env.now
        if self._observing:
            for st in list(self.states.values()):
                if math.isnan(st.finish_s) and not st.dead:
                    self._report(st)
        self._release(final=True)
        self.rec.check()
        return self.rec

    def run(self) -> RunRecords:
        """Simulate until every task is done or the horizon; return the records."""
        w0 = _time.perf_counter()
        self.start()
        _run_until(self.env, self.spec.horizon_s)
        self.rec.wall_s = _time.perf_counter() - w0
        return self.finish()


def bandwidth_rows(name: str, model: BandwidthModel, t1: float, max_rows: int = 20000) -> list[tuple]:
    """Link-table rows describing the capacity ``model`` offered over [0, t1].

    Exact steps when there are at most ``max_rows``; otherwise the mean
    capacity over equal bins (computed exactly from the cumulative capacity).
    """
    t1 = float(t1)
    if not math.isfinite(t1) or t1 <= 0:
        t1 = 1.0
    # a short looping model replays its steps every period: count them before listing them
    n_rates, period = len(getattr(model, "rates", ())), getattr(model, "period", None)
    many = (getattr(model, "after", None) == "loop" and period and period > 0
            and n_rates * (t1 / period + 1) > max_rows)
    times, rates = (np.zeros(max_rows + 1), None) if many else model.steps(0.0, t1)
    if len(times) > max_rows:
        edges = np.linspace(0.0, t1, max_rows + 1)
        cum = np.array([model.cumulative(x) for x in edges])
        times, rates = edges[:-1], np.diff(cum) / np.diff(edges)
    ends = np.append(times[1:], t1)
    return [("*", name, "bandwidth", float(a), float(b), float(r), math.nan, -1) for a, b, r in zip(times, ends, rates)]
