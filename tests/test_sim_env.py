"""OffloadSim-v0: the Gymnasium environment over the running simulator, and the sb3 policy trained on it."""

from __future__ import annotations

import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import simoffload.learn.sim_env as se
from simoffload.config import load_scenario, parse_scenario
from simoffload.errors import UserError
from simoffload.learn.online import monotone_placements
from simoffload.sim.results import tables_from
from simoffload.sim.scenario import build_world, make_policies, run_scenario, run_world

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "scenarios" / "quickstart.yaml"

BUSY = {  # 4 devices on one edge core, a horizon that leaves work unfinished
    "name": "busy-env", "seed": 2, "horizon": 600,
    "task": {"subtasks": 6, "distribution": "paper-5.1"},
    "devices": {"count": 4, "cpu": "550 MHz", "arrivals": {"poisson": {"rate": "0.03 /s"}}},
    "edge": {"cores": 1, "cpu": "2.75 GHz"},
    "network": {"wireless": {"up": "1 MB/s"}, "wan": {"up": "1.5 MB/s"}},
    "policies": ["local"],
}


def test_check_env_passes_on_quickstart():
    env = gym.make("OffloadSim-v0", scenario=str(QUICKSTART))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)


def rollout(env, seed, actions_rng):
    obs, _ = env.reset(seed=seed)
    traj, done = [obs], False
    while not done:
        obs, r, done, trunc, info = env.step(int(actions_rng.integers(env.action_space.n)))
        assert not trunc
        traj += [obs, r]
    return traj


def test_same_seed_same_trajectory_other_seed_other_one():
    a = rollout(se.OffloadSimEnv(BUSY), 7, np.random.default_rng(0))
    b = rollout(se.OffloadSimEnv(BUSY), 7, np.random.default_rng(0))
    c = rollout(se.OffloadSimEnv(BUSY), 8, np.random.default_rng(0))
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert len(a) != len(c) or not all(np.array_equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("fixed", ["local", "edge", "cloud"])
def test_rewards_are_the_realised_latencies_of_the_engine_run(fixed):
    """A constant action reproduces the static policy's run: minus the rewards sum to its latencies."""
    P = monotone_placements(6).tolist()
    action = P.index([{"local": 0, "edge": 1, "cloud": 2}[fixed]] * 6)
    env = se.OffloadSimEnv(BUSY)
    env.reset(seed=5)
    total, credited, done, steps = 0.0, [], False, 0
    while not done:
        _, r, done, _, info = env.step(action)
        total += r
        steps += 1
        for tid, cost in info["outcomes"]:
            credited.append(tid)
    sc = parse_scenario(dict(BUSY, policies=[fixed]))
    t = tables_from(run_world(build_world(sc, 5), make_policies(sc, 5))).tasks
    assert steps == (t.placement != "").sum()
    horizon = 600.0
    want = t.latency_s[t.status == "done"].sum() + (horizon - t.arrival_s[t.status != "done"]).sum()
    assert (t.status != "done").sum() > 0  # the delayed-credit rule for unfinished work is exercised
    assert -total == pytest.approx(want, rel=1e-12)
    assert sorted(credited) == sorted(t.task_id)  # every task credited exactly once


def test_credit_is_given_only_once_the_outcome_is_known():
    env = se.OffloadSimEnv(BUSY)
    env.reset(seed=3)
    sc = parse_scenario(dict(BUSY, policies=["edge"]))
    t = tables_from(run_world(build_world(sc, 3), make_policies(sc, 3))).tasks.set_index("task_id")
    done = False
    while not done:
        _, _, done, _, info = env.step(monotone_placements(6).tolist().index([1] * 6))
        for tid, _ in info["outcomes"]:
            if not done:  # known by the time of the next decision, not after it
                assert t.loc[tid].finish_s <= info["time_s"]


def test_an_sb3_agent_trained_on_it_runs_as_a_policy_in_a_scenario(tmp_path):
    path = se.train_dqn(QUICKSTART, tmp_path / "agent.pt", timesteps=300, seed=0, hidden=(16,), learning_starts=50)
    sc = load_scenario(QUICKSTART)
    from simoffload.config import PolicyConfig

    sc.policies = [PolicyConfig(name="optimal"), PolicyConfig(name="sb3", params={"model": str(path)})]
    res = run_scenario(sc)
    t = tables_from(res).tasks
    assert set(t.policy) == {"optimal", "sb3"} and (t[t.policy == "sb3"].status == "done").all()
    # not better than the optimum of a constant-bandwidth idle system (decision time aside)
    assert t[t.policy == "sb3"].latency_s.mean() >= t[t.policy == "optimal"].latency_s.mean() * (1 - 1e-9)
    # a damaged file is refused with one clear error
    bad = tmp_path / "bad.pt"
    bad.write_bytes(path.read_bytes()[:200])
    sc.policies = [PolicyConfig(name="sb3", params={"model": str(bad)})]
    with pytest.raises(UserError, match="bad.pt"):
        run_scenario(sc)


def test_check_env_passes_with_task_variants():
    from tests.test_online import VARIANTS_IDLE  # noqa: F401 - the same variant family

    env = se.OffloadSimEnv(dict(VARIANTS_IDLE, horizon=200 * 20))
    assert env.max_variants == 3 and env.action_space.n == 3 * 28 and env.observation_space.shape == (10 + 6 + 7 + 9,)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=1)
    _, _, _, _, _ = env.step(2 * 28)  # variant 2 ("tiny"), all local
    env.step(2 * 28)
    st0 = env.sim.states.get(0)  # still in the system, or its row already emitted (arrival order)
    variant = st0.variant if st0 is not None else next(r for r in env.sim.rec.tasks if r[1] == 0)[15]
    assert variant == 2


@pytest.mark.skipif(not (ROOT / "scenarios" / "model_selection.yaml").exists(), reason="model_selection.yaml not shipped yet")
def test_check_env_passes_on_model_selection():
    env = gym.make("OffloadSim-v0", scenario=str(ROOT / "scenarios" / "model_selection.yaml"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)
