"""The offloading problem as Gymnasium environments, so any stable-baselines3 agent can learn it.

* ``OffloadOneStep-v0`` (:class:`OffloadOneStepEnv`): one step per episode. The
  observation is a requirement S (features below), the action one whole
  decision out of 3^n (``Discrete(3**n)``; action ``a`` is the placement whose
  base-3 digits, most significant first, are I_0..I_{n-1} - the order of
  :func:`simoffload.model.solvers.all_placements`), and the episode ends.
* ``OffloadSequential-v0`` (:class:`OffloadSequentialEnv`): n steps per episode,
  one subtask at a time in topological order (``Discrete(3)``); the observation
  adds the placements made so far and the current subtask.

Observations are the log-time features of :mod:`simoffload.learn.nets`
(float32), clipped to +-OBS_BOUND after being standardised with ``feature_mean``/``feature_scale`` if given, else
with constants estimated once from 4096 draws of the distribution (a fixed
stream, independent of the episode seeds).

Rewards (latency objective, the shared cost model :mod:`simoffload.model.cost`):

* one-step, ``reward="log-ratio"`` (default): ``log(L_local / L)`` where L is the
  latency of the chosen decision and L_local that of all-local, clipped to
  [-reward_clip, reward_clip]. For a fixed state this is a strictly decreasing
  function of L, so the best action is exactly the latency-optimal one, while
  the raw -L spans seconds to hours under the paper's b1 ~ U[0, 2] MB/s and
  would swamp Q-learning's squared loss. ``"neg-relative"`` gives ``-L/L_local``,
  ``"neg-latency"`` the raw ``-L`` in seconds.
* sequential: each step pays ``-(execution of the subtask + transfers into it
  from already-placed predecessors [+ transfers to the device output on the
  last step]) / L_local``, each step clipped at ``-reward_clip``, so an episode's
  return is ``-L/L_local`` (``reward="neg-latency"`` drops the division).

Episodes draw their instance from ``dataset`` (an
:class:`~simoffload.model.task.Instances`, uniformly with replacement) if given, else
fresh from ``distribution``; each environment owns its generator, seeded by
``reset(seed=...)``.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ..model.cost import coefficients, edge_cost_matrices, evaluate
from ..model.task import Instances, RequirementDistribution, TaskGraph
from ..rng import rng_for
from .nets import features, n_features

REWARDS_ONE_STEP = ("log-ratio", "neg-relative", "neg-latency")
#: standardised features are clipped to +-OBS_BOUND (they stay within +-20 for the paper's distributions)
OBS_BOUND = 100.0


def action_to_placement(a: int, n: int) -> np.ndarray:
    """The placement (n,) encoded by action ``a`` (base 3, subtask 0 most significant)."""
    out = np.empty(n, dtype=np.int64)
    a = int(a)
    for t in range(n - 1, -1, -1):
        out[t] = a % 3
        a //= 3
    return out


def placement_to_action(place: Any) -> int:
    """Inverse of :func:`action_to_placement`."""
    a = 0
    for v in np.asarray(place).tolist():
        a = 3 * a + int(v)
    return a


def default_feature_scaling(distribution: Any, graph: TaskGraph) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale of the features under ``distribution`` (4096 draws from a fixed stream)."""
    dist = RequirementDistribution.from_spec(distribution)
    inst = dist.sample(graph, 4096, rng_for(0, f"gym/feature-scaling/{graph.key()}"))
    X = features(inst)
    scale = X.std(axis=0)
    return X.mean(axis=0), np.where(scale > 0, scale, 1.0)


class _OffloadEnv(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, n: int = 6, graph: TaskGraph | None = None, distribution: Any = "paper-5.1",
                 dataset: Instances | None = None, feature_mean: Any = None, feature_scale: Any = None,
                 reward: str = "log-ratio", reward_clip: float = 10.0):
        self.graph = graph if graph is not None else (dataset.graph if dataset is not None else TaskGraph.chain(n))
        self.n = self.graph.n
        self.distribution = distribution
        self.dist = RequirementDistribution.from_spec(distribution)
        if dataset is not None and dataset.graph != self.graph:
            raise ValueError("dataset and graph disagree")
        self.dataset = dataset
        if feature_mean is None or feature_scale is None:
            feature_mean, feature_scale = default_feature_scaling(distribution, self.graph)
        self.feature_mean = np.asarray(feature_mean, dtype=np.float64)
        self.feature_scale = np.asarray(feature_scale, dtype=np.float64)
        self.n_feat = n_features(self.graph.n, self.graph.m)
        if self.feature_mean.shape != (self.n_feat,):
            raise ValueError(f"feature_mean must have {self.n_feat} entries, got {self.feature_mean.shape}")
        self.reward_kind = reward
        self.reward_clip = float(reward_clip)
        self.inst: Instances | None = None

    def _draw(self) -> Instances:
        if self.dataset is not None:
            i = int(self.np_random.integers(len(self.dataset)))
            return self.dataset[i:i + 1]
        return self.dist.sample(self.graph, 1, self.np_random)

    def _features(self) -> np.ndarray:
        x = (features(self.inst)[0] - self.feature_mean) / self.feature_scale
        return np.clip(x, -OBS_BOUND, OBS_BOUND).astype(np.float32)

    def _local_latency(self) -> float:
        return float(evaluate(self.coef_, self.graph, self.inst.data, np.zeros((1, self.n), dtype=np.int64))[0])


