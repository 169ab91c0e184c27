"""simoffload.testing: ``check_policy`` runs the conformance suite over every registered policy, and each
check is shown to catch the fault it is for.

Learned policies are trained tiny here (about a second each). A third-party
policy runs the same checks with ``simoffload.testing.check_policy(MyPolicy)``.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from simoffload.model.cost import LATENCY
from simoffload.model.task import TaskGraph
from simoffload.policy import Policy
from simoffload.registry import make_policy, registered
from simoffload.rng import rng_for
from simoffload.testing import CHECKS, PolicyCheckError, check_policy, conformance_instances

TINY_NET = dict(samples=600, hidden=[16, 16], epochs=2, batch_size=64, progress=False)
PARAMS = {  # constructor parameters that keep learned policies' training to about a second
    "large-dil": dict(TINY_NET),
    "baseline-dil": dict(TINY_NET),
    "kd-dil": dict(TINY_NET, teacher_params=dict(TINY_NET)),
    "dqn": dict(samples=300, timesteps=300, learning_starts=100, hidden=[16], progress=False),
}

G = TaskGraph.chain(6)


@pytest.fixture(scope="module")
def inst():
    return conformance_instances(6, 60)


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
    return name, pol


@pytest.mark.parametrize("check", [c for _, c in CHECKS], ids=[n for n, _ in CHECKS])
def test_registered_policy_passes(policy, inst, check):
    name, pol = policy
    pol.prepare(G)  # learned ones train once (module-scoped object), into the test-session model cache
    check(pol, inst)


class OnlyDecide(Policy):
    """Edge when the link is fast, else local: a minimal third-party policy."""

    def __init__(self, threshold_Bps: float = 1e6):
        self.threshold_Bps = threshold_Bps

    def decide(self, obs):
        return np.full(obs.graph.n, 1 if obs.b1_Bps > self.threshold_Bps else 0)


def test_check_policy_accepts_a_class_an_object_or_a_name():
    names = [n for n, _ in CHECKS]
    assert check_policy(OnlyDecide) == names
    assert check_policy(OnlyDecide(threshold_Bps=2e6)) == names
    assert check_policy(OnlyDecide, threshold_Bps=5e5) == names
    assert check_policy("greedy") == names


# --- the checks must be able to fail: one broken policy per check ---------------------------------


class BadParams(OnlyDecide):
    def __init__(self, threshold_Bps: float = 1e6):
        self.limit = threshold_Bps  # stored under another name: get_params cannot rebuild it


class TouchesGlobalRNGInPrepare(OnlyDecide):
    def prepare(self, graph):
        np.random.random()


class OutOfRange(OnlyDecide):
    def decide(self, obs):
        return np.full(obs.graph.n, 3)


class BatchDisagrees(OnlyDecide):
    def decide_batch(self, inst, objective=LATENCY):
        return np.zeros((len(inst), inst.graph.n), dtype=np.int64)


class UsesGlobalRandom(Policy):
    stochastic = True  # honest about randomness, but draws from the global generator instead of its stream

    def __init__(self):
        pass

    def decide(self, obs):
        return np.full(obs.graph.n, random.randrange(2))


class ObserveTouchesGlobalRNG(OnlyDecide):
    def observe(self, outcome):
        np.random.random()  # only a simulation calls observe


@pytest.mark.parametrize("cls, check", [
    (ObserveTouchesGlobalRNG, "simulation_reproducible"),
    (BadParams, "rebuilds"),
    (TouchesGlobalRNGInPrepare, "prepare_keeps_global_rng"),
    (OutOfRange, "feasible"),
    (BatchDisagrees, "single_equals_batched"),
    (UsesGlobalRandom, "same_stream_same_decisions"),
])
def test_each_check_catches_its_fault(cls, check):
    with pytest.raises(PolicyCheckError) as e:
        check_policy(cls)
    assert e.value.check == check, str(e.value)


def test_the_optimum_check_catches_a_policy_below_the_optimum(monkeypatch, inst):
    import simoffload.testing as t

    # a policy cannot beat the exact optimum through the shared cost model, so make the checker's optimum too high
    real = t.chain_dp
    monkeypatch.setattr(t, "chain_dp", lambda c, d: (real(c, d)[0], real(c, d)[1] * 1.5))
    with pytest.raises(PolicyCheckError) as e:
        t.check_never_beats_optimum(make_policy("optimal"), inst)
    assert e.value.check == "never_beats_optimum"
