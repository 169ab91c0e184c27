"""simoffload.testing: ``check_policy`` takes a class, an object or a name, and each check catches the fault
it is for (tests/test_conformance.py runs the checks over every registered policy)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from simoffload.model.cost import LATENCY
from simoffload.policy import Policy
from simoffload.registry import make_policy
from simoffload.testing import CHECKS, PolicyCheckError, check_policy, conformance_instances


@pytest.fixture(scope="module")
def inst():
    return conformance_instances(6, 60)


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
