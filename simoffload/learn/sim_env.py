"""``OffloadSim-v0``: a Gymnasium environment over the running simulator (not the closed form).

``gymnasium.make("OffloadSim-v0", scenario=PATH_OR_SCENARIO)`` builds the
scenario's world (workload, devices, edge, links, estimator) and runs the
SimPy engine with an *external controller* in place of a policy:

* **step = the next decision the simulation asks for**, from any device. The
  engine hands the controller the observation and a SimPy event
  (``Policy.external``); the environment advances the simulation with
  ``env.step()`` until a decision is pending and returns its observation;
  ``step(action)`` succeeds the event with the decision and advances again.
  No threads: the simulation is a generator the environment drives.
* **observation**: what a policy would see,
  :func:`simoffload.learn.online.state_features` (estimated bandwidths, CPU
  speeds, edge queue and busy cores, active devices, accuracy requirement,
  every subtask's cycles and every data edge's bytes, logged) as a
  ``Box(-10, 10, (10 + n + m,), float32)``; with task variants, 3 more per
  variant (accuracy, total cycles, input bytes).
* **action**: ``Discrete(K x V)``: one of K placements of the reduced action
  set (``actions``: monotone split points by default, ``"all"`` for 3^n) times
  V task variants (1 without variants), variant-major.
* **episode**: the scenario's horizon (or until every task has left the
  system). ``reset(seed=s)`` draws the world for seed s, so the same seed and
  the same actions give the same trajectory; ``reset()`` without a seed uses
  the scenario's seed the first time and then seeds drawn from the
  environment's generator.
* **reward (delayed credit)**: the step's reward is minus the realised cost
  (the scenario's objective: latency, or its weighted latency/energy sum,
  times ``reward_scale``) of every task whose outcome became known since the
  previous decision - between the decision returned by the last ``step`` and
  the next one asked for. A task's cost is therefore credited to whichever
  decision happens to come after its completion, not to its own decision
  (which a credit-assigning agent must learn across steps, or the caller can
  use ``info["outcomes"]``: ``(task_id, cost)`` pairs). At the horizon the
  last step also carries every task still in the system, charged the time it
  spent there (a lower bound on its latency); dropped and failed tasks are
  charged the same way when they are abandoned. Accuracy enters as the
  scenario's objective says (``penalty`` mode: ``accuracy_weight`` x the
  shortfall is part of the cost); in ``constrain`` mode a variant below the
  requirement costs ``accuracy_penalty`` per percentage point short.

Train a stable-baselines3 DQN on it and export the Q-network with
:func:`train_dqn` (or ``python -m simoffload.learn.sim_env SCENARIO --out
FILE``); the ``sb3`` policy (``params: {model: FILE}``) then runs it in any
scenario beside the other policies. The file is a simoffload model file
(:mod:`simoffload.learn.io`): plain tensors read with
``torch.load(weights_only=True)``, never a pickle.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..config import Scenario, load_scenario, parse_scenario
from ..model.task import TaskGraph
from ..policy import Observation, Outcome, Policy
from .online import (
    action_placements,
    constraint_violated,
    decision_for,
    n_state_features,
    n_variants,
    realised_cost,
    state_features,
)

OBS_BOUND = 10.0


class ExternalController(Policy):
    """The engine's side of ``OffloadSim-v0``: queues decision requests and outcomes for the environment.

    Args:
        ops: declared operations per decision (the agent's decision cost, charged as for any policy).
    """

    name = "external"
    external = True  # the engine hands decisions to ``submit`` instead of calling ``decide``

    def __init__(self, ops: float = 0.0):
        self.ops = ops
        self.pending: deque = deque()
        self.outcomes: list[Outcome] = []

    def submit(self, obs: Observation, event: Any) -> None:
        self.pending.append((obs, event))

    def observe(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    def decide(self, obs: Observation) -> np.ndarray:  # pragma: no cover - the engine uses submit
        raise RuntimeError("the external controller decides through OffloadSimEnv.step")

    def decision_ops(self, graph: TaskGraph) -> float:
        return float(self.ops)


def _as_scenario(scenario: Any) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, dict):
        return parse_scenario(scenario)
    return load_scenario(Path(scenario))


class OffloadSimEnv(gym.Env):
    """Gymnasium environment over the SimPy engine (module docstring).

    Args:
        scenario: a scenario file path, a parsed :class:`~simoffload.config.Scenario` or a mapping.
        actions: reduced action set (``"monotone"``, ``"whole"``, ``"all"``).
        max_variants: variants the action space provides for (default: the scenario's number of variants).
        reward_scale: multiplies the realised cost (reward = -scale x cost).
        decision_ops: declared operations charged per decision (as a policy's ``decision_ops``).
        accuracy_penalty: reward lost per percentage point below the accuracy requirement (x reward_scale).
    """

    metadata = {"render_modes": []}

    def __init__(self, scenario: Any, actions: str = "monotone", max_variants: int | None = None, reward_scale: float = 1.0,
                 decision_ops: float = 0.0, accuracy_penalty: float = 0.0):
        from ..sim.scenario import task_graph

        self.scenario = _as_scenario(scenario)
        self.graph = task_graph(self.scenario)
        self.actions = actions
        self.placements = action_placements(actions, self.graph.n)
        if max_variants is None:
            max_variants = len(self.scenario.task.variants or ()) or 1
        self.max_variants = int(max_variants)
        self.reward_scale = float(reward_scale)
        self.decision_ops = float(decision_ops)
        self.accuracy_penalty = float(accuracy_penalty)
        self.n_obs = n_state_features(self.graph.n, self.graph.m, self.max_variants)
        self.observation_space = spaces.Box(-OBS_BOUND, OBS_BOUND, (self.n_obs,), np.float32)
        self.action_space = spaces.Discrete(len(self.placements) * self.max_variants)
        self.sim = None
        self._first = True

    # ---- driving the simulation ----------------------------------------------------------
    def _advance(self) -> bool:
        """Run the simulation until a decision is pending (True) or the episode is over (False)."""
        env, ctl, horizon = self.sim.env, self.ctl, self.horizon_s
        while not ctl.pending:
            if env.peek() >= horizon:  # as env.run(until=horizon): nothing at or after the horizon runs
                env.run(until=horizon)  # only moves the clock to the horizon
                return False
            env.step()
        return True

    def _obs(self) -> np.ndarray:
        if not self.ctl.pending:
            return np.zeros(self.n_obs, dtype=np.float32)
        return np.clip(state_features(self.ctl.pending[0][0], self.max_variants), -OBS_BOUND, OBS_BOUND)

    def _cost(self, o: Outcome) -> float:
        if o.obs is None:  # never decided: the time it waited
            c = o.known_s - o.arrival_s
        else:
            c = realised_cost(o) + self.accuracy_penalty * 100.0 * constraint_violated(o)
        return c

    def _collect(self) -> tuple[float, list]:
        done = [(o.task_id, self._cost(o)) for o in self.ctl.outcomes]
        self.ctl.outcomes.clear()
        return -self.reward_scale * sum(c for _, c in done), done

    def _info(self, credited: list) -> dict:
        obs = self.ctl.pending[0][0] if self.ctl.pending else None
        return {"time_s": float(self.sim.env.now), "device": -1 if obs is None else int(obs.device),
                "decisions": int(self.decisions), "outcomes": credited}

    # ---- Gymnasium API -------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        from ..sim.engine import Simulation
        from ..sim.scenario import build_world

        super().reset(seed=seed)
        if seed is not None:
            world_seed = int(seed)
        elif self._first:
            world_seed = int(self.scenario.seed)
        else:
            world_seed = int(self.np_random.integers(2**31))
        self._first = False
        self.world_seed = world_seed
        world = build_world(self.scenario, world_seed)
        self.ctl = ExternalController(self.decision_ops)
        self.sim = Simulation(world.system, self.ctl, "OffloadSim-v0")
        self.horizon_s = float(world.system.horizon_s)
        self.sim.start()
        self.decisions = 0
        self.over = not self._advance()
        if self.over:
            self.sim.finish()
        _, credited = self._collect()  # nothing can be known before the first decision
        return self._obs(), self._info(credited)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.sim is None:
            raise RuntimeError("call reset() before step()")
        if self.over:
            return np.zeros(self.n_obs, dtype=np.float32), 0.0, True, False, self._info([])
        a = int(action)
        if not self.action_space.contains(a):
            raise ValueError(f"action {action!r} outside {self.action_space}")
        obs, event = self.ctl.pending.popleft()
        V = n_variants(obs)
        if a // len(self.placements) >= V:  # a variant the task does not have: its last one
            a = (V - 1) * len(self.placements) + a % len(self.placements)
        event.succeed(decision_for(obs, a, self.placements))
        self.decisions += 1
        if not self._advance():
            self.over = True
            self.sim.finish()  # reports every task still in the system (charged its time there)
        r, credited = self._collect()
        return self._obs(), float(r), bool(self.over), False, self._info(credited)


def train_dqn(scenario: Any, out: str | Path, timesteps: int = 20_000, seed: int = 0, hidden: Any = (64, 64),
              actions: str = "monotone", reward_scale: float = 0.1, **dqn_kwargs: Any) -> Path:
    """Train a stable-baselines3 DQN on ``OffloadSim-v0`` and export its Q-network for the ``sb3`` policy.

    Episodes run the scenario with seeds drawn by the environment; the global
    random states SB3 seeds are restored afterwards.

    Args:
        scenario: path, Scenario or mapping.
        out: the model file to write.
        timesteps: decisions of training.
        seed: SB3 / environment seed.
        hidden: Q-network hidden layers.
        actions: reduced action set.
        reward_scale: reward = -scale x realised cost (seconds).
        **dqn_kwargs: passed to ``stable_baselines3.DQN``.

    Returns:
        The path written.
    """
    import random
    import time

    import torch
    from stable_baselines3 import DQN

    from .io import save_model

    env = OffloadSimEnv(scenario, actions=actions, reward_scale=reward_scale)
    env.reset(seed=seed)
    kw = dict(learning_rate=1e-3, buffer_size=50_000, learning_starts=500, batch_size=64, gamma=0.9,
              exploration_fraction=0.3, exploration_final_eps=0.02, train_freq=1, target_update_interval=500)
    kw.update(dqn_kwargs)
    states = random.getstate(), np.random.get_state(), torch.get_num_threads()
    t0 = time.perf_counter()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.set_num_threads(1)
            model = DQN("MlpPolicy", env, policy_kwargs={"net_arch": [int(h) for h in hidden]}, seed=int(seed),
                        device="cpu", verbose=0, **kw)
            model.learn(total_timesteps=int(timesteps))
            sd = {k: v.detach().clone() for k, v in model.q_net.q_net.state_dict().items()}
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_num_threads(states[2])
    sizes = [env.n_obs, *[int(h) for h in hidden], int(env.action_space.n)]
    params = {"actions": actions, "max_variants": env.max_variants}
    config = {"scenario": env.scenario.name, "timesteps": int(timesteps), "seed": int(seed), "hidden": list(hidden),
              "reward_scale": reward_scale, "dqn": kw}
    save_model(out, policy="sb3", params=params, config=config, sizes=sizes, n=env.graph.n,
               features="online-state-v1", state_dict=sd, scaler_mean=np.zeros(env.n_obs),
               scaler_scale=np.ones(env.n_obs),
               meta={"env": "OffloadSim-v0", "algorithm": "stable-baselines3 DQN", "m": env.graph.m,
                     "timing_s": {"training": time.perf_counter() - t0}})
    return Path(out)


def _register() -> None:
    if "OffloadSim-v0" not in gym.registry:
        gym.register(id="OffloadSim-v0", entry_point="simoffload.learn.sim_env:OffloadSimEnv")


_register()


def main(argv: list[str] | None = None) -> int:
    """``python -m simoffload.learn.sim_env SCENARIO --out FILE [--timesteps N] [--seed S]``."""
    import argparse

    from ..errors import UserError

    ap = argparse.ArgumentParser(description="Train a stable-baselines3 DQN on OffloadSim-v0 for the sb3 policy.")
    ap.add_argument("scenario")
    ap.add_argument("--out", required=True)
    ap.add_argument("--timesteps", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    try:
        path = train_dqn(a.scenario, a.out, a.timesteps, a.seed)
    except UserError as exc:
        import sys

        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
