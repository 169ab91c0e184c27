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
import time
from typing import Any, ClassVar

import numpy as np

from simoffload.cost import LATENCY, Objective, coefficients
from simoffload.errors import UserError
from simoffload.learn import cache
from simoffload.learn.io import jsonable, load_model, save_model
from simoffload.learn.nets import (
    FEATURES, NumpyMLP, count_macs, count_params, features, layer_sizes, n_features, raw_log_arrays, raw_log_one, soften,
    train_classifier,
)
from simoffload.policy import Observation, Policy
from simoffload.rng import rng_for
from simoffload.solvers import chain_dp
from simoffload.task import Instances, RequirementDistribution, TaskGraph

log = logging.getLogger(__name__)


def dist_key(distribution: Any) -> Any:
    """A JSON-able identity of a distribution spec (a paper name or a mapping)."""
    return distribution if isinstance(distribution, str) else jsonable(dict(distribution))


def training_instances(distribution: Any, n: int, samples: int, seed: int) -> Instances:
    """The training set of ``samples`` chains of ``n`` subtasks drawn from ``distribution``.

    The stream is named after the distribution and the size only, so KD-DIL and
    Baseline DIL with the same seed see exactly the same samples.
    """
    try:
        dist = RequirementDistribution.from_spec(distribution)
    except ValueError as exc:
        raise UserError(f"distribution: {exc}") from None
    import json

    name = f"learn/data/{json.dumps(dist_key(distribution), sort_keys=True)}/n{n}/{samples}"
    return dist.sample(TaskGraph.chain(n), int(samples), rng_for(seed, name))


def exact_labels(inst: Instances, objective: Objective = LATENCY) -> np.ndarray:
    """(B, n) optimal placements (chain DP over the shared cost model)."""
    return chain_dp(coefficients(inst, objective), inst.data)[0]


