"""``simoffload train`` and ``simoffload reproduce``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from ..errors import UserError

log = logging.getLogger(__name__)

LEARNED = ("large-dil", "kd-dil", "baseline-dil", "dqn")

# --quick: a few seconds of training, for smoke tests (not meaningful models)
QUICK = {
    "large-dil": {"samples": 5000, "epochs": 8},
    "kd-dil": {"epochs": 60, "teacher_params": {"samples": 5000, "epochs": 8}},
    "baseline-dil": {"epochs": 60},
    "dqn": {"samples": 2000, "timesteps": 600, "learning_starts": 200},
}


def _read_config(path: str, policy: str) -> dict[str, Any]:
    """The training parameters in ``path``, checked against the policy's declared parameters.

    Raises:
        UserError: ``FILE:LINE: field: message`` for unreadable YAML or a bad parameter.
    """
    from pydantic import ValidationError

    from ..registry import validate_params
    from ..yamlio import load_yaml, shorten

    doc = load_yaml(path, "training config")
    data, prefix = doc.data, ()
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{doc.where(())}: (top level): expected a mapping of training parameters, "
                        f"got {type(data).__name__}")
    if "params" in data and isinstance(data["params"], dict) and set(data) <= {"params", "policy", "name"}:
        data, prefix = data["params"], ("params",)  # also accept {policy: ..., params: {...}}
    try:
        return validate_params(policy, data)
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = prefix + tuple(e["loc"])
        field = ".".join(str(x) for x in loc)
        if e["type"] == "extra_forbidden":
            raise UserError(f"{doc.where(loc)}: {field}: unknown parameter of {policy}") from None
        msg = e["msg"].removeprefix("Value error, ")
        got = "" if e["type"] == "missing" or "got " in msg else f" (got {shorten(e.get('input'))})"
        raise UserError(f"{doc.where(loc)}: {field}: {msg}{got}") from None


def _check_model_out(path: str) -> Path:
    """Refuse a model-file destination that cannot be written, before any training."""
    import tempfile

    if str(path).strip() == "":
        raise UserError("--out: empty path (give a model file name, e.g. model.pt)")
    out = Path(path)
    if out.is_dir():
        raise UserError(f"--out {out}: is a directory (give a model file name, e.g. {out / 'model.pt'})")
    if not out.parent.is_dir():
        raise UserError(f"--out: directory {out.parent} does not exist")
    try:  # the model is written through a temporary file beside it: probe exactly that
        with tempfile.NamedTemporaryFile(dir=out.parent, prefix=f".{out.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write in {out.parent} ({exc.strerror or exc})") from None
    return out


def _set_threads(raw: str) -> int:
    """Apply ``train --threads N``: torch trains with N threads in this process (and any it starts).

    The count goes through ``$SIMOFFLOAD_TORCH_THREADS``, the one setting every
    trainer reads (:func:`simoffload.learn.nets.torch_threads`), so the flag and
    the variable cannot disagree and the run's records show the count used.

    Raises:
        UserError: ``--threads: ...`` for anything but a whole number from 1 to ``MAX_TORCH_THREADS``.
    """
    import os

    from ..yamlio import shorten
    from .nets import MAX_TORCH_THREADS, TORCH_THREADS_ENV

    text = str(raw).strip()
    n = int(text) if text.isascii() and text.isdigit() and len(text) < 10 else 0
    if not 1 <= n <= MAX_TORCH_THREADS:
        raise UserError(f"--threads: expected a whole number from 1 to {MAX_TORCH_THREADS} (got {shorten(raw)})")
    os.environ[TORCH_THREADS_ENV] = str(n)
    return n


def _train(args: argparse.Namespace) -> int:
    from ..registry import resolve

    if args.policy not in LEARNED:
        raise UserError(f"train: POLICY must be one of {', '.join(LEARNED)}, got {args.policy!r}")
    if args.threads is not None:
        _set_threads(args.threads)
    params: dict[str, Any] = {}
    if args.quick:
        params.update(json.loads(json.dumps(QUICK[args.policy])))
    if args.config:
        params.update(_read_config(args.config, args.policy))
    if args.seed is not None:
        params["seed"] = args.seed
    if args.samples is not None:
        if args.samples < 10:
            raise UserError(f"--samples must be >= 10, got {args.samples}")
        params["samples"] = args.samples
    params["progress"] = not args.quiet
    params.pop("weights", None)
    cls = resolve(args.policy)
    try:
        pol = cls(**params)
    except TypeError as exc:
        raise UserError(f"train {args.policy}: bad parameter ({exc})") from None
    out = _check_model_out(args.out)
    pol.fit()
    checksum = pol.save(out)
    m = pol.meta_.get("metrics", {})
    acc = m.get("val_subtask_accuracy")
    print(f"wrote {out} ({args.policy}, {pol.meta_['params']} parameters, "
          f"{pol.meta_['timing_s']['training']:.1f} s training"
          + (f", validation subtask accuracy {acc:.3f}" if isinstance(acc, float) else "")
          + f", sha256 {checksum[:12]})")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from .reproduce import reproduce_paper

    s = reproduce_paper(args.out, quick=args.quick, seed=args.seed, progress=not args.quiet)
    f5 = {r["policy"]: r for r in s["fig5"]}
    print(f"wrote {args.out}: large-dil ratio of means {f5['large-dil']['ratio_of_means']:.3f} (paper 1.095), "
          f"runtime {s['runtime_s']['total']:.0f} s; see report.md", file=sys.stdout)
    return 0


def register_cli(subparsers: Any) -> None:
    """Add ``simoffload train`` and ``simoffload reproduce``."""
    p = subparsers.add_parser(
        "train", help="train a learned policy and write its model file",
        description="Train a learned policy (large-dil, kd-dil, baseline-dil, dqn) and write weights, constructor "
                    "parameters, input scaler and training metadata to one file (load it with the policy parameter "
                    "weights: FILE).")
    p.add_argument("policy", metavar="POLICY", help=f"one of {', '.join(LEARNED)}")
    p.add_argument("--config", metavar="FILE.yaml", help="YAML mapping of the policy's constructor parameters")
    p.add_argument("--out", required=True, metavar="FILE", help="model file to write (e.g. teacher.pt)")
    p.add_argument("--seed", type=int, default=None, help="data and training seed (overrides the config)")
    p.add_argument("--samples", type=int, default=None, help="training samples (overrides the config)")
    p.add_argument("--quick", action="store_true", help="tiny training for smoke tests (overridden by --config)")
    p.add_argument("--threads", metavar="N", default=None,
                   help="torch threads to train with (a whole number >= 1; default $SIMOFFLOAD_TORCH_THREADS, else 1)")
    p.set_defaults(func=_train)

    r = subparsers.add_parser(
        "reproduce", help="reproduce the reference paper's figures and table",
        description="Reproduce arXiv 2004.04366 (Fig. 5, Fig. 6, Table 1) from scratch.")
    rs = r.add_subparsers(dest="what", metavar="WHAT")
    rs.required = True
    pp = rs.add_parser("paper", help="Fig. 5, Fig. 6, Table 1, summary.json and report.md into --out",
                       description="Train every model and write fig5/fig6 (png, csv, decisions parquet), table1.csv, "
                                   "summary.json and report.md into --out.")
    pp.add_argument("--out", required=True, metavar="DIR", help="output directory (created)")
    pp.add_argument("--quick", action="store_true", help="small sizes, under a minute (a smoke run, not the paper setting)")
    pp.add_argument("--seed", type=int, default=0, help="root seed (default 0)")
    pp.set_defaults(func=_reproduce)