class OffloadOneStepEnv(_OffloadEnv):
    """One whole decision per episode (``Discrete(3**n)``); see the module docstring.

    Args:
        n: subtasks of a chain (ignored if ``graph`` or ``dataset`` is given).
        graph: a task structure (chains or DAGs).
        distribution: where fresh instances come from (``"paper-5.1"`` or a mapping).
        dataset: a fixed set of instances to draw episodes from instead.
        feature_mean, feature_scale: observation standardisation.
        reward: ``"log-ratio"`` (default), ``"neg-relative"`` or ``"neg-latency"``.
        reward_clip: bound on the absolute reward of ``log-ratio`` and ``neg-relative``.
    """

    def __init__(self, n: int = 6, graph: TaskGraph | None = None, distribution: Any = "paper-5.1",
                 dataset: Instances | None = None, feature_mean: Any = None, feature_scale: Any = None,
                 reward: str = "log-ratio", reward_clip: float = 10.0):
        if reward not in REWARDS_ONE_STEP:
            raise ValueError(f"reward must be one of {REWARDS_ONE_STEP}, got {reward!r}")
        super().__init__(n, graph, distribution, dataset, feature_mean, feature_scale, reward, reward_clip)
        self.observation_space = spaces.Box(-OBS_BOUND, OBS_BOUND, (self.n_feat,), np.float32)
        self.action_space = spaces.Discrete(3 ** self.n)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.inst = self._draw()
        self.coef_ = coefficients(self.inst)
        return self._features(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.inst is None:
            raise RuntimeError("call reset() before step()")
        place = action_to_placement(int(action), self.n)
        L = float(evaluate(self.coef_, self.graph, self.inst.data, place[None, :])[0])
        if self.reward_kind == "neg-latency":
            r = -L if math.isfinite(L) else -1e12
        else:
            L0 = self._local_latency()
            ratio = L / L0 if L0 > 0 else (1.0 if L == 0 else math.inf)
            if self.reward_kind == "log-ratio":
                r = -math.log(ratio) if ratio > 0 else self.reward_clip
            else:
                r = -ratio
            r = float(np.clip(r, -self.reward_clip, self.reward_clip))
        obs = self._features()
        return obs, float(r), True, False, {"latency_s": L, "placement": place}


class OffloadSequentialEnv(_OffloadEnv):
    """One subtask per step (``Discrete(3)``), in topological order; see the module docstring.

    The observation is the instance's features, then the placements so far
    (n x 3 one-hot, zeros for subtasks not yet placed), then the current
    subtask (n one-hot; all zeros once done).
    """

    def __init__(self, n: int = 6, graph: TaskGraph | None = None, distribution: Any = "paper-5.1",
                 dataset: Instances | None = None, feature_mean: Any = None, feature_scale: Any = None,
                 reward: str = "neg-relative", reward_clip: float = 100.0):
        if reward not in ("neg-relative", "neg-latency"):
            raise ValueError(f"reward must be 'neg-relative' or 'neg-latency', got {reward!r}")
        super().__init__(n, graph, distribution, dataset, feature_mean, feature_scale, reward, reward_clip)
        self.observation_space = spaces.Box(-OBS_BOUND, OBS_BOUND, (self.n_feat + 4 * self.n,), np.float32)
        self.action_space = spaces.Discrete(3)

    def _obs(self) -> np.ndarray:
        placed = np.zeros((self.n, 3), dtype=np.float32)
        placed[np.arange(self.t), self.place[: self.t]] = 1.0
        cur = np.zeros(self.n, dtype=np.float32)
        if self.t < self.n:
            cur[self.t] = 1.0
        return np.concatenate([self.feat_, placed.ravel(), cur])

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.inst = self._draw()
        self.coef_ = coefficients(self.inst)
        self.pair_ = edge_cost_matrices(self.coef_, self.inst.data)[0]  # (m, 3, 3)
        self.unary_ = self.coef_.unary[0]
        self.L0_ = self._local_latency()
        self.feat_ = self._features()
        self.place = np.zeros(self.n, dtype=np.int64)
        self.t = 0
        self.total_ = 0.0
        return self._obs(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.inst is None or self.t >= self.n:
            raise RuntimeError("call reset() before step()")
        v, a = self.t, int(action)
        self.place[v] = a
        cost = float(self.unary_[v, a])
        g = self.graph
        for k in g.in_edges[v]:
            s = int(g.src[k])
            cost += float(self.pair_[k, 0 if s < 0 else self.place[s], a])
        self.t += 1
        done = self.t == self.n
        if done:
            for k in g.output_edges:
                cost += float(self.pair_[k, self.place[int(g.src[k])], 0])
        self.total_ += cost
        if self.reward_kind == "neg-latency":
            r = -cost if math.isfinite(cost) else -1e12
        else:
            rel = cost / self.L0_ if self.L0_ > 0 else (0.0 if cost == 0 else math.inf)
            r = -min(rel, self.reward_clip)
        info = {"latency_s": self.total_, "placement": self.place.copy()} if done else {}
        return self._obs(), float(r), done, False, info


def _register() -> None:
    for env_id, cls in (("OffloadOneStep-v0", "OffloadOneStepEnv"), ("OffloadSequential-v0", "OffloadSequentialEnv")):
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=f"simoffload.learn.gym_envs:{cls}")


_register()
