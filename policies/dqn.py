"""The paper's DRL baseline: a DQN whose action is one whole decision out of 3^n.

Trained with stable-baselines3's ``DQN`` on :class:`simoffload.learn.gym_envs.OffloadOneStepEnv`
(state = the requirement S as standardised log-time features, action = a whole
placement, one step per episode, episodes drawn from a fixed training set of
``samples`` instances). The reward is ``log(L_local / L)`` (clipped to +-10), a
per-state strictly decreasing function of the latency L: the best action is the
latency-optimal one, while raw -L (seconds to hours under the paper-5.1
bandwidths) would swamp the squared TD loss. With one-step episodes the Q target
is the reward itself, so gamma and the target network play no role.

Decision: ``argmax_a Q(S, a)`` from ONE forward pass that outputs all 3^n
Q-values, run as a float32 numpy forward pass (the same fast path as the DIL
policies). The paper instead "calculate[s] each action's reward", i.e. one
network evaluation per action (729 for n = 6), which is why its DRL decision
time is ~120x Greedy's; ours is one pass and is reported as measured. The
declared decision cost (``decision_ops``) is the network's multiply-adds.

The trained Q-network is stored like the DIL models (``simoffload.learn.io``),
so loading needs neither pickle nor stable-baselines3.
"""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np

from simoffload.learn.nets import (
    FEATURES,
    count_macs,
    count_params,
    features,
    raw_log_arrays,
    raw_log_one,
    torch_threads,
)
from simoffload.learn.policy import LearnedPolicy, dist_key, training_instances
from simoffload.model.cost import LATENCY, Objective
from simoffload.model.solvers import MAX_EXHAUSTIVE_N, all_placements
from simoffload.model.task import Instances, TaskGraph
from simoffload.policy import Observation


