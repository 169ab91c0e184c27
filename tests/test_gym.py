"""Gymnasium environments and the DQN policy."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import simoffload.learn.gym_envs as ge
from policies.dqn import DQNPolicy
from simoffload.model.cost import coefficients, latency
from simoffload.model.solvers import all_placements, chain_dp
from simoffload.model.task import RequirementDistribution, TaskGraph
from simoffload.rng import rng_for


@pytest.mark.parametrize("env_id", ["OffloadOneStep-v0", "OffloadSequential-v0"])
def test_check_env_passes(env_id):
    env = gym.make(env_id, n=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # check_env reports problems as warnings; treat them as failures
        check_env(env.unwrapped, skip_render_check=True)


def test_action_encoding_matches_all_placements():
    P = all_placements(4)
    for a in (0, 1, 5, 40, 80):
        assert np.array_equal(ge.action_to_placement(a, 4), P[a])
        assert ge.placement_to_action(P[a]) == a


def test_one_step_reward_ranks_actions_by_latency():
    env = ge.OffloadOneStepEnv(n=4)
    env.reset(seed=9)
    inst = env.inst
    rewards = []
    for a in range(81):
        env.inst = inst
        _, r, term, trunc, info = env.step(a)
        assert term and not trunc
        rewards.append(r)
    Lb = np.array([latency(inst, p[None, :])[0] for p in all_placements(4)])
    best = int(np.argmax(rewards))
    Popt, Lopt = chain_dp(coefficients(inst), inst.data)
    assert np.isclose(Lb[best], Lopt[0])
    # strictly decreasing in latency: higher reward <=> lower latency (where not clipped)
    order = np.argsort(Lb)
    r = np.array(rewards)[order]
    assert np.all(np.diff(r) <= 1e-12)
    assert np.isclose(rewards[0], 0.0)  # all-local: log(L_local / L_local)


def test_sequential_return_is_minus_relative_latency():
    env = ge.OffloadSequentialEnv(n=6)
    obs, _ = env.reset(seed=4)
    place = [1, 2, 0, 1, 1, 0]
    total = 0.0
    for t, a in enumerate(place):
        assert obs[env.n_feat + 3 * env.n + t] == 1.0  # current-subtask one-hot
        obs, r, term, trunc, info = env.step(a)
        total += r
        assert term == (t == 5)
    L = latency(env.inst, np.array([place]))[0]
    L0 = latency(env.inst, np.zeros((1, 6), dtype=int))[0]
    assert np.isclose(info["latency_s"], L)
    assert np.isclose(total, -L / L0)


def test_same_seed_same_episode():
    a, b = ge.OffloadOneStepEnv(n=3), ge.OffloadOneStepEnv(n=3)
    oa, _ = a.reset(seed=1)
    ob, _ = b.reset(seed=1)
    oc, _ = b.reset(seed=2)
    assert np.array_equal(oa, ob) and not np.array_equal(oa, oc)


def test_brief_dqn_beats_random(tmp_path):
    dqn = DQNPolicy(n=3, samples=500, timesteps=1500, hidden=[64, 64], learning_starts=200, batch_size=64,
                    exploration_fraction=0.5, seed=0, progress=False).fit()
    test = RequirementDistribution.from_spec("paper-5.1").sample(TaskGraph.chain(3), 1000, rng_for(1, "tests/dqn"))
    L = latency(test, dqn.decide_batch(test))
    L_random = latency(test, rng_for(2, "tests/dqn/random").integers(0, 3, (1000, 3)))
    assert L.mean() < 0.5 * L_random.mean()
    # save / load round trip without stable-baselines3 pickles
    path = tmp_path / "dqn.pt"
    dqn.save(path)
    assert np.array_equal(DQNPolicy.load(path).decide_batch(test), dqn.decide_batch(test))
    assert dqn.decision_ops(test.graph) == (2 * 3 + 2 * 4 + 4) * 64 + 64 * 64 + 64 * 27


def test_brief_dqn_beats_random_on_sequential_env():
    import random

    import torch
    from stable_baselines3 import DQN

    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        env = ge.OffloadSequentialEnv(n=3)
        model = DQN("MlpPolicy", env, learning_rate=1e-3, buffer_size=5000, learning_starts=300, batch_size=64,
                    exploration_fraction=0.5, train_freq=2, target_update_interval=250, gamma=1.0,
                    policy_kwargs={"net_arch": [64, 64]}, seed=0, device="cpu")
        model.learn(total_timesteps=4500)

        def mean_latency(act) -> float:
            ev = ge.OffloadSequentialEnv(n=3)
            out = []
            for ep in range(300):
                obs, _ = ev.reset(seed=10_000 + ep)  # the same episodes for both
                done = False
                while not done:
                    obs, _, done, _, info = ev.step(act(obs))
                out.append(info["latency_s"])
            return float(np.mean(out))

        rng = rng_for(3, "tests/sequential/random")
        L_dqn = mean_latency(lambda o: int(model.predict(o, deterministic=True)[0]))
        L_random = mean_latency(lambda o: int(rng.integers(3)))
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])
    assert L_dqn < 0.5 * L_random, (L_dqn, L_random)
