"""What a run's ``meta.json`` records about where it came from (private).

* ``software``: the simoffload version and, when the code is a git checkout, its
  commit (and whether the work tree had uncommitted changes);
* ``environment``: Python, the versions of the key packages (read from their
  installed metadata, nothing is imported), the platform, and the thread
  settings (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``SIMOFFLOAD_TORCH_THREADS``
  and torch's own count if torch is loaded);
* ``inputs``: ``{path: sha256}`` of every file the run read - the scenario
  file, bandwidth traces and other files it names, policy modules (built-in,
  installed, or beside the scenario), learned policies' model files.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

KEY_PACKAGES = ("numpy", "scipy", "pandas", "pyarrow", "simpy", "networkx", "pydantic", "pyyaml", "torch",
                "scikit-learn", "gymnasium", "stable-baselines3", "joblib")
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "SIMOFFLOAD_TORCH_THREADS")


def git_commit(directory: str | Path | None = None) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the git checkout holding the package, or None."""
    d = Path(directory) if directory else Path(__file__).resolve().parent.parent
    if not (d / ".git").exists():
        return None
    try:
        sha = subprocess.run(["git", "-C", str(d), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(d), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha, "dirty": dirty}


def software() -> dict[str, Any]:
    from . import __version__

    return {"simoffload": __version__, "git": git_commit()}


def environment() -> dict[str, Any]:
    versions = {}
    for name in KEY_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    threads: dict[str, Any] = {k: os.environ.get(k) for k in _THREAD_VARS}
    torch = sys.modules.get("torch")
    threads["torch"] = torch.get_num_threads() if torch is not None else None
    threads["cpu_count"] = os.cpu_count()
    return {"python": platform.python_version(), "implementation": platform.python_implementation(),
            "packages": versions, "platform": platform.platform(), "machine": platform.machine(), "threads": threads}


def input_files(sc: Any, policies: Iterable[tuple[str, Any]] = ()) -> list[Path]:
    """Every file a run of ``sc`` with these (label, policy) pairs reads, resolved, sorted, once each.

    :func:`simoffload.sim.provenance.input_files` (every existing file the scenario
    names, and the source of every importable policy class), plus the scenario file
    itself, policy modules found beside the scenario and the local modules they import, and the model files learned
    policies loaded (from ``weights`` or the model cache).
    """
    from .config import policy_module_dir
    from .registry import PolicyNotFound, locate
    from .sim.provenance import input_files as named_files
    from .sim.provenance import local_imports

    files = set(named_files(sc))
    if getattr(sc, "source", None):
        files.add(Path(sc.source).resolve())
    for p in sc.policies:
        if p.instance is not None:
            f = getattr(sys.modules.get(type(p.instance).__module__), "__file__", None)
            if f and os.path.isfile(f):
                files.add(Path(f).resolve())
            continue
        try:
            loc = locate(p.name, policy_module_dir(p.module_dir, sc.base_dir))
        except PolicyNotFound:
            continue
        if loc.file is not None:
            files.add(loc.file.resolve())
            files.update(local_imports(loc.file, loc.module_dir or loc.file.parent))  # its helpers beside it
    for _, pol in policies:
        f = getattr(pol, "model_file_", None)
        if f and os.path.isfile(f):
            files.add(Path(f).resolve())
    return sorted(files)


def inputs(sc: Any, policies: Iterable[tuple[str, Any]] = ()) -> dict[str, str]:
    """``{path: sha256}`` of every input file of a run (the form the sweep's ``sweep.json`` uses)."""
    from .sim.provenance import hash_files

    return hash_files(input_files(sc, policies))


def provenance(sc: Any, policies: Iterable[tuple[str, Any]] = ()) -> dict[str, Any]:
    """The ``software``, ``environment`` and ``inputs`` entries of ``meta.json``."""
    return {"software": software(), "environment": environment(), "inputs": inputs(sc, policies)}
