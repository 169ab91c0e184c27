"""Conformance checks for offloading policies (the scikit-learn ``check_estimator`` habit).

``check_policy(MyPolicy)`` (or an instance) runs every check a policy must pass
to be used in simoffload, and raises :class:`PolicyCheckError` naming the first
one that fails. The same checks run over every registered policy in
``tests/test_conformance.py``. A policy must:

* ``rebuilds``: rebuild from its own parameters (``cls(**p.get_params())`` has the
  same parameters) and declare a non-negative decision cost;
* ``prepare_keeps_global_rng``: get ready (``prepare``; learned policies train
  or load here) without touching the global ``random``, numpy or torch random state;
* ``feasible``: return, for each decision, n integers in {0, 1, 2};
* ``single_equals_batched``: give the same placements one by one (``decide``) as
  in a batch (``decide_batch``), unless it is ``stochastic``;
* ``same_stream_same_decisions``: decide identically after ``reset`` with the same
  random stream, leaving the global random states untouched;
* ``never_beats_optimum``: never have a lower latency than the exact optimum
  (the chain dynamic programme of the shared cost model);
* ``simulation_reproducible``: run twice in a small simulation (three devices
  sharing one edge core, outcomes reported to ``observe``) from the same random
  stream: identical task records, every task's outcome heard exactly once per
  run, the global random states untouched;
* ``save_load_round_trip`` (only policies with ``save`` and a ``weights``
  parameter): decide identically after a round trip through a model file.

The instances are paper-5.1 requirements on a chain of ``n`` subtasks (default
6), drawn from a fixed stream, so results do not depend on the caller's state.
"""

from __future__ import annotations

import random
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .model.cost import LATENCY, coefficients, cost
from .model.solvers import chain_dp
from .model.task import Instances, RequirementDistribution, TaskGraph
from .policy import Observation, Policy
from .rng import rng_for

__all__ = ["CHECKS", "PolicyCheckError", "check_policy", "conformance_instances"]


class PolicyCheckError(AssertionError):
    """A policy failed a conformance check; ``check`` names which."""

    def __init__(self, check: str, message: str):
        super().__init__(f"{check}: {message}")
        self.check = check


def conformance_instances(n: int = 6, size: int = 60, seed: int = 5) -> Instances:
    """The requirement batch the checks decide on: ``size`` paper-5.1 chains of ``n`` subtasks."""
    return RequirementDistribution.from_spec("paper-5.1").sample(TaskGraph.chain(n), size, rng_for(seed, "tests/conformance"))


def _observations(inst: Instances) -> list[Observation]:
    return [Observation(inst.graph, inst.cycles[i], inst.data[i], float(inst.p1[i]), float(inst.p2[i]),
                        float(inst.b1[i]), float(inst.b2[i])) for i in range(len(inst))]


def _global_states() -> tuple:
    torch = sys.modules.get("torch")  # only if already imported: checking must not import torch
    _, key, pos, has_gauss, gauss = np.random.get_state()  # the position too: one draw moves only pos
    return ((key.copy(), pos, has_gauss, gauss), random.getstate(),
            torch.get_rng_state().clone() if torch is not None else None)


def _same_states(a: tuple, b: tuple) -> bool:
    torch = sys.modules.get("torch")
    same_torch = a[2] is None or b[2] is None or bool(torch.equal(a[2], b[2]))
    same_np = bool(np.array_equal(a[0][0], b[0][0])) and a[0][1:] == b[0][1:]
    return same_np and a[1] == b[1] and same_torch


def _fail(check: str, cond: bool, message: str) -> None:
    if not cond:
        raise PolicyCheckError(check, message)


def check_rebuilds(pol: Policy, inst: Instances) -> None:
    """``cls(**get_params())`` has the same parameters; the declared decision cost is >= 0."""
    cls = type(pol)
    try:
        clone = cls(**pol.get_params())
    except (TypeError, AttributeError) as exc:
        raise PolicyCheckError("rebuilds", f"{cls.__name__}(**get_params()) fails ({exc}); "
                               f"__init__ must store each keyword argument under its own name") from None
    _fail("rebuilds", clone.get_params() == pol.get_params(),
          f"parameters change on rebuild: {pol.get_params()} -> {clone.get_params()}")
    ops = pol.decision_ops(inst.graph)
    _fail("rebuilds", float(ops) >= 0, f"decision_ops must be >= 0, got {ops!r}")


