"""An online tabular agent in the style of arXiv 2202.10541: it learns where (and which variant) from outcomes.

Shahhosseini et al. (2202.10541) orchestrate inference with tabular
Q-learning: the state is a few discretised quantities of the system, the
action a (model variant, placement) pair, the reward built from the observed
response time and accuracy. ``tabular-q`` (:class:`TabularQPolicy`) does the
same inside the simulator, trained only from the :class:`~simoffload.policy.Outcome`
reports of the run:

* **state**: the estimated device->edge bandwidth b1 in bins (edges
  ``bw_edges_Bps``), the edge queue per core in bins (``queue_edges``), the
  number of active devices in bins (``user_edges``) and the task's accuracy
  requirement in bins (``accuracy_edges``; one bin when the scenario sets none);
* **action**: a (variant x) placement from a reduced set
  (:func:`simoffload.learn.online.action_placements`): by default the
  (n+1)(n+2)/2 monotone split points device -> edge -> cloud (28 for n = 6),
  which contain the paper's three whole-task placements (``actions: whole``);
* **reward**: ``-log(cost / cost_local)`` of the realised objective, minus an
  accuracy shortfall penalty (:func:`simoffload.learn.online.reward`);
* **update**: ``Q(s, a) += alpha (r - Q(s, a))`` with ``alpha = max(1 / N(s, a),
  alpha_min)`` - a sample mean at first, then a constant step that tracks a
  drifting system. There is no bootstrap term (``gamma = 0``, a contextual
  bandit): a decision's outcome is one task's response time, and the state
  the next decision meets depends on every device's traffic, not on this one
  action. The paper's agent is likewise driven by the immediate reward.
* **exploration**: optimistic initial values (``q_init`` > any plausible
  reward, so every action is tried in each visited state) plus epsilon-greedy
  with ``epsilon = epsilon0 / (1 + t / epsilon_decay)`` over the decisions t.

Learning happens on the decision path: outcomes reported by the engine
(``observe``) are only queued, and folded into the table at the next
decision, whose declared cost counts it (:meth:`decision_ops`). The table
starts empty at every :meth:`reset`; the random stream given there drives the
exploration, so a run is reproducible under the seed.
"""

from __future__ import annotations

import bisect
from typing import Any

import numpy as np

from simoffload.learn.online import (
    accuracy_requirement,
    action_of,
    action_placements,
    decision_for,
    n_variants,
    reward,
)
from simoffload.model.task import TaskGraph
from simoffload.policy import Observation, Outcome, Policy


