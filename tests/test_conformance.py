"""The conformance suite (:func:`simoffload.testing.check_policy`) run over every registered policy.

Every policy, built-in or learned (trained tiny here), passes each check of
:data:`simoffload.testing.CHECKS` (feasible, single = batched, same stream
same decisions, global random states untouched, never below the exact
optimum, rebuilds from its parameters, reproducible in a simulation with
outcomes observed, save/load round trip); a third-party policy runs the same
checks with ``check_policy(MyPolicy)``. That each check catches its fault is
tested in ``tests/test_testing.py``.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from simoffload.model.cost import LATENCY
from simoffload.model.task import TaskGraph
from simoffload.policy import Policy
from simoffload.registry import make_policy, registered
from simoffload.rng import rng_for
from simoffload.testing import CHECKS, conformance_instances

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


def _global_states():
    st = np.random.get_state()
    return (st[1].copy(), st[2:]), random.getstate(), torch.get_rng_state().clone()


@pytest.mark.parametrize("name", sorted(LEARNED))
def test_training_leaves_the_global_random_state_untouched(name):
    before = _global_states()
    make_policy(name, **PARAMS[name]).fit()
    after = _global_states()
    assert np.array_equal(before[0][0], after[0][0]) and before[0][1] == after[0][1]
    assert before[1] == after[1] and torch.equal(before[2], after[2])


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
