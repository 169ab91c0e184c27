"""``sb3``: run a stable-baselines3 agent trained on ``OffloadSim-v0`` as a policy in any scenario.

The model file is written by :func:`simoffload.learn.sim_env.train_dqn` (or
``python -m simoffload.learn.sim_env SCENARIO --out FILE``): the DQN's
Q-network weights as a simoffload model file, read with
``torch.load(weights_only=True)`` and a checksum (never an SB3 zip, whose
loader unpickles). The policy decides like the agent did in the environment:
the argmax Q-value over the environment's action set for the features of the
observation (:func:`simoffload.learn.online.state_features`). It does not
learn during the run.

In a scenario: ``policies: [{name: sb3, params: {model: agent.pt}}]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simoffload.learn.online import (
    action_placements,
    decision_for,
    n_variants,
    state_features,
)
from simoffload.model.task import TaskGraph
from simoffload.policy import Observation, Policy


class SB3Policy(Policy):
    """A Q-network trained on ``OffloadSim-v0`` by stable-baselines3 (module docstring).

    Args:
        model: the model file.
    """

    name = "sb3"

    def __init__(self, model: str | None = None):
        self.model = model

    def prepare(self, graph: TaskGraph) -> None:
        from simoffload.errors import UserError
        from simoffload.learn.io import load_model

        if self.model is None:
            raise UserError("sb3: params.model (a file written by simoffload.learn.sim_env) is required")
        mf = load_model(self.model, expect_policy="sb3", expect_n=graph.n)
        if int(mf.meta.get("m", graph.m)) != graph.m:
            raise UserError(f"model file {self.model}: model is for tasks of {mf.meta.get('m')} data edges, "
                            f"this task has {graph.m}")
        keys = sorted((k for k in mf.state_dict if k.endswith(".weight")), key=lambda k: int(k.split(".")[0]))
        self.layers_ = [(mf.state_dict[k].double().numpy().T.copy(), mf.state_dict[k[:-6] + "bias"].double().numpy().copy())
                        for k in keys]
        self.sizes_ = list(mf.sizes)
        self.placements_ = action_placements(mf.params.get("actions", "monotone"), graph.n)
        self.max_variants_ = int(mf.params.get("max_variants", 1))

    def q_values(self, obs: Observation) -> np.ndarray:
        """Q-value of every action (a float64 forward pass of the exported network)."""
        h = state_features(obs, self.max_variants_).astype(np.float64)
        for i, (w, b) in enumerate(self.layers_):
            h = h @ w + b
            if i < len(self.layers_) - 1:
                h = np.maximum(h, 0.0)
        return h

    def decide(self, obs: Observation) -> Any:
        if not hasattr(self, "layers_"):
            self.prepare(obs.graph)
        K = len(self.placements_) * n_variants(obs)
        return decision_for(obs, int(np.argmax(self.q_values(obs)[:K])), self.placements_)

    def decision_ops(self, graph: TaskGraph, n_variants: int = 1) -> float:
        """Multiply-adds of the forward pass plus ~n + m for the features."""
        if not hasattr(self, "sizes_"):
            return 0.0
        s = self.sizes_
        return float(sum(a * b for a, b in zip(s[:-1], s[1:])) + graph.n + graph.m + 10)
