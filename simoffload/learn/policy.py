"""What the learned policies share: their training data and the learned-policy base class.

:func:`training_instances` draws a training set from a named stream, so policies with the
same seed and distribution see the same samples; :class:`LearnedPolicy` holds fitting,
one-file save/load, the model cache and the folded numpy inference that the DIL and DQN
policies (``policies/dil.py``, ``policies/dqn.py``) build on.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import Field

from ..errors import UserError
from ..model.cost import LATENCY, Objective, coefficients
from ..model.solvers import chain_dp
from ..model.task import Instances, RequirementDistribution, TaskGraph
from ..policy import Observation, Policy
from ..rng import rng_for
from . import cache
from .io import jsonable, load_model, save_model
from .nets import (
    FEATURES,
    NumpyMLP,
    count_macs,
    count_params,
    layer_sizes,
    n_features,
    raw_log_arrays,
    raw_log_one,
    train_classifier,
)

log = logging.getLogger(__name__)


def _threads() -> int:
    from .nets import torch_threads

    return torch_threads()


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


class LearnedPolicy(Policy):
    """Shared machinery of the learned policies (fit, save/load, cache, inference).

    Subclasses set ``name`` and ``_fit_keys`` and implement ``_labels_and_data``.
    """

    name: ClassVar[str] = "dil"
    _fit_keys: ClassVar[tuple[str, ...]] = ()
    param_spec: ClassVar[dict[str, dict[str, Any]]] = {
        "n": {"ge": 1, "le": 64}, "samples": {"ge": 10}, "epochs": {"ge": 1}, "batch_size": {"ge": 1},
        "lr": {"gt": 0}, "patience": {"ge": 0}, "val_fraction": {"gt": 0, "lt": 1}, "seed": {"ge": 0},
        "temperature": {"ge": 1}, "hidden": {"type": list[Annotated[int, Field(ge=1, le=65536)]]},
        "timesteps": {"ge": 1}, "learning_rate": {"gt": 0}, "buffer_size": {"ge": 1}, "learning_starts": {"ge": 0},
        "exploration_fraction": {"ge": 0, "le": 1}, "exploration_final_eps": {"ge": 0, "le": 1},
        "train_freq": {"ge": 1}, "gradient_steps": {"ge": 1},
    }

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

    def fit(self) -> "LearnedPolicy":
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
            "torch_threads": res.history.get("torch_threads"),
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
    def load(cls, path: Any) -> "LearnedPolicy":
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
        except (KeyError, ValueError, RuntimeError, IndexError, TypeError, AttributeError) as exc:
            raise UserError(f"model file {mf.path}: weights do not match layer sizes {mf.sizes} "
                            f"({type(exc).__name__}: {str(exc)[:100]})") from None

    def _ensure_fitted(self) -> None:
        if self.fitted:
            return
        if self.weights:
            self._load_file(load_model(self.weights, expect_policy=self.name, expect_n=int(self.n)))
            self.model_file_ = str(self.weights)
            return
        path = cache.get_or_train(self.name, self.training_config(), lambda p: self._fit_copy().save(p))
        self._load_file(load_model(path, expect_policy=self.name, expect_n=int(self.n)))
        self.model_file_ = str(path)  # recorded (with its hash) in a run's meta.json

    def check(self, graph: TaskGraph) -> None:
        """Check the task structure and, if given, that the weights file loads and fits (no training)."""
        self._check_graph(graph)
        try:
            RequirementDistribution.from_spec(self.distribution)
        except (ValueError, TypeError) as exc:
            raise UserError(f"params.distribution: {exc}") from None
        if self.weights:
            try:
                self._load_file(load_model(self.weights, expect_policy=self.name, expect_n=int(self.n)))
            except UserError as exc:
                raise UserError(f"params.weights: {exc}") from None

    def prepare(self, graph: TaskGraph) -> None:
        """Check the task structure, then load the weights or train through the cache."""
        self.check(graph)
        self._ensure_fitted()

    # --- announcing training ------------------------------------------------------------
    #: rough single-thread training speed on an idle core: multiply-adds per second (forward + backward
    #: = 3x the forward multiply-adds) and seconds per minibatch of overhead; measured: the 5 x 256 teacher
    #: trains an epoch of 90K samples in 4.6 s, the 2 x 32 students about 1 ms per minibatch step
    TRAIN_MACS_PER_S: ClassVar[float] = 1.6e10
    TRAIN_S_PER_BATCH: ClassVar[float] = 1e-3

    def estimate_training_s(self) -> float:
        """Rough upper estimate of this model's training time (s) on one idle core (all epochs, no early stop)."""
        n_train = int(self.samples) * (1 - float(self.val_fraction))
        batches = -(-n_train // int(self.batch_size))
        macs = count_macs(self.sizes())
        threads = max(1, _threads())
        return int(self.epochs) * (n_train * macs * 3 / (self.TRAIN_MACS_PER_S * threads) + batches * self.TRAIN_S_PER_BATCH)

    def describe_training(self) -> str:
        """One phrase: what will be trained."""
        return (f"{self.name} ({int(self.samples)} {dist_key(self.distribution)} samples, up to {int(self.epochs)} epochs, "
                f"hidden {list(self.hidden)})")

    def training_plan(self) -> list[tuple[str, float, str]]:
        """(what, estimated seconds, cache file) of each model ``prepare`` would train: not fitted, no weights, not cached."""
        path = cache.cached_path(self.name, self.training_config())
        if self.fitted or self.weights or path.is_file():
            return []
        return [(self.describe_training(), self.estimate_training_s(), str(path))]

    def _fit_copy(self) -> "LearnedPolicy":
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
