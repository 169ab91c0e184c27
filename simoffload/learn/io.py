"""Save and load learned models as one file readable with ``torch.load(weights_only=True)``.

A model file is a torch-serialised dict of plain types and tensors only::

    {"format": "simoffload-model", "version": 1,
     "policy": "large-dil",             # registry name of the policy class
     "params": {...},                   # constructor parameters (JSON-able)
     "config": {...},                   # the training configuration (what the cache key hashes)
     "sizes": [30, 256, ..., 18], "n": 6, "features": "logtimes-v1",
     "state_dict": {name: tensor},      # the network's weights
     "scaler": {"mean": tensor, "scale": tensor},
     "meta": {...},                     # training data, seed, metrics, timings, versions
     "checksum": "sha256 hex"}          # over everything above

Loading never unpickles code (``weights_only=True``), checks the checksum, the
format, the policy name, the task size and that every weight is a finite number,
and refuses anything else with a :class:`~simoffload.errors.UserError` naming the file.

The checksum is an unkeyed SHA-256: it detects accidental corruption
(integrity), not tampering (authenticity). Anyone who edits a file can
recompute it, so a model file is as trustworthy as its source; load files you
or your collaborators wrote. (``weights_only=True`` still guarantees that loading
runs no code, and non-finite weights are refused, so a forged file cannot
silently decide with NaN outputs.)
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError

FORMAT = "simoffload-model"
VERSION = 1


def jsonable(x: Any) -> Any:
    """Convert numpy scalars/arrays, tuples and paths into plain JSON types (non-finite floats become strings)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else repr(v)
    if isinstance(x, (np.bool_,)):
        return bool(x)
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, str):
        return str(x)  # also str subclasses such as torch's TorchVersion, which weights_only refuses
    if x is None or isinstance(x, (int, bool)):
        return x
    raise TypeError(f"cannot store {type(x).__name__} in a model file: {x!r}")


def _digest(header: dict, state_dict: dict, scaler: dict) -> str:
    h = hashlib.sha256(json.dumps(header, sort_keys=True).encode())
    for group in (state_dict, scaler):
        for k in sorted(group):
            t = group[k].detach().cpu().contiguous()
            h.update(k.encode())
            h.update(str(tuple(t.shape)).encode())
            h.update(t.numpy().tobytes())
    return h.hexdigest()


@dataclass
class ModelFile:
    """A loaded model file (see the module docstring)."""

    policy: str
    params: dict
    config: dict
    sizes: list[int]
    n: int
    features: str
    state_dict: dict
    scaler_mean: np.ndarray
    scaler_scale: np.ndarray
    meta: dict = field(default_factory=dict)
    checksum: str = ""
    path: str = ""


def save_model(path: str | os.PathLike, *, policy: str, params: dict, config: dict, sizes: list[int], n: int,
               features: str, state_dict: dict, scaler_mean: Any, scaler_scale: Any, meta: dict) -> str:
    """Write a model file atomically (temporary file + rename). Returns its checksum."""
    import torch

    header = {
        "format": FORMAT, "version": VERSION, "policy": policy, "params": jsonable(params),
        "config": jsonable(config), "sizes": [int(s) for s in sizes], "n": int(n), "features": features,
        "meta": jsonable(meta),
    }
    sd = {k: v.detach().cpu().clone() for k, v in state_dict.items()}
    scaler = {"mean": torch.as_tensor(np.asarray(scaler_mean, dtype=np.float64)),
              "scale": torch.as_tensor(np.asarray(scaler_scale, dtype=np.float64))}
    checksum = _digest(header, sd, scaler)
    payload = dict(header, state_dict=sd, scaler=scaler, checksum=checksum)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise UserError(f"{path}: cannot write the model file ({exc.strerror or exc})") from None
        raise
    return checksum


def load_model(path: str | os.PathLike, *, expect_policy: str | tuple[str, ...] | None = None,
               expect_n: int | None = None) -> ModelFile:
    """Read and verify a model file.

    Args:
        path: the file.
        expect_policy: refuse a file holding another policy (a name or a tuple of names).
        expect_n: refuse a model for a different number of subtasks.

    Raises:
        UserError: the file is missing, unreadable, corrupted (checksum), of another
            format/version, or does not match ``expect_policy`` / ``expect_n``.
    """
    import torch

    path = Path(path)
    if path.is_dir():
        raise UserError(f"model file {path}: is a directory, not a model file")
    if not path.is_file():
        raise UserError(f"model file {path}: not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols before refusing foreign files
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged zip/pickle
        # torch's messages run to many lines of advice meant for its own users: name the failure only
        raise UserError(f"model file {path}: not a readable simoffload model (corrupted, truncated, or another "
                        f"kind of file; torch.load with weights_only=True raised {type(exc).__name__})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise UserError(f"model file {path}: not a simoffload model file")
    if obj.get("version") != VERSION:
        raise UserError(f"model file {path}: format version {obj.get('version')!r}, this simoffload reads {VERSION}")
    try:
        header = {k: obj[k] for k in ("format", "version", "policy", "params", "config", "sizes", "n", "features", "meta")}
        sd, scaler, checksum = obj["state_dict"], obj["scaler"], obj["checksum"]
        actual = _digest(header, sd, scaler)
    except (KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"model file {path}: incomplete model file (missing {exc})") from None
    if actual != checksum:
        raise UserError(f"model file {path}: checksum mismatch (the file is corrupted or was edited)")
    try:
        tensors = [(f"state_dict.{k}", sd[k]) for k in sorted(sd)] + [(f"scaler.{k}", scaler[k]) for k in sorted(scaler)]
        for name, t in tensors:
            if not bool(torch.isfinite(t).all()):
                raise UserError(f"model file {path}: {name}: holds non-finite values (NaN or inf); refused")
        if not isinstance(obj["n"], int) or isinstance(obj["n"], bool) or not 1 <= obj["n"] <= 64:
            raise UserError(f"model file {path}: n: expected an integer in 1..64, got {str(obj['n'])[:100]}")
        sizes = obj["sizes"]
        if not (isinstance(sizes, list) and len(sizes) >= 2
                and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in sizes)):
            raise UserError(f"model file {path}: sizes: expected a list of positive layer sizes, got {str(sizes)[:100]}")
        if not (isinstance(obj["params"], dict) and isinstance(obj["policy"], str)):
            raise UserError(f"model file {path}: params/policy: malformed header")
    except (TypeError, AttributeError) as exc:
        raise UserError(f"model file {path}: malformed contents ({type(exc).__name__})") from None
    if expect_policy is not None:
        names = (expect_policy,) if isinstance(expect_policy, str) else tuple(expect_policy)
        if obj["policy"] not in names:
            raise UserError(f"model file {path}: holds a {obj['policy']!r} model, expected {' or '.join(map(repr, names))}")
    if expect_n is not None and int(obj["n"]) != int(expect_n):
        raise UserError(f"model file {path}: model is for tasks of {obj['n']} subtasks, this task has {expect_n}")
    return ModelFile(
        policy=obj["policy"], params=obj["params"], config=obj["config"], sizes=list(obj["sizes"]), n=int(obj["n"]),
        features=obj["features"], state_dict=sd, scaler_mean=scaler["mean"].numpy(), scaler_scale=scaler["scale"].numpy(),
        meta=obj["meta"], checksum=checksum, path=str(path),
    )