def check_prepare_keeps_global_rng(pol: Policy, inst: Instances) -> None:
    """``prepare`` (where learned policies train) leaves the global random states alone."""
    before = _global_states()
    pol.prepare(inst.graph)
    _fail("prepare_keeps_global_rng", _same_states(before, _global_states()),
          "prepare() changed the global random state (random, numpy or torch); use a private generator")


def check_feasible(pol: Policy, inst: Instances) -> None:
    """Every decision is n integers in {0, 1, 2}."""
    pol.reset(rng_for(0, "a"))
    single = np.array([np.asarray(pol.decide(o)) for o in _observations(inst)])
    _fail("feasible", single.shape == (len(inst), inst.graph.n), f"decide() must return {inst.graph.n} places, got shape {single.shape[1:]}")
    _fail("feasible", set(np.unique(single).tolist()) <= {0, 1, 2}, f"places must be 0, 1 or 2, got {sorted(set(np.unique(single).tolist()))}")
    batch = np.asarray(pol.decide_batch(inst, LATENCY))
    _fail("feasible", batch.shape == (len(inst), inst.graph.n), f"decide_batch() must return shape {(len(inst), inst.graph.n)}, got {batch.shape}")
    _fail("feasible", set(np.unique(batch).tolist()) <= {0, 1, 2}, "decide_batch() places must be 0, 1 or 2")


def check_single_equals_batched(pol: Policy, inst: Instances) -> None:
    """One by one and batched decisions agree (not required of ``stochastic`` policies)."""
    if pol.stochastic:
        return
    single = np.array([np.asarray(pol.decide(o)) for o in _observations(inst)])
    batch = np.asarray(pol.decide_batch(inst, LATENCY))
    bad = np.flatnonzero((single != batch).any(axis=1))
    _fail("single_equals_batched", len(bad) == 0, f"decide and decide_batch differ on {len(bad)} of {len(inst)} instances "
          f"(first: instance {bad[0] if len(bad) else -1})")


def check_same_stream_same_decisions(pol: Policy, inst: Instances) -> None:
    """The same random stream gives the same decisions, and the global random states are untouched."""
    before = _global_states()
    pol.reset(rng_for(7, "stream"))
    a = np.asarray(pol.decide_batch(inst, LATENCY))
    pol.reset(rng_for(7, "stream"))
    b = np.asarray(pol.decide_batch(inst, LATENCY))
    _fail("same_stream_same_decisions", np.array_equal(a, b), "two runs from the same random stream decided differently")
    _fail("same_stream_same_decisions", _same_states(before, _global_states()),
          "deciding changed the global random state (random, numpy or torch); draw from the stream reset() gives")


def check_never_beats_optimum(pol: Policy, inst: Instances) -> None:
    """No decision has a lower latency than the exact optimum."""
    best = chain_dp(coefficients(inst), inst.data)[1]
    got = cost(inst, np.asarray(pol.decide_batch(inst, LATENCY)))
    bad = np.flatnonzero(got < best * (1 - 1e-12))
    _fail("never_beats_optimum", len(bad) == 0, f"latency below the exact optimum on {len(bad)} instances: "
          f"the cost model is being bypassed or the placement misread")


#: the small world of :func:`check_simulation_reproducible`: three devices sharing one edge core,
#: a few dozen tasks, some still running at the horizon
SIM_WORLD = {
    "name": "conformance", "seed": 2, "horizon": 300,
    "task": {"subtasks": 6, "distribution": "paper-5.1"},
    "devices": {"count": 3, "cpu": "550 MHz", "arrivals": {"poisson": {"rate": 0.05}}},
    "edge": {"cores": 1, "cpu": "2.75 GHz"},
    "network": {"wireless": {"up": "1 MB/s"}, "wan": {"up": "1.5 MB/s"}},
    "policies": ["local"],
}


