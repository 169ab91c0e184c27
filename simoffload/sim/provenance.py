"""Which files a scenario reads, and their contents' hashes.

A result is only reusable (a sweep point, a cached run) while everything it was
computed from is unchanged: the scenario text, the simoffload version, and the
*contents* of every file the run reads. This module names those files in one
place:

* every string value of the scenario that names an existing file (trace
  ``file:`` entries resolve against the scenario's directory, policy
  parameters such as ``weights:`` against the working directory; both are
  tried, so a file named anywhere in the scenario is found);
* the source file of every policy class the scenario names (a plug-in
  ``package.module:Class`` or a built-in one).

:func:`provenance` returns ``{"simoffload": version, "inputs": {path: sha256}}``
for ``meta.json`` and the sweep's point records; :func:`changed_inputs` says
what differs between two such records.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping

_MAX_PATH_CHARS = 4096
_CHUNK_BYTES = 1 << 20


def simoffload_version() -> str:
    """The running simoffload's version string."""
    from .. import __version__

    return __version__


def _strings(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _strings(v)


def _as_dict(scenario: Any) -> tuple[Any, Path]:
    if isinstance(scenario, Mapping):
        return scenario, Path(".")
    return scenario.model_dump(mode="json", exclude={"base_dir"}), Path(getattr(scenario, "base_dir", "."))


def _policy_names(data: Any) -> list[str]:
    out = []
    for p in (data.get("policies") or []) if isinstance(data, Mapping) else []:
        name = p.get("name") if isinstance(p, Mapping) else p
        if isinstance(name, str):
            out.append(name)
    return out


def policy_source_files(names: Iterable[str]) -> list[Path]:
    """Source files of the policy classes ``names`` resolve to (names that do not resolve are skipped)."""
    from ..registry import PolicyNotFound, resolve

    out = []
    for name in names:
        try:
            cls = resolve(name)
        except PolicyNotFound:
            continue
        f = getattr(sys.modules.get(cls.__module__), "__file__", None)
        if f and os.path.isfile(f):
            out.append(Path(f).resolve())
    return out


def input_files(scenario: Any, base_dir: str | Path | None = None) -> list[Path]:
    """Every file a run of ``scenario`` reads, resolved, sorted, without duplicates.

    Args:
        scenario: a :class:`~simoffload.config.Scenario` or its plain-dict form.
        base_dir: the scenario file's directory (default: the scenario's own
            ``base_dir``, or ``.`` for a dict).
    """
    data, own_base = _as_dict(scenario)
    base = Path(base_dir) if base_dir is not None else own_base
    found: set[Path] = set()
    for s in _strings(data):
        if not s or len(s) > _MAX_PATH_CHARS or "\n" in s or "\0" in s:
            continue
        p = Path(s).expanduser()
        for cand in ((p,) if p.is_absolute() else (base / p, p)):
            try:
                if cand.is_file():
                    found.add(cand.resolve())
            except OSError:
                continue
    found.update(policy_source_files(_policy_names(data)))
    return sorted(found)


def hash_file(path: str | Path) -> str:
    """SHA-256 of a file's contents (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK_BYTES), b""):
            h.update(chunk)
    return h.hexdigest()


def hash_files(paths: Iterable[str | Path], cache: dict[str, str] | None = None) -> dict[str, str]:
    """``{str(path): sha256}`` for each path; ``cache`` (same form) avoids hashing a file twice.

    A file that cannot be read hashes to ``"unreadable: <reason>"``, so it still
    differs from any readable version.
    """
    out = {}
    for p in paths:
        key = str(p)
        if cache is not None and key in cache:
            out[key] = cache[key]
            continue
        try:
            digest = hash_file(p)
        except OSError as exc:
            digest = f"unreadable: {exc.strerror or exc}"
        out[key] = digest
        if cache is not None:
            cache[key] = digest
    return out


def provenance(scenario: Any, base_dir: str | Path | None = None, cache: dict[str, str] | None = None) -> dict[str, Any]:
    """``{"simoffload": version, "inputs": {path: sha256}}`` for a scenario's run."""
    return {"simoffload": simoffload_version(), "inputs": hash_files(input_files(scenario, base_dir), cache)}


def changed_inputs(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """What differs between two :func:`provenance` records, as short phrases (empty: nothing).

    Examples: ``"input trace.csv changed"``, ``"input model.pt added"``,
    ``"simoffload version 0.1.0 -> 0.2.0"``, ``"no input record"``.
    """
    if not old:
        return ["no input record"]
    out = []
    if old.get("simoffload") != new.get("simoffload"):
        out.append(f"simoffload version {old.get('simoffload')} -> {new.get('simoffload')}")
    a, b = dict(old.get("inputs") or {}), dict(new.get("inputs") or {})
    for path in sorted(set(a) | set(b)):
        name = Path(path).name
        if path not in a:
            out.append(f"input {name} added")
        elif path not in b:
            out.append(f"input {name} no longer read")
        elif a[path] != b[path]:
            out.append(f"input {name} changed")
    return out
