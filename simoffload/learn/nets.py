"""Input features, the multi-label MLP, its training loop and the paper's label softening.

Features (``FEATURES = "logtimes-v2"``). The decision compares times: a subtask's
execution time on the device (cycles/p1) or the edge (cycles/p2) against the
transfer times of its data to the edge (d/b1) and on to the cloud (d/b2). Raw
values span many orders of magnitude (b1 ~ U[0, 2] MB/s puts d/b1 anywhere from
milliseconds to hours), so every feature is the natural log of a time in
seconds or of a rate:

* ``log(cycles_v / p1)`` and ``log(cycles_v / p2)`` for each subtask v (n + n),
* ``log(d_k / b1)`` and ``log(d_k / b2)`` for each data edge k (m + m),
* ``log p1``, ``log p2``, ``log b1``, ``log b2`` (4),

where cycles, bytes, Hz and B/s are each floored at 1 before the log so a zero
never becomes -inf. A chain of 6 subtasks has 2*6 + 2*7 + 4 = 30 features.
Every feature is a fixed +-1 combination of z = (log cycles, log bytes, log p1,
log p2, log b1, log b2) (``features = A @ z``), so at inference the matrix A,
the scaler and all biases fold into the network's weights
(:class:`NumpyMLP`) and a single decision costs one ``log`` of 18 numbers plus
the layers' matrix-vector products. A
scikit-learn ``StandardScaler`` fitted on the training set is saved with the
model (as plain mean/scale tensors) and applied before the network.

The network is a plain MLP with ReLU hidden layers and a 3 x n output read as
one softmax per subtask (the paper's multi-label classification); a decision
is the per-subtask argmax.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..model.task import Instances

log = logging.getLogger(__name__)

FEATURES = "logtimes-v2"
TORCH_THREADS_ENV = "SIMOFFLOAD_TORCH_THREADS"
DEFAULT_TORCH_THREADS = 1
MAX_TORCH_THREADS = 1024  # a sanity bound: far above any core count torch can use


def torch_threads() -> int:
    """Threads torch trains with: ``$SIMOFFLOAD_TORCH_THREADS`` (``simoffload train --threads N`` sets it), default 1.

    One thread is the default for every network here: these MLPs are small
    enough that one thread is as fast on an idle 2-core machine and many times
    faster on a busy one (measured: a 5 x 256 teacher epoch on 18K samples took
    3.7 s on 1 thread and 36 s on 2 threads with other jobs holding the cores).
    The thread count does not change the trained weights (tested with 1 and 2).
    """
    import os

    from ..errors import UserError

    raw = os.environ.get(TORCH_THREADS_ENV, "").strip()
    if not raw:
        return DEFAULT_TORCH_THREADS
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_TORCH_THREADS:
        raise UserError(f"{TORCH_THREADS_ENV}: must be a whole number from 1 to {MAX_TORCH_THREADS} (got {raw[:100]!r})")
    return n
_FLOOR = 1.0  # cycles, bytes, Hz and B/s are floored at 1 before the log


def n_features(n: int, m: int) -> int:
    """Number of input features for a task of n subtasks and m data edges."""
    return 2 * n + 2 * m + 4


def n_raw(n: int, m: int) -> int:
    """Length of the raw log vector z: log cycles (n), log bytes (m), log p1, p2, b1, b2, and a constant 1."""
    return n + m + 5


def feature_matrix(n: int, m: int) -> np.ndarray:
    """A (F, n+m+4) with features = A @ z[:-1] (see :func:`raw_log_arrays`); entries are 0/+1/-1."""
    A = np.zeros((n_features(n, m), n + m + 4))
    ip1, ip2, ib1, ib2 = n + m, n + m + 1, n + m + 2, n + m + 3
    r = 0
    for rate in (ip1, ip2):
        for v in range(n):
            A[r, v], A[r, rate] = 1.0, -1.0
            r += 1
    for rate in (ib1, ib2):
        for k in range(m):
            A[r, n + k], A[r, rate] = 1.0, -1.0
            r += 1
    for j in (ip1, ip2, ib1, ib2):
        A[r, j] = 1.0
        r += 1
    return A


def raw_log_arrays(cycles: np.ndarray, data: np.ndarray, p1: Any, p2: Any, b1: Any, b2: Any) -> np.ndarray:
    """(B, n+m+5) z = [log cycles, log bytes, log p1, log p2, log b1, log b2, 1], each value floored at 1 first."""
    B = cycles.shape[0]
    rates = np.stack([np.broadcast_to(np.asarray(v, dtype=float), (B,)) for v in (p1, p2, b1, b2)], axis=1)
    raw = np.concatenate([cycles, data, rates, np.full((B, 1), math.e)], axis=1)
    return np.log(np.maximum(raw, _FLOOR))


def raw_log_one(cycles: np.ndarray, data: np.ndarray, p1: float, p2: float, b1: float, b2: float) -> np.ndarray:
    """(n+m+5,) z of one instance (the single-decision path; same values as :func:`raw_log_arrays`)."""
    raw = np.concatenate((cycles, data, (p1, p2, b1, b2, math.e)))
    return np.log(np.maximum(raw, _FLOOR, out=raw), out=raw)


def features_arrays(cycles: np.ndarray, data: np.ndarray, p1: np.ndarray, p2: np.ndarray,
                    b1: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """Features from raw arrays: cycles (B, n), data (B, m), p1/p2/b1/b2 (B,), SI units -> (B, F)."""
    cycles = np.atleast_2d(np.asarray(cycles, dtype=float))
    data = np.atleast_2d(np.asarray(data, dtype=float))
    z = raw_log_arrays(cycles, data, p1, p2, b1, b2)
    return z[:, :-1] @ feature_matrix(cycles.shape[1], data.shape[1]).T


def features(inst: Instances) -> np.ndarray:
    """(B, F) features of a batch of instances (see the module docstring)."""
    return features_arrays(inst.cycles, inst.data, inst.p1, inst.p2, inst.b1, inst.b2)


def features_one(cycles: np.ndarray, data: np.ndarray, p1: float, p2: float, b1: float, b2: float) -> np.ndarray:
    """(F,) features of one instance."""
    z = raw_log_one(np.asarray(cycles, dtype=float), np.asarray(data, dtype=float), p1, p2, b1, b2)
    return feature_matrix(len(cycles), len(data)) @ z[:-1]


def soften(p: Any, T: float) -> np.ndarray:
    """The paper's label softening (Sec. 4): q_i = exp(ln(p_i)/T) / sum_j exp(ln(p_j)/T).

    Args:
        p: probabilities, classes on the last axis.
        T: temperature, T >= 1 (T = 1 returns p renormalised).

    Returns:
        q, same shape as p. A zero probability stays zero.
    """
    if not T >= 1:
        raise ValueError(f"the softening temperature must be >= 1, got {T!r}")
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore"):
        z = np.log(p) / T
    z = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def layer_sizes(n_in: int, hidden: Sequence[int], n_out: int) -> list[int]:
    return [int(n_in), *[int(h) for h in hidden], int(n_out)]


def count_macs(sizes: Sequence[int]) -> int:
    """Multiply-adds of one forward pass through fully connected layers of these sizes."""
    return int(sum(a * b for a, b in zip(sizes[:-1], sizes[1:])))


def count_params(sizes: Sequence[int]) -> int:
    return int(sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:])))


def build_mlp(sizes: Sequence[int]):
    """A torch ``nn.Sequential`` of Linear layers with ReLU between them (no output activation)."""
    import torch.nn as nn

    layers: list[Any] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class NumpyMLP:
    """A float32 numpy copy of a trained MLP for fast decisions, with features, scaler and biases folded in.

    It takes z (:func:`raw_log_one` / :func:`raw_log_arrays`, whose last entry is
    the constant 1) instead of the scaled features: the first layer absorbs the
    feature matrix A and the scaler ``(x - mean) / scale``; every hidden layer
    carries one extra unit fixed at 1 that feeds the next layer's bias, so a
    layer is one ``h @ W`` and one ``maximum``. The folding is exact algebra
    (float32 rounding aside).
    """

    def __init__(self, weights: list[np.ndarray]):
        self.weights = weights

    @classmethod
    def from_state(cls, state_dict: dict, mean: Any, scale: Any, n: int, m: int) -> "NumpyMLP":
        keys = sorted({k.rsplit(".", 1)[0] for k in state_dict}, key=lambda s: int(s.split(".")[-1]))
        W = [state_dict[k + ".weight"].detach().cpu().numpy().astype(np.float64).T for k in keys]  # (in, out)
        b = [state_dict[k + ".bias"].detach().cpu().numpy().astype(np.float64) for k in keys]
        inv = 1.0 / np.asarray(scale, dtype=np.float64)
        A = feature_matrix(n, m)  # (F, n+m+4)
        W0 = A.T @ (W[0] * inv[:, None])  # (n+m+4, h0)
        b0 = b[0] - (np.asarray(mean, dtype=np.float64) * inv) @ W[0]
        out = []
        last = len(W) - 1
        for i in range(len(W)):
            top, bias = (W0, b0) if i == 0 else (W[i], b[i])
            layer = np.vstack([top, bias[None, :]])  # the input's constant-1 unit carries the bias
            if i < last:  # add this layer's own constant-1 unit
                one = np.zeros((layer.shape[0], 1))
                one[-1, 0] = 1.0
                layer = np.hstack([layer, one])
            out.append(np.ascontiguousarray(layer, dtype=np.float32))
        return cls(out)

    def __call__(self, z: np.ndarray) -> np.ndarray:
        h = np.asarray(z, dtype=np.float32)
        ws = self.weights
        for w in ws[:-1]:
            h = h @ w
            np.maximum(h, 0.0, out=h)
        return h @ ws[-1]


@dataclass
class TrainResult:
    """What :func:`train_classifier` returns: the best weights and the training history."""

    state_dict: dict
    history: dict = field(default_factory=dict)


def train_classifier(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    sizes: Sequence[int],
    n: int,
    epochs: int = 30,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    val_fraction: float = 0.1,
    patience: int = 5,
    seed: int = 0,
    progress: bool = True,
    desc: str = "train",
) -> TrainResult:
    """Train an MLP (``sizes``) for n 3-way classifications with Adam and early stopping.

    Args:
        X: (B, F) scaled inputs.
        Y: (B, n) integer labels (hard, cross-entropy) or (B, n, 3) probabilities
            (soft cross-entropy, -sum q log softmax).
        sizes: layer sizes, ``sizes[-1] == 3 * n``.
        n: subtasks.
        epochs: maximum passes over the training part.
        batch_size: minibatch size.
        lr: Adam learning rate (cosine-annealed to 5% over ``epochs``).
        weight_decay: Adam weight decay.
        val_fraction: held-out fraction for early stopping (validation loss).
        patience: epochs without a better validation loss before stopping.
        seed: fixes the split, the initial weights and the minibatch order. All torch
            randomness runs inside ``torch.random.fork_rng`` from a private generator, so
            the caller's global RNG state is left untouched.
        progress: show a tqdm bar over epochs.
        desc: the bar's label.

    Returns:
        The state dict of the epoch with the best validation loss, and the history
        (per-epoch train/val loss, val per-subtask accuracy, epochs run, best epoch,
        the torch thread count it trained with).
    """
    import torch

    X = np.asarray(X, dtype=np.float32)
    soft = np.asarray(Y).ndim == 3
    if sizes[-1] != 3 * n or sizes[0] != X.shape[1]:
        raise ValueError(f"layer sizes {list(sizes)} do not fit {X.shape[1]} features and {n} subtasks")
    # a deliberate thread count (see torch_threads), restored afterwards
    threads = torch.get_num_threads()
    torch.set_num_threads(torch_threads())
    try:
        used = torch.get_num_threads()
        res = _train(X, Y, soft, sizes, n, epochs, batch_size, lr, weight_decay, val_fraction, patience, seed, progress, desc)
        res.history["torch_threads"] = used  # what torch trained with, recorded in the model file's metadata
        return res
    finally:
        torch.set_num_threads(threads)


def _train(X: np.ndarray, Y: np.ndarray, soft: bool, sizes: Sequence[int], n: int, epochs: int, batch_size: int,
           lr: float, weight_decay: float, val_fraction: float, patience: int, seed: int, progress: bool,
           desc: str) -> TrainResult:
    import torch
    import torch.nn.functional as F

    from .._progress import bar as progress_bar

    B = X.shape[0]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        perm = torch.randperm(B, generator=g)
        n_val = int(round(B * val_fraction)) if B >= 20 else 0
        val_idx, tr_idx = perm[:n_val], perm[n_val:]
        Xt = torch.from_numpy(X)
        Yt = torch.from_numpy(np.asarray(Y, dtype=np.float32 if soft else np.int64))
        net = build_mlp(sizes)
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs), eta_min=lr * 0.05)

        def loss_fn(logits: Any, y: Any) -> Any:
            logits = logits.view(-1, n, 3)
            if soft:
                return -(y * F.log_softmax(logits, dim=-1)).sum(-1).mean()
            return F.cross_entropy(logits.reshape(-1, 3), y.reshape(-1))

        hist: dict[str, list] = {"train_loss": [], "val_loss": [], "val_acc": []}
        best = (math.inf, None, -1)
        bad = 0
        bar = progress_bar(range(epochs), enabled=progress, desc=desc, leave=False)
        for ep in bar:
            net.train()
            order = tr_idx[torch.randperm(len(tr_idx), generator=g)]
            tot, cnt = 0.0, 0
            for lo in range(0, len(order), batch_size):
                idx = order[lo:lo + batch_size]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(net(Xt[idx]), Yt[idx])
                loss.backward()
                opt.step()
                tot += float(loss.detach()) * len(idx)
                cnt += len(idx)
            sched.step()
            hist["train_loss"].append(tot / max(cnt, 1))
            if n_val:
                net.eval()
                with torch.inference_mode():
                    lv = net(Xt[val_idx])
                    vl = float(loss_fn(lv, Yt[val_idx]))
                    yv = Yt[val_idx]
                    target = yv.argmax(-1) if soft else yv
                    acc = float((lv.view(-1, n, 3).argmax(-1) == target).float().mean())
            else:
                vl, acc = hist["train_loss"][-1], float("nan")
            hist["val_loss"].append(vl)
            hist["val_acc"].append(acc)
            bar.set_postfix(loss=f"{hist['train_loss'][-1]:.4f}", val=f"{vl:.4f}", acc=f"{acc:.3f}")
            if vl < best[0] - 1e-6:
                best = (vl, {k: v.detach().clone() for k, v in net.state_dict().items()}, ep)
                bad = 0
            else:
                bad += 1
                if bad >= patience:
                    log.info("%s: early stop after epoch %d (best %d)", desc, ep, best[2])
                    break
        bar.close()
    hist["epochs_run"] = len(hist["train_loss"])
    hist["best_epoch"] = best[2]
    hist["best_val_loss"] = best[0]
    hist["n_train"] = int(len(tr_idx))
    hist["n_val"] = int(n_val)
    return TrainResult(best[1], hist)


def predict_logits_torch(state_dict: dict, sizes: Sequence[int], X: np.ndarray, batch: int = 65536) -> np.ndarray:
    """(B, 3n) logits for scaled inputs X with torch (batched evaluation)."""
    import torch

    net = build_mlp(sizes)
    net.load_state_dict(state_dict)
    net.eval()
    out = []
    with torch.inference_mode():
        for lo in range(0, X.shape[0], batch):
            out.append(net(torch.from_numpy(np.asarray(X[lo:lo + batch], dtype=np.float32))).numpy())
    return np.concatenate(out) if out else np.zeros((0, sizes[-1]), dtype=np.float32)