def check_simulation_reproducible(pol: Policy, inst: Instances) -> None:
    """Two simulation runs from the same stream give the same records; each outcome is heard once per run."""
    from .config import parse_scenario
    from .sim.engine import Simulation
    from .sim.scenario import build_world

    if inst.graph.n != SIM_WORLD["task"]["subtasks"] or not inst.graph.is_chain:
        return  # the world's tasks are 6-chains
    world = build_world(parse_scenario(SIM_WORLD))
    heard: list[int] = []
    observe = pol.observe

    def spy(outcome: Any) -> None:
        heard.append(outcome.task_id)
        observe(outcome)

    runs = []
    before = _global_states()
    for _ in range(2):
        pol.reset(rng_for(11, "tests/conformance/observe"))
        pol.observe = spy  # an instance attribute: the engine calls it for every policy
        try:
            runs.append(Simulation(world.system, pol, "conformance").run())
        finally:
            del pol.observe
    _fail("simulation_reproducible", _same_states(before, _global_states()),
          "a simulation run changed the global random state (random, numpy or torch)")
    _fail("simulation_reproducible", runs[0].tasks == runs[1].tasks, "two runs from the same random stream differ")
    n = len(runs[0].tasks)
    _fail("simulation_reproducible", sorted(heard) == sorted(list(range(n)) * 2),
          f"observe() must hear each of the {n} tasks once per run")


def check_save_load_round_trip(pol: Policy, inst: Instances) -> None:
    """Policies with ``save`` and a ``weights`` parameter decide identically after a round trip through a file."""
    if not (hasattr(pol, "save") and "weights" in pol.get_params()):
        return
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.pt"
        pol.save(path)
        params = dict(pol.get_params(), weights=str(path))
        again = type(pol)(**params)
        again.prepare(inst.graph)
        _fail("save_load_round_trip", np.array_equal(again.decide_batch(inst, LATENCY), pol.decide_batch(inst, LATENCY)),
              "decisions differ after save and load")


#: (name, check) in the order :func:`check_policy` runs them; each takes a prepared policy and the instances
CHECKS: list[tuple[str, Callable[[Policy, Instances], None]]] = [
    ("rebuilds", check_rebuilds),
    ("prepare_keeps_global_rng", check_prepare_keeps_global_rng),
    ("feasible", check_feasible),
    ("single_equals_batched", check_single_equals_batched),
    ("same_stream_same_decisions", check_same_stream_same_decisions),
    ("never_beats_optimum", check_never_beats_optimum),
    ("simulation_reproducible", check_simulation_reproducible),
    ("save_load_round_trip", check_save_load_round_trip),
]


def as_policy(policy_or_class: Any, **params: Any) -> Policy:
    """A policy object from an object, a class (built with ``params``) or a registered name."""
    if isinstance(policy_or_class, str):
        from .registry import make_policy

        return make_policy(policy_or_class, **params)
    if isinstance(policy_or_class, type) and issubclass(policy_or_class, Policy):
        return policy_or_class(**params)
    if isinstance(policy_or_class, Policy):
        if params:
            raise TypeError("params only apply when a class or a name is given")
        return policy_or_class
    raise TypeError(f"expected a Policy subclass, object or registered name, got {policy_or_class!r}")


def check_policy(policy_or_class: Any, *, n: int = 6, size: int = 60, **params: Any) -> list[str]:
    """Run every conformance check on a policy.

    Args:
        policy_or_class: a :class:`~simoffload.policy.Policy` object, a subclass (built
            with ``params``), or a registered name.
        n: subtasks per chain in the test instances.
        size: number of test instances.
        **params: constructor parameters when a class or name is given.

    Returns:
        The names of the checks that ran (all passed).

    Raises:
        PolicyCheckError: the first failing check, by name, with what went wrong.
    """
    pol = as_policy(policy_or_class, **params)
    inst = conformance_instances(n, size)
    for _, check in CHECKS:
        check(pol, inst)
    return [name for name, _ in CHECKS]