class _DILPolicy(Policy):
    """Shared machinery of the DIL policies (fit, save/load, cache, inference)."""

    name: ClassVar[str] = "dil"
    _fit_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any):
        super().__init__(**params)

    # --- configuration -----------------------------------------------------------------
    def training_config(self) -> dict:
        """Everything that determines the trained weights (hashed by the model cache)."""
        p = self.get_params()
        cfg = {k: p[k] for k in self._fit_keys}
        cfg["distribution"] = dist_key(cfg["distribution"])
        cfg["hidden"] = [int(h) for h in cfg["hidden"]]
        return {"policy": self.name, "features": FEATURES, **jsonable(cfg)}

    def _n_out(self, n: int) -> int:
        return 3 * n

    def sizes(self) -> list[int]:
        n = int(self.n)
        return layer_sizes(n_features(n, n + 1), self.hidden, self._n_out(n))

    # --- fitting -----------------------------------------------------------------------
    def _labels_and_data(self) -> tuple[np.ndarray, np.ndarray, dict]:
        raise NotImplementedError

    def fit(self) -> "_DILPolicy":
        """Train from the constructor parameters (ignores ``weights``). Returns self."""
        from sklearn.preprocessing import StandardScaler

        t0 = time.perf_counter()
        X, Y, data_meta = self._labels_and_data()
        scaler = StandardScaler().fit(X)
        t1 = time.perf_counter()
        sizes = self.sizes()
        res = train_classifier(
            scaler.transform(X), Y, sizes=sizes, n=int(self.n), epochs=int(self.epochs),
            batch_size=int(self.batch_size), lr=float(self.lr), val_fraction=float(self.val_fraction),
            patience=int(self.patience), seed=int(self.seed), progress=bool(self.progress), desc=self.name,
        )
        t2 = time.perf_counter()
        import torch

        meta = {
            "data": data_meta,
            "seed": int(self.seed),
            "metrics": {
                "val_subtask_accuracy": res.history["val_acc"][res.history["best_epoch"]] if res.history["best_epoch"] >= 0 else None,
                "best_val_loss": res.history["best_val_loss"], "best_epoch": res.history["best_epoch"],
                "epochs_run": res.history["epochs_run"], "train_loss": res.history["train_loss"],
                "val_loss": res.history["val_loss"], "val_acc": res.history["val_acc"],
                "n_train": res.history["n_train"], "n_val": res.history["n_val"],
            },
            "timing_s": {"data_and_labels": t1 - t0, "training": t2 - t1},
            "params": count_params(sizes), "macs": count_macs(sizes),
            "versions": {"torch": torch.__version__, "numpy": np.__version__},
        }
        self._set_fitted(sizes, res.state_dict, scaler.mean_, scaler.scale_, meta, self.training_config())
        return self

    def _set_fitted(self, sizes: list[int], state_dict: dict, mean: Any, scale: Any, meta: dict, config: dict) -> None:
        self.sizes_ = list(sizes)
        self.state_dict_ = state_dict
        self.scaler_mean_ = np.asarray(mean, dtype=np.float64)
        self.scaler_scale_ = np.asarray(scale, dtype=np.float64)
        self.meta_ = meta
        self.config_ = config
        n = int(self.n)
        self.np_net_ = NumpyMLP.from_state(state_dict, self.scaler_mean_, self.scaler_scale_, n, n + 1)

    @property
    def fitted(self) -> bool:
        return hasattr(self, "np_net_")

    # --- persistence -------------------------------------------------------------------
    def save(self, path: Any) -> str:
        """Write the fitted model (weights, constructor parameters, scaler, metadata) to one file."""
        self._ensure_fitted()
        params = {k: v for k, v in self.get_params().items() if k not in ("weights", "progress")}
        return save_model(path, policy=self.name, params=params, config=self.config_, sizes=self.sizes_,
                          n=int(self.n), features=FEATURES, state_dict=self.state_dict_,
                          scaler_mean=self.scaler_mean_, scaler_scale=self.scaler_scale_, meta=self.meta_)

    @classmethod
    def load(cls, path: Any) -> "_DILPolicy":
        """A policy rebuilt from a model file: ``cls(**saved params, weights=path)``, fitted."""
        mf = load_model(path, expect_policy=cls.name)
        pol = cls(**mf.params, weights=str(path))
        pol._load_file(mf)
        return pol

    def _load_file(self, mf: Any) -> None:
        if mf.features != FEATURES:
            raise UserError(f"model file {mf.path}: features {mf.features!r}, this version computes {FEATURES!r}")
        if mf.n != int(self.n):
            raise UserError(f"model file {mf.path}: model is for {mf.n} subtasks, policy parameter n={self.n}")
        if mf.sizes[0] != n_features(mf.n, mf.n + 1) or mf.sizes[-1] != self._n_out(mf.n):
            raise UserError(f"model file {mf.path}: layer sizes {mf.sizes} do not fit chains of {mf.n} subtasks")
        try:
            self._set_fitted(mf.sizes, mf.state_dict, mf.scaler_mean, mf.scaler_scale, mf.meta, mf.config)
        except (KeyError, ValueError, RuntimeError) as exc:
            raise UserError(f"model file {mf.path}: weights do not match layer sizes {mf.sizes} ({exc})") from None

    def _ensure_fitted(self) -> None:
        if self.fitted:
            return
        if self.weights:
            self._load_file(load_model(self.weights, expect_policy=self.name, expect_n=int(self.n)))
            return
        path = cache.get_or_train(self.name, self.training_config(), lambda p: self._fit_copy().save(p))
        self._load_file(load_model(path, expect_policy=self.name, expect_n=int(self.n)))

    def prepare(self, graph: TaskGraph) -> None:
        """Check the task structure, then load the weights or train through the cache."""
        self._check_graph(graph)
        self._ensure_fitted()

    def _fit_copy(self) -> "_DILPolicy":
        params = self.get_params()
        params["weights"] = None
        return type(self)(**params).fit()

    # --- inference ---------------------------------------------------------------------
    def _check_graph(self, graph: TaskGraph) -> None:
        if not graph.is_chain or graph.n != int(self.n):
            raise UserError(f"policy {self.name}: made for chains of {self.n} subtasks, the task is {graph!r} "
                            f"(for chains of k subtasks give the policy params: {{n: k}})")

    def _warn_objective(self, objective: Objective) -> None:
        if objective.energy_weight != 0 and not getattr(self, "warned_objective_", False):  # energy params alone do not matter
            log.warning("%s was trained on latency labels; it ignores the objective %s", self.name, objective)
            self.warned_objective_ = True

    def logits_batch(self, inst: Instances) -> np.ndarray:
        """(B, n, 3) output logits."""
        self._ensure_fitted()
        self._check_graph(inst.graph)
        out = [self.np_net_(raw_log_arrays(inst.cycles[lo:lo + 32768], inst.data[lo:lo + 32768], inst.p1[lo:lo + 32768],
                                          inst.p2[lo:lo + 32768], inst.b1[lo:lo + 32768], inst.b2[lo:lo + 32768]))
               for lo in range(0, len(inst), 32768)]
        return np.concatenate(out).reshape(len(inst), int(self.n), 3)

    def predict_proba(self, inst: Instances) -> np.ndarray:
        """(B, n, 3) per-subtask softmax probabilities."""
        z = self.logits_batch(inst).astype(np.float64)
        z -= z.max(-1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(-1, keepdims=True)

    def decide_batch(self, inst: Instances, objective: Objective = LATENCY) -> np.ndarray:
        self._warn_objective(objective)
        return self.logits_batch(inst).argmax(-1).astype(np.int64)

    def decide(self, obs: Observation) -> np.ndarray:
        if not self.fitted:
            self._ensure_fitted()
        g = obs.graph
        if g.n != self.n or not g.is_chain:
            self._check_graph(g)
        if obs.objective.energy_weight != 0:
            self._warn_objective(obs.objective)
        z = raw_log_one(obs.cycles, obs.data, obs.p1_hz, obs.p2_hz, obs.b1_Bps, obs.b2_Bps)
        return self.np_net_(z).reshape(-1, 3).argmax(1)

    def decision_ops(self, graph: TaskGraph) -> float:
        """Multiply-adds of one forward pass (the scaler is folded into the first layer)."""
        return float(count_macs(self.sizes()))


class LargeDILPolicy(_DILPolicy):
    """The paper's large DIL network (teacher), trained on exact labels.

    Args:
        weights: a model file; ``None`` = use the model cache (train once if missing).
        n: subtasks per chain (the paper: 6).
        distribution: training distribution (``"paper-5.1"`` or a mapping, see
            :class:`~simoffload.task.RequirementDistribution`).
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


class BaselineDILPolicy(_DILPolicy):
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


class KDDILPolicy(_DILPolicy):
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