class TabularQPolicy(Policy):
    """Online tabular Q-learning / contextual bandit over (variant x) placements (module docstring).

    Args:
        actions: ``"monotone"`` (split points, default), ``"whole"`` (3 whole-task places) or ``"all"`` (3^n).
        bw_edges_Bps: bin edges of the estimated device->edge bandwidth (bytes/s).
        queue_edges: bin edges of the edge queue per core.
        user_edges: bin edges of the number of active devices.
        accuracy_edges: bin edges of the accuracy requirement (a fraction).
        q_init: optimistic initial value of every (state, action).
        alpha_min: smallest step size.
        epsilon0, epsilon_decay: epsilon-greedy schedule ``epsilon0 / (1 + t / epsilon_decay)``.
        accuracy_penalty: reward lost per percentage point of accuracy below the requirement.
    """

    name = "tabular-q"
    stochastic = True

    def __init__(self, actions: str = "monotone", bw_edges_Bps: Any = (2.5e5, 5e5, 1e6, 2e6, 4e6),
                 queue_edges: Any = (0.5, 1.5, 3.0), user_edges: Any = (1.5, 3.5, 7.5, 15.5),
                 accuracy_edges: Any = (0.6, 0.65, 0.7), q_init: float = 2.0, alpha_min: float = 0.05,
                 epsilon0: float = 0.1, epsilon_decay: float = 500.0, accuracy_penalty: float = 0.1):
        self.actions = actions
        self.bw_edges_Bps = list(bw_edges_Bps)
        self.queue_edges = list(queue_edges)
        self.user_edges = list(user_edges)
        self.accuracy_edges = list(accuracy_edges)
        self.q_init = q_init
        self.alpha_min = alpha_min
        self.epsilon0 = epsilon0
        self.epsilon_decay = epsilon_decay
        self.accuracy_penalty = accuracy_penalty

    def reset(self, rng: np.random.Generator) -> None:
        self.rng_ = rng
        self.q_: dict[tuple, np.ndarray] = {}  # state -> Q per action
        self.n_: dict[tuple, np.ndarray] = {}  # state -> visits per action
        self.pending_: list[Outcome] = []
        self.t_ = 0
        self.placements_: np.ndarray | None = None
        self.updates_ = 0

    def state(self, obs: Observation) -> tuple:
        """The discretised state of an observation."""
        q = obs.edge_queue / max(obs.edge_cores, 1)
        req = accuracy_requirement(obs)
        return (bisect.bisect_right(self.bw_edges_Bps, obs.b1_Bps), bisect.bisect_right(self.queue_edges, q),
                bisect.bisect_right(self.user_edges, obs.active_devices),
                bisect.bisect_right(self.accuracy_edges, req) if req > 0 else -1)

    def _row(self, s: tuple, n_actions: int) -> tuple[np.ndarray, np.ndarray]:
        row = self.q_.get(s)
        if row is None or len(row) != n_actions:
            row = self.q_[s] = np.full(n_actions, float(self.q_init))
            self.n_[s] = np.zeros(n_actions, dtype=np.int64)
        return row, self.n_[s]

    def observe(self, outcome: Outcome) -> None:
        """Queue the outcome; it is learned from at the next decision (charged there)."""
        if outcome.obs is not None and outcome.placement is not None:
            self.pending_.append(outcome)

    def _learn(self) -> None:
        for o in self.pending_:
            a = action_of(o, self.placements_)
            if a is None:
                continue
            q, n = self._row(self.state(o.obs), len(self.placements_) * n_variants(o.obs))
            n[a] += 1
            alpha = max(1.0 / n[a], float(self.alpha_min))
            q[a] += alpha * (reward(o, self.accuracy_penalty) - q[a])
            self.updates_ += 1
        self.pending_.clear()

    def decide(self, obs: Observation) -> Any:
        if self.placements_ is None or self.placements_.shape[1] != obs.graph.n:
            self.placements_ = action_placements(self.actions, obs.graph.n)
        if self.pending_:
            self._learn()
        q, _ = self._row(self.state(obs), len(self.placements_) * n_variants(obs))
        eps = float(self.epsilon0) / (1.0 + self.t_ / float(self.epsilon_decay))
        self.t_ += 1
        if self.rng_.random() < eps:
            a = int(self.rng_.integers(len(q)))
        else:
            best = np.flatnonzero(q == q.max())
            a = int(best[0]) if len(best) == 1 else int(best[self.rng_.integers(len(best))])
        return decision_for(obs, a, self.placements_)

    def prepare(self, graph: TaskGraph) -> None:
        if not graph.is_chain and self.actions != "whole":
            from simoffload.errors import UserError

            raise UserError(f"tabular-q: actions={self.actions!r} splits chains; use actions: whole for DAGs")

    def decision_ops(self, graph: TaskGraph, n_variants: int = 1) -> float:
        """Discretise (4 binary searches, ~16 comparisons), argmax over the K actions, and one
        table update (~8 operations: the reward's log, a ratio, the step) amortised per decision
        (each outcome is folded in once); K = placements x ``n_variants``."""
        key = (self.actions, graph.n, graph.is_chain, n_variants)
        if getattr(self, "_ops_key", None) != key:
            self._ops_key = key
            K = (len(action_placements(self.actions, graph.n)) if graph.is_chain else 3) * int(n_variants)
            self._ops = float(16 + K + 8)
        return self._ops
