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
  ``package.module:Class`` or a built-in one), and for a plug-in found beside
  the scenario (or in its ``module_dir``) the local modules it imports, found
  statically by :func:`local_imports` (every ``import`` statement, also inside
  functions, followed through the modules it reaches), so editing a helper
  module beside a plug-in reruns its points.

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


def _policy_names(data: Any, base: Path | None = None) -> list[tuple[str, Path | None]]:
    """``(name, module_dir)`` of each policy of a scenario dict (``module_dir``: where its module is looked for first)."""
    from ..config import policy_module_dir

    out = []
    for p in (data.get("policies") or []) if isinstance(data, Mapping) else []:
        name = p.get("name") if isinstance(p, Mapping) else p
        mdir = p.get("module_dir") if isinstance(p, Mapping) else None
        if isinstance(name, str):
            out.append((name, policy_module_dir(mdir if isinstance(mdir, str) else None, base)))
    return out


#: at most this many local modules are followed from one plug-in
MAX_LOCAL_IMPORTS = 1000


def _module_files(base: Path, dotted: str) -> list[Path]:
    """Candidate files of module ``dotted`` under ``base``: each package's ``__init__.py`` on the way, and the module."""
    out, here = [], base
    for part in dotted.split("."):
        if not part.isidentifier():
            return out
        out += [here / part / "__init__.py", here / f"{part}.py"]
        here = here / part
    return out


def local_imports(file: str | Path, root: str | Path) -> list[Path]:
    """Source files under ``root`` that ``file`` imports, directly or through each other, resolved and sorted.

    Static (the source is parsed with :mod:`ast`, nothing is executed): every
    ``import a.b``, ``from a.b import c`` (``c`` may be a module) and relative
    ``from .x import y`` anywhere in the file, also inside functions. Absolute
    names are looked up in ``root`` (the directory a plug-in is loaded from);
    relative ones from the importing file's package. Files outside ``root`` (the
    standard library, installed packages, simoffload) are not followed; a file
    that cannot be read or parsed is kept but not followed. ``file`` itself is
    not in the result.
    """
    import ast

    root_r = Path(root).resolve()
    start = Path(file).resolve()
    seen: set[Path] = {start}
    todo = [start]
    while todo and len(seen) <= MAX_LOCAL_IMPORTS:
        f = todo.pop()
        try:
            tree = ast.parse(f.read_bytes(), filename=str(f))
        except (OSError, SyntaxError, ValueError):
            continue
        cands: list[Path] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    cands += _module_files(root_r, a.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = f.parent
                    for _ in range(node.level - 1):
                        base = base.parent
                else:
                    base = root_r
                mod = node.module or ""
                cands += _module_files(base, mod) if mod else [base / "__init__.py"]
                here = base.joinpath(*mod.split(".")) if mod else base
                for a in node.names:
                    if a.name != "*" and a.name.isidentifier():
                        cands += [here / a.name / "__init__.py", here / f"{a.name}.py"]
        for c in cands:
            try:
                if not c.is_file():
                    continue
                c = c.resolve()
                c.relative_to(root_r)
            except (OSError, ValueError):
                continue
            if c not in seen:
                seen.add(c)
                todo.append(c)
    seen.discard(start)
    return sorted(seen)


def policy_source_files(names: Iterable[str | tuple[str, Path | None]]) -> list[Path]:
    """Source files of the policies ``names`` resolve to (names that do not resolve are skipped).

    Each name may come with the directory its module is looked for first (a
    plug-in beside the scenario); such a plug-in adds the local modules it
    imports (:func:`local_imports`).
    """
    from ..registry import PolicyNotFound, locate

    out = []
    for item in names:
        name, mdir = item if isinstance(item, tuple) else (item, None)
        try:
            loc = locate(name, mdir)
        except PolicyNotFound:
            continue
        if loc.file is not None:
            out.append(loc.file.resolve())
            out += local_imports(loc.file, loc.module_dir or loc.file.parent)
            continue
        f = getattr(sys.modules.get(loc.cls.__module__), "__file__", None)
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
    found.update(policy_source_files(_policy_names(data, base)))
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
