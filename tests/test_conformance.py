"""Conformance suite run over every registered policy (the scikit-learn check_estimator habit).

Every policy, built-in or learned (trained tiny here), must: return feasible
placements; agree between single and batched decisions; give the same
decisions after a reset with the same random stream; leave the global numpy,
``random`` and torch random states untouched; never beat the exact optimum;
rebuild from its own parameters (``cls(**get_params())``); and, if learned,
round-trip through save/load with identical decisions.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from simoffload.model.cost import LATENCY, coefficients, cost
from simoffload.model.solvers import chain_dp
from simoffload.model.task import RequirementDistribution, TaskGraph
from simoffload.policy import Observation, Policy
from simoffload.registry import make_policy, registered, resolve
from simoffload.rng import rng_for

TINY_NET = dict(samples=600, hidden=[16, 16], epochs=2, batch_size=64, progress=False)
PARAMS = {  # constructor parameters that keep learned policies' training to about a second
    "large-dil": dict(TINY_NET),
    "baseline-dil": dict(TINY_NET),
    "kd-dil": dict(TINY_NET, teacher_params=dict(TINY_NET)),
    "dqn": dict(samples=300, timesteps=300, learning_starts=100, hidden=[16], progress=False),
}
LEARNED = set(PARAMS)

G = TaskGraph.chain(6)


@pytest.fixture(scope="module")
def inst():
    return RequirementDistribution.from_spec("paper-5.1").sample(G, 60, rng_for(5, "tests/conformance"))


def observations(inst):
    return [Observation(G, inst.cycles[i], inst.data[i], float(inst.p1[i]), float(inst.p2[i]),
                        float(inst.b1[i]), float(inst.b2[i])) for i in range(len(inst))]


@pytest.fixture(scope="module", params=sorted(registered()))
def policy(request):
    name = request.param
    params = PARAMS.get(name, {})
    if name == "sb3":  # an agent trained (briefly) on OffloadSim-v0 over the quickstart scenario
        from pathlib import Path

        from simoffload.learn.sim_env import train_dqn

        out = request.getfixturevalue("tmp_path_factory").mktemp("sb3") / "agent.pt"
        quickstart = Path(__file__).resolve().parents[1] / "scenarios" / "quickstart.yaml"
        params = {"model": str(train_dqn(quickstart, out, timesteps=120, seed=0, hidden=(16,), learning_starts=40))}
    pol = make_policy(name, **params)
    pol.reset(rng_for(0, f"tests/conformance/{name}"))
    pol.prepare(G)  # learned ones train here (into the test-session model cache)
    return name, pol


def _global_states():
    return np.random.get_state()[1].copy(), random.getstate(), torch.get_rng_state().clone()


def test_decisions_are_feasible_and_single_equals_batched(policy, inst):
    name, pol = policy
    if pol.stochastic:
        pol.reset(rng_for(0, "a"))
    single = np.array([pol.decide(o) for o in observations(inst)])
    assert single.shape == (len(inst), G.n) and set(np.unique(single)) <= {0, 1, 2}
    if not pol.stochastic:  # a random policy draws differently one by one than in a batch
        np.testing.assert_array_equal(pol.decide_batch(inst, LATENCY), single)


def test_same_stream_same_decisions_and_global_rng_untouched(policy, inst):
    name, pol = policy
    before = _global_states()
    pol.reset(rng_for(7, "stream"))
    a = pol.decide_batch(inst, LATENCY)
    pol.reset(rng_for(7, "stream"))
    b = pol.decide_batch(inst, LATENCY)
    np.testing.assert_array_equal(a, b)
    after = _global_states()
    assert np.array_equal(before[0], after[0]) and before[1] == after[1] and torch.equal(before[2], after[2])


def test_no_policy_beats_the_exact_optimum(policy, inst):
    name, pol = policy
    best = chain_dp(coefficients(inst), inst.data)[1]
    got = cost(inst, pol.decide_batch(inst, LATENCY))
    assert np.all(got >= best * (1 - 1e-12))


def test_rebuilds_from_its_own_parameters(policy):
    name, pol = policy
    cls = resolve(name)
    assert issubclass(cls, Policy) and isinstance(pol, cls)
    clone = cls(**pol.get_params())
    assert clone.get_params() == pol.get_params()
    assert pol.decision_ops(G) >= 0


def test_learned_policies_round_trip_through_a_file(policy, inst, tmp_path):
    name, pol = policy
    if name not in LEARNED:
        pytest.skip("not a learned policy")
    path = tmp_path / f"{name}.pt"
    pol.save(path)
    again = make_policy(name, weights=str(path))
    np.testing.assert_array_equal(again.decide_batch(inst, LATENCY), pol.decide_batch(inst, LATENCY))


@pytest.mark.parametrize("name", sorted(LEARNED))
def test_training_leaves_the_global_random_state_untouched(name):
    before = _global_states()
    make_policy(name, **PARAMS[name]).fit()
    after = _global_states()
    assert np.array_equal(before[0], after[0]) and before[1] == after[1] and torch.equal(before[2], after[2])


def test_a_policy_with_only_decide_gets_a_batched_form(inst):
    class OnlyDecide(Policy):
        def __init__(self, threshold_Bps: float = 1e6):
            self.threshold_Bps = threshold_Bps

        def decide(self, obs):
            return np.full(obs.graph.n, 1 if obs.b1_Bps > self.threshold_Bps else 0)

    got = OnlyDecide().decide_batch(inst, LATENCY)
    want = np.where(inst.b1 > 1e6, 1, 0)[:, None] * np.ones((1, G.n), dtype=int)
    np.testing.assert_array_equal(got, want)

    class Neither(Policy):
        pass

    with pytest.raises(NotImplementedError, match="neither"):
        Neither().decide_batch(inst, LATENCY)


OBSERVE_WORLD = {  # three devices sharing an edge core: a few dozen 6-subtask tasks, some still running at the horizon
    "name": "conformance", "seed": 2, "horizon": 300,
    "task": {"subtasks": 6, "distribution": "paper-5.1"},
    "devices": {"count": 3, "cpu": "550 MHz", "arrivals": {"poisson": {"rate": 0.05}}},
    "edge": {"cores": 1, "cpu": "2.75 GHz"},
    "network": {"wireless": {"up": "1 MB/s"}, "wan": {"up": "1.5 MB/s"}},
    "policies": ["local"],
}


def test_runs_in_the_simulator_hearing_outcomes_reproducibly(policy):
    """In a simulation (outcomes reported to ``observe``): same stream, same run; global RNG untouched."""
    from simoffload.config import parse_scenario
    from simoffload.sim.engine import Simulation
    from simoffload.sim.scenario import build_world

    name, pol = policy
    world = build_world(parse_scenario(OBSERVE_WORLD))
    heard = []
    observe = pol.observe

    def spy(outcome):
        heard.append(outcome.task_id)
        observe(outcome)

    runs = []
    before = _global_states()
    for _ in range(2):
        pol.reset(rng_for(11, f"tests/conformance/observe/{name}"))
        pol.observe = spy  # instance attribute: the engine sees an overridden observe for every policy
        try:
            sim = Simulation(world.system, pol, name)
            runs.append(sim.run())
        finally:
            del pol.observe
    after = _global_states()
    assert np.array_equal(before[0], after[0]) and before[1] == after[1] and torch.equal(before[2], after[2])
    assert runs[0].tasks == runs[1].tasks
    n = len(runs[0].tasks)
    assert n > 5 and sorted(heard) == sorted(list(range(n)) * 2)