class DQNPolicy(LearnedPolicy):
    """DQN over whole decisions (stable-baselines3), see the module docstring.

    Args:
        weights: a model file; ``None`` = use the model cache (train once if missing).
        n: subtasks per chain (3^n actions; n <= 10).
        distribution: training distribution (``"paper-5.1"``, ``"paper-5.2"`` or a mapping).
        samples: size of the fixed training set episodes are drawn from.
        timesteps: environment steps (= episodes = decisions tried) of training.
        hidden: Q-network hidden layers.
        learning_rate, batch_size, buffer_size, learning_starts, exploration_fraction,
            exploration_final_eps, train_freq, gradient_steps: stable-baselines3 DQN settings.
        seed: data and training seed (global RNG state is saved and restored).
        progress: tqdm bar over timesteps.
    """

    name = "dqn"
    param_spec = {**LearnedPolicy.param_spec, "n": {"ge": 1, "le": 10}}
    _fit_keys = ("n", "distribution", "samples", "timesteps", "hidden", "learning_rate", "batch_size", "buffer_size",
                 "learning_starts", "exploration_fraction", "exploration_final_eps", "train_freq", "gradient_steps",
                 "seed")

    def __init__(self, weights: str | None = None, n: int = 6, distribution: Any = "paper-5.1", samples: int = 100_000,
                 timesteps: int = 20_000, hidden: Any = (256, 256), learning_rate: float = 1e-3, batch_size: int = 128,
                 buffer_size: int = 100_000, learning_starts: int = 1000, exploration_fraction: float = 0.3,
                 exploration_final_eps: float = 0.02, train_freq: int = 4, gradient_steps: int = 1, seed: int = 0,
                 progress: bool = True):
        self.weights = weights
        self.n = n
        self.distribution = distribution
        self.samples = samples
        self.timesteps = timesteps
        self.hidden = list(hidden)
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.buffer_size = buffer_size
        self.learning_starts = learning_starts
        self.exploration_fraction = exploration_fraction
        self.exploration_final_eps = exploration_final_eps
        self.train_freq = train_freq
        self.gradient_steps = gradient_steps
        self.seed = seed
        self.progress = progress

    def _n_out(self, n: int) -> int:
        return 3 ** n

    def fit(self) -> "DQNPolicy":
        """Train with stable-baselines3 DQN. Returns self."""
        import torch
        from stable_baselines3 import DQN
        from stable_baselines3.common.callbacks import BaseCallback

        from simoffload._progress import bar as progress_bar
        from simoffload.errors import UserError
        from simoffload.learn.gym_envs import OffloadOneStepEnv

        n = int(self.n)
        if n > 10:
            raise UserError(f"dqn: n={n} gives 3^{n} actions; whole-decision DQN is limited to n <= 10")
        t0 = time.perf_counter()
        inst = training_instances(self.distribution, n, int(self.samples), int(self.seed))
        X = features(inst)
        mean, scale = X.mean(axis=0), X.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        env = OffloadOneStepEnv(graph=inst.graph, distribution=self.distribution, dataset=inst,
                                feature_mean=mean, feature_scale=scale)

        class _Bar(BaseCallback):
            def __init__(self, total: int, enabled: bool):
                super().__init__()
                self.bar = progress_bar(total=total, enabled=enabled, desc="dqn", leave=False)

            def _on_step(self) -> bool:
                self.bar.update(1)
                return True

            def _on_training_end(self) -> None:
                self.bar.close()

        # stable-baselines3 seeds python's, numpy's and torch's global generators; restore them afterwards
        py_state, np_state, threads = random.getstate(), np.random.get_state(), torch.get_num_threads()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.set_num_threads(torch_threads())  # default 1: small batches run fastest on one thread
                used_threads = torch.get_num_threads()
                model = DQN(
                    "MlpPolicy", env, learning_rate=float(self.learning_rate), batch_size=int(self.batch_size),
                    buffer_size=int(self.buffer_size), learning_starts=int(self.learning_starts),
                    exploration_fraction=float(self.exploration_fraction),
                    exploration_final_eps=float(self.exploration_final_eps), train_freq=int(self.train_freq),
                    gradient_steps=int(self.gradient_steps), gamma=0.0, target_update_interval=1000,
                    policy_kwargs={"net_arch": [int(h) for h in self.hidden]}, seed=int(self.seed), device="cpu",
                    verbose=0,
                )
                t1 = time.perf_counter()
                model.learn(total_timesteps=int(self.timesteps), callback=_Bar(int(self.timesteps), bool(self.progress)))
                t2 = time.perf_counter()
                state = {k: v.detach().clone() for k, v in model.q_net.q_net.state_dict().items()}
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
            torch.set_num_threads(threads)
        sizes = self.sizes()
        meta = {
            "data": {"distribution": dist_key(self.distribution), "samples": int(self.samples),
                     "env": "OffloadOneStep-v0", "reward": "log(L_local / L), clipped to +-10"},
            "seed": int(self.seed),
            "metrics": {"timesteps": int(self.timesteps)},
            "timing_s": {"setup": t1 - t0, "training": t2 - t1},
            "torch_threads": used_threads,
            "params": count_params(sizes), "macs": count_macs(sizes),
            "versions": {"torch": torch.__version__, "numpy": np.__version__},
        }
        self._set_fitted(sizes, state, mean, scale, meta, self.training_config())
        return self

    def estimate_training_s(self) -> float:
        """Rough training time (s): about 1.5 ms per environment step on one core (measured: 20K steps in 30 s)."""
        return 1.5e-3 * int(self.timesteps)

    def describe_training(self) -> str:
        return f"dqn ({int(self.timesteps)} steps on {int(self.samples)} {dist_key(self.distribution)} samples)"

    def _placements(self) -> np.ndarray:
        n = int(self.n)
        if n <= MAX_EXHAUSTIVE_N:
            return all_placements(n)
        raise ValueError(f"n={n} too large")

    def q_values(self, inst: Instances) -> np.ndarray:
        """(B, 3^n) Q-values."""
        return self.logits_batch(inst)

    def logits_batch(self, inst: Instances) -> np.ndarray:
        self._ensure_fitted()
        self._check_graph(inst.graph)
        sl = lambda a, lo: a[lo:lo + 8192]  # noqa: E731
        out = [self.np_net_(raw_log_arrays(sl(inst.cycles, lo), sl(inst.data, lo), sl(inst.p1, lo), sl(inst.p2, lo),
                                          sl(inst.b1, lo), sl(inst.b2, lo))) for lo in range(0, len(inst), 8192)]
        return np.concatenate(out) if out else np.zeros((0, 3 ** int(self.n)), dtype=np.float32)

    def predict_proba(self, inst: Instances) -> np.ndarray:  # pragma: no cover - not a classifier
        raise NotImplementedError("a DQN gives Q-values, not per-subtask probabilities")

    def decide_batch(self, inst: Instances, objective: Objective = LATENCY) -> np.ndarray:
        self._warn_objective(objective)
        return self._placements()[self.q_values(inst).argmax(axis=1)].copy()

    def decide(self, obs: Observation) -> np.ndarray:
        if not self.fitted:
            self._ensure_fitted()
        g = obs.graph
        if g.n != self.n or not g.is_chain:
            self._check_graph(g)
        if obs.objective is not LATENCY:
            self._warn_objective(obs.objective)
        z = raw_log_one(obs.cycles, obs.data, obs.p1_hz, obs.p2_hz, obs.b1_Bps, obs.b2_Bps)
        return self._placements()[int(self.np_net_(z).argmax())].copy()

    def decision_ops(self, graph: TaskGraph) -> float:
        """Multiply-adds of the one forward pass giving all 3^n Q-values."""
        return float(count_macs(self.sizes()))


__all__ = ["DQNPolicy", "FEATURES"]
