"""An online deep Q agent: a small torch network over (variant x) placements that learns during the run.

``online-dqn`` (:class:`OnlineDQNPolicy`) starts untrained at every
:meth:`reset` and learns only from the run's :class:`~simoffload.policy.Outcome`
reports, DQN-style:

* **input**: :func:`simoffload.learn.online.state_features` of the observation
  (estimated bandwidths, CPU speeds, edge queue and busy cores, active devices,
  accuracy requirement, every subtask's cycles and data edge's bytes, logged);
* **output**: one Q-value per action of the reduced action set
  (:func:`simoffload.learn.online.action_placements`, monotone split points by
  default; x variants when the task has them);
* **target**: the reward of :func:`simoffload.learn.online.reward`
  (``-log(cost / cost_local)``) - one decision is one episode (``gamma = 0``,
  as the offline ``dqn`` baseline), because a task's outcome does not depend
  on the next decision taken;
* **replay**: outcomes enter a FIFO buffer of ``buffer_size``; every
  ``train_every`` decisions, ``gradient_steps`` Adam steps on minibatches of
  ``batch_size`` drawn uniformly (squared TD error on the action taken);
* **exploration**: epsilon-greedy, epsilon falling linearly from ``epsilon0``
  to ``epsilon_min`` over ``epsilon_decisions`` decisions.

Everything runs on the decision path: outcomes are queued by ``observe`` and
folded into the buffer at the next decision, whose declared cost
(:meth:`decision_ops`) counts the forward pass plus the amortised training
(forward + backward ~ 3x the multiply-adds per sample). The network is
initialised and the minibatches drawn from the random stream given to
:meth:`reset`; torch's global generator is not touched (the initialisation
runs under ``torch.random.fork_rng``), so a run is reproducible under the seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simoffload.learn.online import (
    action_of,
    action_placements,
    decision_for,
    n_state_features,
    n_variants,
    reward,
    state_features,
)
from simoffload.model.task import TaskGraph
from simoffload.policy import Observation, Outcome, Policy


class OnlineDQNPolicy(Policy):
    """Online DQN-style agent (torch), see the module docstring.

    Args:
        actions: ``"monotone"`` (default), ``"whole"`` or ``"all"``.
        hidden: hidden layer widths.
        learning_rate: Adam step size.
        batch_size, buffer_size: replay minibatch and capacity.
        train_every, gradient_steps: training cadence (decisions) and Adam steps per training.
        learning_starts: outcomes in the buffer before the first training step.
        epsilon0, epsilon_min, epsilon_decisions: linear exploration schedule.
        max_variants: variants the output layer provides for; a task's further variants are not
            considered (the default 1 runs variant 0, as the offline learned policies do).
        accuracy_penalty: reward lost per percentage point of accuracy below the requirement.
    """

    name = "online-dqn"
    stochastic = True

    def __init__(self, actions: str = "monotone", hidden: Any = (64, 64), learning_rate: float = 1e-3,
                 batch_size: int = 32, buffer_size: int = 5000, train_every: int = 1, gradient_steps: int = 1,
                 learning_starts: int = 32, epsilon0: float = 0.5, epsilon_min: float = 0.02,
                 epsilon_decisions: int = 300, max_variants: int = 1, accuracy_penalty: float = 0.1):
        self.actions = actions
        self.hidden = list(hidden)
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.buffer_size = buffer_size
        self.train_every = train_every
        self.gradient_steps = gradient_steps
        self.learning_starts = learning_starts
        self.epsilon0 = epsilon0
        self.epsilon_min = epsilon_min
        self.epsilon_decisions = epsilon_decisions
        self.max_variants = max_variants
        self.accuracy_penalty = accuracy_penalty

    # ---- state -------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator) -> None:
        self.rng_ = rng
        self.net_ = None
        self.pending_: list[Outcome] = []
        self.t_ = 0
        self.trained_steps_ = 0

    def _sizes(self, graph: TaskGraph) -> list[int]:
        K = len(action_placements(self.actions, graph.n))
        V = int(self.max_variants)
        return [n_state_features(graph.n, graph.m, V), *[int(h) for h in self.hidden], K * V]

    def _build(self, graph: TaskGraph) -> None:
        import torch

        sizes = self._sizes(graph)
        seed = int(self.rng_.integers(2**31))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            layers: list[Any] = []
            for a, b in zip(sizes[:-1], sizes[1:]):
                layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
            self.net_ = torch.nn.Sequential(*layers[:-1])
        self.opt_ = torch.optim.Adam(self.net_.parameters(), lr=float(self.learning_rate))
        self.placements_ = action_placements(self.actions, graph.n)
        cap = int(self.buffer_size)
        self.buf_x_ = np.zeros((cap, sizes[0]), dtype=np.float32)
        self.buf_a_ = np.zeros(cap, dtype=np.int64)
        self.buf_r_ = np.zeros(cap, dtype=np.float32)
        self.buf_len_ = 0
        self.buf_pos_ = 0
        self.graph_ = graph

    # ---- learning ----------------------------------------------------------------------
    def observe(self, outcome: Outcome) -> None:
        """Queue the outcome; it enters the replay buffer at the next decision (charged there)."""
        if outcome.obs is not None and outcome.placement is not None:
            self.pending_.append(outcome)

    def _absorb(self) -> None:
        cap = len(self.buf_a_)
        for o in self.pending_:
            a = action_of(o, self.placements_)
            if a is None:
                continue
            i = self.buf_pos_
            self.buf_x_[i] = state_features(o.obs, int(self.max_variants))
            self.buf_a_[i] = a
            self.buf_r_[i] = reward(o, self.accuracy_penalty)
            self.buf_pos_ = (i + 1) % cap
            self.buf_len_ = min(self.buf_len_ + 1, cap)
        self.pending_.clear()

    def _train(self) -> None:
        import torch

        for _ in range(int(self.gradient_steps)):
            idx = self.rng_.integers(0, self.buf_len_, int(self.batch_size))
            x = torch.from_numpy(self.buf_x_[idx])
            a = torch.from_numpy(self.buf_a_[idx])
            r = torch.from_numpy(self.buf_r_[idx])
            q = self.net_(x).gather(1, a[:, None])[:, 0]
            loss = torch.nn.functional.mse_loss(q, r)
            self.opt_.zero_grad()
            loss.backward()
            self.opt_.step()
            self.trained_steps_ += 1

    def q_values(self, obs: Observation) -> np.ndarray:
        """Q-values of every action for the observed task."""
        import torch

        if self.net_ is None:
            self._build(obs.graph)
        with torch.no_grad():
            return self.net_(torch.from_numpy(state_features(obs, int(self.max_variants)))[None, :])[0].numpy()

    # ---- deciding ----------------------------------------------------------------------
    def decide(self, obs: Observation) -> Any:
        if self.net_ is None or (self.graph_ is not obs.graph and self.graph_ != obs.graph):
            self._build(obs.graph)
        V = min(n_variants(obs), int(self.max_variants))  # variants beyond max_variants are not considered
        if self.pending_:
            self._absorb()
        self.t_ += 1
        if self.buf_len_ >= int(self.learning_starts) and self.t_ % int(self.train_every) == 0:
            self._train()
        K = len(self.placements_) * V
        frac = min(self.t_ / max(float(self.epsilon_decisions), 1.0), 1.0)
        eps = float(self.epsilon0) + frac * (float(self.epsilon_min) - float(self.epsilon0))
        if self.rng_.random() < eps:
            a = int(self.rng_.integers(K))
        else:
            a = int(np.argmax(self.q_values(obs)[:K]))
        return decision_for(obs, a, self.placements_)

    def prepare(self, graph: TaskGraph) -> None:
        if not graph.is_chain and self.actions != "whole":
            from simoffload.errors import UserError

            raise UserError(f"online-dqn: actions={self.actions!r} splits chains; use actions: whole for DAGs")

    def decision_ops(self, graph: TaskGraph, n_variants: int = 1) -> float:
        """Multiply-adds of one forward pass, plus the training amortised per decision:
        ``gradient_steps x batch_size x 3 x MACs / train_every`` (forward, backward for the
        weights and for the activations), plus ~n + m operations for the features. The network
        has outputs for ``max_variants`` variants whatever the task offers."""
        sizes = self._sizes(graph)
        macs = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        train = int(self.gradient_steps) * int(self.batch_size) * 3 * macs / int(self.train_every)
        return float(macs + train + graph.n + graph.m + 10)
