"""Deep imitation learning (DIL) policies of the paper (arXiv 2004.04366, Secs. 3.3, 4, 5).

* :class:`LargeDILPolicy` (``large-dil``): the teacher, 5 hidden fully connected
  layers of 256 with ReLU and a 3 x n output read as one softmax per subtask,
  trained on exact labels (the chain DP optimum of the shared cost model) of
  100K paper-5.1 samples.
* :class:`KDDILPolicy` (``kd-dil``): the student, 2 hidden layers of 32, trained
  on the 1K-sample paper-5.2 set labelled by the teacher, the teacher's
  per-subtask probabilities softened with the paper's formula
  q_i = exp(ln p_i / T) / sum_j exp(ln p_j / T) (T = 5) and fitted with soft
  cross-entropy -sum_i q_i log s_i.
* :class:`BaselineDILPolicy` (``baseline-dil``): the same small network trained
  on the same 1K samples' exact labels (hard cross-entropy).

Inputs are the log-time features of :mod:`simoffload.learn.nets` (log of
cycles/p1, cycles/p2, d/b1, d/b2 per subtask/edge, plus log p1, p2, b1, b2),
standardised by a scikit-learn ``StandardScaler`` saved with the model.
Training: torch, Adam with cosine learning-rate decay, a 10% validation split,
early stopping on validation loss (best epoch kept), tqdm bar, seeded
(same seed -> same weights; the caller's global RNG state is untouched).

A policy is created with keyword parameters only. It becomes usable by
``fit()``, by ``weights=FILE`` (a file written by ``save``/``simoffload train``),
or - when neither is given and it is asked to decide - from the model cache
(:mod:`simoffload.learn.cache`), which trains it once for its exact
configuration and reuses it afterwards.

Inference. A single decision (``decide``) takes the log of the 18 raw numbers
and runs a float32 numpy forward pass in which the feature map, the scaler and
the biases are folded into the weights (:class:`~simoffload.learn.nets.NumpyMLP`).
For these sizes that measured faster than ``torch.inference_mode`` on a batch
of one (the reproduction records both in ``summary.json`` under
``single_decision_backends_s``; in a full run on the shared 2-core
development machine: 6.5 us numpy vs 20 us torch for the 32x32 student and
24 us vs 53 us for the 5x256 teacher, torch given precomputed features). Batched decisions (``decide_batch``) run the same folded numpy network
on the whole batch, so single and batched decisions agree. The declared
decision cost (``decision_ops``) is the network's multiply-adds.

The labels and therefore the policies target latency; asked to decide under
another objective they still return their latency decisions (logged once).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from simoffload.errors import UserError
from simoffload.learn.io import load_model
from simoffload.learn.nets import features, soften
from simoffload.learn.policy import (
    LearnedPolicy,
    dist_key,
    exact_labels,
    training_instances,
)

log = logging.getLogger(__name__)


class LargeDILPolicy(LearnedPolicy):
    """The paper's large DIL network (teacher), trained on exact labels.

    Args:
        weights: a model file; ``None`` = use the model cache (train once if missing).
        n: subtasks per chain (the paper: 6).
        distribution: training distribution (``"paper-5.1"`` or a mapping, see
            :class:`~simoffload.model.task.RequirementDistribution`).
        samples: training samples (the paper: 100K), of which ``val_fraction`` held out.
        hidden: hidden layer widths (the paper: five of 256).
        epochs, batch_size, lr, patience, val_fraction: training settings (Adam,
            cosine decay, early stopping). The defaults train 100K samples in about
            30-45 s on 2 cores.
        seed: data and training seed.
        progress: show a progress bar while training.
    """

    name = "large-dil"
    _fit_keys = ("n", "distribution", "samples", "hidden", "epochs", "batch_size", "lr", "patience", "val_fraction", "seed")

    def __init__(self, weights: str | None = None, n: int = 6, distribution: Any = "paper-5.1", samples: int = 100_000,
                 hidden: Any = (256, 256, 256, 256, 256), epochs: int = 30, batch_size: int = 512, lr: float = 2e-3,
                 patience: int = 8, val_fraction: float = 0.1, seed: int = 0, progress: bool = True):
        self.weights = weights
        self.n = n
        self.distribution = distribution
        self.samples = samples
        self.hidden = list(hidden)
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.val_fraction = val_fraction
        self.seed = seed
        self.progress = progress

    def _labels_and_data(self) -> tuple[np.ndarray, np.ndarray, dict]:
        inst = training_instances(self.distribution, int(self.n), int(self.samples), int(self.seed))
        Y = exact_labels(inst)
        meta = {"distribution": dist_key(self.distribution), "samples": int(self.samples), "labels": "exact (chain DP)"}
        return features(inst), Y, meta


class BaselineDILPolicy(LearnedPolicy):
    """The small network trained directly on the edge's few samples with exact labels (paper Sec. 5.2).

    Args: as :class:`LargeDILPolicy`; defaults are the paper-5.2 setting: 1K samples
    of ``paper-5.2``, two hidden layers of 32.
    """

    name = "baseline-dil"
    _fit_keys = ("n", "distribution", "samples", "hidden", "epochs", "batch_size", "lr", "patience", "val_fraction", "seed")

    def __init__(self, weights: str | None = None, n: int = 6, distribution: Any = "paper-5.2", samples: int = 1000,
                 hidden: Any = (32, 32), epochs: int = 400, batch_size: int = 32, lr: float = 3e-3,
                 patience: int = 40, val_fraction: float = 0.1, seed: int = 0, progress: bool = True):
        self.weights = weights
        self.n = n
        self.distribution = distribution
        self.samples = samples
        self.hidden = list(hidden)
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.val_fraction = val_fraction
        self.seed = seed
        self.progress = progress

    def _labels_and_data(self) -> tuple[np.ndarray, np.ndarray, dict]:
        inst = training_instances(self.distribution, int(self.n), int(self.samples), int(self.seed))
        meta = {"distribution": dist_key(self.distribution), "samples": int(self.samples), "labels": "exact (chain DP)"}
        return features(inst), exact_labels(inst), meta


class KDDILPolicy(LearnedPolicy):
    """The distilled student (paper Sec. 4): the small network trained on teacher-labelled, softened samples.

    Args:
        weights: a model file; ``None`` = use the model cache.
        teacher: a Large DIL model file; ``None`` = the cached teacher built from
            ``teacher_params`` (trained once if missing).
        teacher_params: constructor parameters of the cached :class:`LargeDILPolicy`
            (defaults: the paper-5.1 teacher, seed 0).
        temperature: softening temperature T >= 1 (the paper: 5).
        other args: as :class:`BaselineDILPolicy` (same data for the same seed).
    """

    name = "kd-dil"
    _fit_keys = ("n", "distribution", "samples", "hidden", "epochs", "batch_size", "lr", "patience", "val_fraction",
                 "seed", "temperature")

    def __init__(self, weights: str | None = None, teacher: str | None = None, teacher_params: dict | None = None,
                 n: int = 6, distribution: Any = "paper-5.2", samples: int = 1000, hidden: Any = (32, 32),
                 temperature: float = 5.0, epochs: int = 400, batch_size: int = 32, lr: float = 3e-3,
                 patience: int = 40, val_fraction: float = 0.1, seed: int = 0, progress: bool = True):
        self.weights = weights
        self.teacher = teacher
        self.teacher_params = teacher_params
        self.n = n
        self.distribution = distribution
        self.samples = samples
        self.hidden = list(hidden)
        self.temperature = temperature
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.val_fraction = val_fraction
        self.seed = seed
        self.progress = progress

    def check(self, graph: Any) -> None:
        """As the base class, plus the teacher's model file if one is given."""
        super().check(graph)
        if self.teacher and not self.weights:
            try:
                mf = load_model(self.teacher, expect_policy="large-dil")
            except UserError as exc:
                raise UserError(f"params.teacher: {exc}") from None
            if int(mf.n) != int(self.n):
                raise UserError(f"params.teacher: teacher is for {mf.n} subtasks, student n={self.n}")

    def teacher_policy(self) -> LargeDILPolicy:
        """The teacher, loaded from ``teacher`` or from the model cache."""
        if getattr(self, "teacher_", None) is None:
            if self.teacher:
                t = LargeDILPolicy.load(self.teacher)
            else:
                params = dict(self.teacher_params or {})
                params.setdefault("n", self.n)
                params.setdefault("progress", self.progress)
                t = LargeDILPolicy(**params)
                t._ensure_fitted()
            if int(t.n) != int(self.n):
                raise UserError(f"kd-dil: teacher is for {t.n} subtasks, student n={self.n}")
            self.teacher_ = t
        return self.teacher_

    def training_config(self) -> dict:
        cfg = super().training_config()
        if self.teacher:
            cfg["teacher"] = {"file_checksum": load_model(self.teacher, expect_policy="large-dil").checksum}
        else:
            params = dict(self.teacher_params or {})
            params.setdefault("n", self.n)
            params.pop("progress", None)
            cfg["teacher"] = LargeDILPolicy(**params).training_config()
        return cfg

    def training_plan(self) -> list[tuple[str, float, str]]:
        """The student's training and, when its teacher is neither a file nor cached, the teacher's first."""
        own = super().training_plan()
        if not own or self.teacher:
            return own
        params = dict(self.teacher_params or {})
        params.setdefault("n", self.n)
        return LargeDILPolicy(**params).training_plan() + own

    def _labels_and_data(self) -> tuple[np.ndarray, np.ndarray, dict]:
        inst = training_instances(self.distribution, int(self.n), int(self.samples), int(self.seed))
        teacher = self.teacher_policy()
        p = teacher.predict_proba(inst)
        q = soften(p, float(self.temperature))
        agree = float((p.argmax(-1) == exact_labels(inst)).mean())
        meta = {"distribution": dist_key(self.distribution), "samples": int(self.samples),
                "labels": f"teacher probabilities softened at T={self.temperature}",
                "teacher_config": teacher.config_,
                "teacher_subtask_agreement_with_exact": agree}
        return features(inst), q, meta
