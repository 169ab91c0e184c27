"""Find policies by name.

A scenario names a policy in one of these ways, tried in this order:

1. a built-in name (``simoffload policies``) or one added with :func:`register`;
2. a name an installed package declares in the entry-point group
   ``simoffload.policies`` (``my-policy = mypkg.policies:MyPolicy`` in its
   ``setup.cfg``/``pyproject.toml``);
3. ``"module:Class"`` or ``"package.module:Class"`` where the module (a
   ``module.py`` file or a ``package/`` directory with ``__init__.py``) lies in
   the policy's ``module_dir`` - by default the directory of the scenario file -
   so a policy written beside a scenario needs no ``PYTHONPATH``;
4. ``"package.module:Class"`` importable as usual (an installed package).

Modules found beside a scenario are loaded from their file under a private
module name (``_simoffload_plugin_<hash>_<name>``); ``sys.path`` is never
changed. Built-in names map to ``"module:Class"`` strings imported only when
used, so the engine never imports concrete policies. Every class must subclass
:class:`simoffload.policy.Policy`.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from .policy import Policy

ENTRY_POINT_GROUP = "simoffload.policies"

_BUILTIN: dict[str, str] = {
    "local": "policies.static:LocalPolicy",
    "edge": "policies.static:EdgePolicy",
    "cloud": "policies.static:CloudPolicy",
    "random": "policies.static:RandomPolicy",
    "greedy": "policies.greedy:GreedyPolicy",
    "optimal": "policies.optimal:OptimalPolicy",
    "exhaustive": "policies.optimal:ExhaustivePolicy",
    "large-dil": "policies.dil:LargeDILPolicy",
    "kd-dil": "policies.dil:KDDILPolicy",
    "baseline-dil": "policies.dil:BaselineDILPolicy",
    "dqn": "policies.dqn:DQNPolicy",
    "queue-aware": "policies.queue_aware:QueueAwarePolicy",
    "tabular-q": "policies.online_q:TabularQPolicy",
    "online-dqn": "policies.online_dqn:OnlineDQNPolicy",
    "sb3": "policies.sb3:SB3Policy",
}
_REGISTRY: dict[str, str] = dict(_BUILTIN)
# classes of Policy objects given in Python, by their 'module:Class' name (sweep workers rebuild them from these)
_CLASSES: dict[str, type] = {}


class PolicyNotFound(ValueError):
    pass


@dataclass(frozen=True)
class Located:
    """Where a policy name led: its class, a one-phrase origin, and the module file if it came from one beside a scenario."""

    cls: type[Policy]
    origin: str
    file: Path | None = None  # the plug-in module's file (for beside-the-scenario modules)
    module_dir: Path | None = None  # the directory it was found in


def register(name: str, entry_point: str) -> None:
    """Make ``name`` resolve to ``"module:Class"``."""
    if ":" not in entry_point:
        raise ValueError(f"entry point must look like 'package.module:Class', got {entry_point!r}")
    _REGISTRY[name] = entry_point


def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def registered() -> dict[str, str]:
    """Every name that resolves without a scenario: built-in, registered and entry-point names, and their targets."""
    out = {name: ep.value for name, ep in _entry_points().items()}
    out.update(_REGISTRY)
    return out


def listing() -> list[tuple[str, str, str]]:
    """(name, target, origin) of every name in :func:`registered`, sorted by name."""
    rows = []
    eps = _entry_points()
    for name in sorted(set(_REGISTRY) | set(eps)):
        if name in _REGISTRY:
            origin = "built-in" if _BUILTIN.get(name) == _REGISTRY[name] else "registered at run time"
            rows.append((name, _REGISTRY[name], origin))
        else:
            ep = eps[name]
            dist = getattr(ep, "dist", None)
            where = f"{dist.name} {dist.version}" if dist is not None else "an installed package"
            rows.append((name, ep.value, f"entry point ({where})"))
    return rows


def _plugin_file(module_dir: Path, top: str) -> tuple[Path, bool] | None:
    """The file of top-level module ``top`` in ``module_dir`` and whether it is a package."""
    pkg = module_dir / top / "__init__.py"
    if pkg.is_file():
        return pkg, True
    mod = module_dir / f"{top}.py"
    if mod.is_file():
        return mod, False
    return None


def _load_beside(module_name: str, module_dir: Path) -> tuple[ModuleType, Path] | None:
    """Import ``module_name`` (dotted) from ``module_dir`` without touching sys.path; None if it is not there."""
    top, _, rest = module_name.partition(".")
    found = _plugin_file(module_dir, top)
    if found is None:
        return None
    file, is_pkg = found
    file = file.resolve()
    private = f"_simoffload_plugin_{hashlib.sha256(str(file).encode()).hexdigest()[:12]}_{top}"
    module = sys.modules.get(private)
    if module is None:
        spec = importlib.util.spec_from_file_location(
            private, file, submodule_search_locations=[str(file.parent)] if is_pkg else None)
        if spec is None or spec.loader is None:
            return None
        module = importlib.util.module_from_spec(spec)
        sys.modules[private] = module  # so the module's own imports of its submodules and pickling find it
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[private]
            raise
    if rest:
        if not is_pkg:
            return None
        module = importlib.import_module(f"{private}.{rest}")
    return module, Path(module.__file__).resolve() if getattr(module, "__file__", None) else file


def locate(spec: str, module_dir: str | Path | None = None) -> Located:
    """Resolve a policy name (see the module docstring) and say where it came from.

    Args:
        spec: a registered or entry-point name, or ``"package.module:Class"``.
        module_dir: where modules named in ``spec`` are looked for first (the scenario
            file's directory); ``None`` = only importable modules.

    Raises:
        PolicyNotFound: unknown name, missing module or attribute, or not a Policy subclass.
    """
    origin = None
    if spec in _CLASSES:
        return Located(_check(spec, spec, _CLASSES[spec]), "a class given in Python")
    if spec in _REGISTRY:
        entry = _REGISTRY[spec]
        origin = "built-in" if _BUILTIN.get(spec) == entry else "registered at run time"
    else:
        eps = _entry_points() if ":" not in spec else {}
        if spec in eps:
            ep = eps[spec]
            try:
                cls = ep.load()
            except Exception as exc:  # a broken third-party package: say which
                raise PolicyNotFound(f"policy {spec!r}: entry point {ep.value!r} failed to load ({type(exc).__name__}: {exc})") from None
            dist = getattr(ep, "dist", None)
            return Located(_check(spec, ep.value, cls), f"entry point {ep.value} ({dist.name if dist else 'installed package'})")
        entry = spec
    if ":" not in entry:
        known = ", ".join(sorted(registered()))
        raise PolicyNotFound(f"unknown policy {spec!r} (known: {known}; or 'module:Class' in a module beside the scenario)")
    module_name, _, attr = entry.partition(":")
    file = found_dir = None
    module = None
    if origin is None and module_dir is not None:
        mdir = Path(module_dir)
        try:
            got = _load_beside(module_name, mdir)
        except Exception as exc:
            raise PolicyNotFound(f"policy {spec!r}: module {module_name!r} in {mdir} failed to import "
                                 f"({type(exc).__name__}: {exc})") from None
        if got is not None:
            module, file = got
            found_dir = mdir.resolve()
            origin = f"module {file}"
    if module is None:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            where = f" (not beside the scenario in {module_dir}, nor installed)" if module_dir is not None else ""
            raise PolicyNotFound(f"policy {spec!r}: cannot import module {module_name!r}{where} ({exc})") from None
        origin = origin or f"module {module_name} ({getattr(module, '__file__', None) or 'installed'})"
    cls = getattr(module, attr, None)
    if cls is None:
        raise PolicyNotFound(f"policy {spec!r}: module {module_name!r} has no attribute {attr!r}")
    return Located(_check(spec, entry, cls), origin, file, found_dir)


def _check(spec: str, entry: str, cls: Any) -> type[Policy]:
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise PolicyNotFound(f"policy {spec!r}: {entry} is not a subclass of simoffload.policy.Policy")
    if inspect.isabstract(cls) or (cls.decide is Policy.decide and cls.decide_batch is Policy.decide_batch):
        raise PolicyNotFound(f"policy {spec!r}: {entry} is abstract (it implements neither decide nor "
                             f"decide_batch); name a concrete policy")
    return cls


def resolve(spec: str, module_dir: str | Path | None = None) -> type[Policy]:
    """The policy class for a name (see :func:`locate`)."""
    return locate(spec, module_dir).cls


@functools.lru_cache(maxsize=None)
def param_model(cls: type[Policy]) -> Any:
    """A pydantic model of ``cls``'s constructor parameters.

    Types come from the annotations of ``__init__`` (unannotated: anything),
    defaults from its defaults, and ranges from the class's ``param_spec``
    (``{name: {"ge": 0, ...}}``, keyword arguments of :func:`pydantic.Field`;
    a ``"type"`` entry overrides the annotation). As in scenario sections,
    booleans are refused where numbers are expected, floats must be finite
    (``{"allow_inf_nan": True}`` allows inf), and unknown parameters are
    refused unless ``__init__`` takes ``**kwargs``.
    """
    from pydantic import ConfigDict, Field, create_model

    from .strict import StrictModel

    init = cls.__init__
    sig = inspect.signature(init)
    try:
        hints = typing.get_type_hints(init)
    except Exception:  # noqa: BLE001 - unresolvable annotations: check names only
        hints = {}
    spec = dict(getattr(cls, "param_spec", {}) or {})
    fields: dict[str, Any] = {}
    var_kw = False
    for p in sig.parameters.values():
        if p.name == "self" or p.kind == p.VAR_POSITIONAL:
            continue
        if p.kind == p.VAR_KEYWORD:
            var_kw = True
            continue
        extra = dict(spec.get(p.name, {}))
        ann = extra.pop("type", hints.get(p.name, Any))
        default = ... if p.default is p.empty else p.default
        fields[p.name] = (ann, Field(default, **extra))

    class _Params(StrictModel):
        model_config = ConfigDict(extra="allow" if var_kw else "forbid", arbitrary_types_allowed=True,
                                  protected_namespaces=())

    return create_model(f"{cls.__name__}Params", __base__=_Params, **fields)


def validate_params(spec: str, params: dict[str, Any], module_dir: str | Path | None = None) -> dict[str, Any]:
    """Check ``params`` against the policy's declared parameters; returns them coerced (e.g. ``"2e6"`` -> 2e6).

    Raises:
        PolicyNotFound: unknown policy.
        pydantic.ValidationError: a bad parameter (its ``loc`` names it).
    """
    cls = resolve(spec, module_dir)
    m = param_model(cls).model_validate(params)
    out = {k: getattr(m, k) for k in params if k in type(m).model_fields}
    out.update({k: v for k, v in params.items() if k not in out})  # **kwargs pass through
    return out


def make_policy(spec: str, module_dir: str | Path | None = None, **params: Any) -> Policy:
    """Instantiate a policy by name with keyword parameters (validated first, see :func:`validate_params`)."""
    from pydantic import ValidationError

    from .yamlio import shorten

    cls = resolve(spec, module_dir)
    try:
        params = validate_params(spec, params, module_dir)
    except ValidationError as exc:
        e = exc.errors()[0]
        name = ".".join(str(x) for x in e["loc"])
        got = "" if e["type"] in ("missing", "extra_forbidden") or "got " in e["msg"] \
            else f" (got {shorten(e.get('input'))})"
        msg = "unknown parameter" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        raise PolicyNotFound(f"policy {spec!r}: params.{name}: {msg}{got}") from None
    try:
        return cls(**params)
    except TypeError as exc:
        raise PolicyNotFound(f"policy {spec!r}: bad parameters ({shorten(str(exc), 200)})") from None
