"""Reading YAML from users safely: bounded, strict, and with line numbers kept.

:func:`load_yaml` parses with PyYAML's safe loader (no Python objects are
constructed from tags) and, before constructing anything, checks the composed
node graph:

* size of the file (``limits.yaml_bytes``);
* nesting depth (``limits.yaml_depth``), checked while composing so deep input
  never reaches Python's recursion limit;
* number of nodes after alias expansion (``limits.yaml_nodes``): an alias bomb
  of a few KB that would expand to billions of nodes is refused without
  expanding it (sizes are computed once per shared node); a recursive alias is
  refused too;
* duplicate keys in a mapping (YAML says keys are unique; PyYAML keeps the last);
* NUL and other characters YAML does not allow, and invalid UTF-8, with the line.

A UTF-8 byte order mark is accepted. The composed root node is returned with the
data so later stages can name the line of any field (:func:`line_of`).

Every problem is a :class:`~simoffload.errors.UserError` of one line
``FILE:LINE: field: message``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

from . import limits as _limits
from .errors import UserError

#: values quoted in error messages are cut to about this many characters
MAX_SHOWN = 100


def shorten(value: Any, width: int = MAX_SHOWN) -> str:
    """``repr(value)`` cut to about ``width`` characters (never builds a huge repr of a container)."""
    if isinstance(value, (dict, list, tuple, set)) and len(value) > 20:
        kind = type(value).__name__
        return f"<{kind} of {len(value)} items>"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a value whose repr fails
        text = f"<{type(value).__name__}>"
    if len(text) > width:
        text = text[: width - 3] + "..."
    return text


@dataclass
class Document:
    """A parsed YAML file: its data, its composed node tree (for line numbers) and its path."""

    data: Any
    root: yaml.Node | None
    path: str

    def line(self, loc: Iterable[Any]) -> int | None:
        """1-based line of the deepest node on ``loc`` (keys and list indexes)."""
        return line_of(self.root, tuple(loc))

    def where(self, loc: Iterable[Any]) -> str:
        """``FILE:LINE`` of ``loc`` (``FILE`` alone if the file has no nodes)."""
        line = self.line(loc)
        return f"{self.path}:{line}" if line else f"{self.path}:1"


def line_of(root: yaml.Node | None, loc: tuple) -> int | None:
    """Line (1-based) of the YAML node at ``loc``, as deep as it exists (the key's line for mappings)."""
    if root is None:
        return None
    node, line = root, root.start_mark.line + 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(key):
                    nxt, line = v, k.start_mark.line + 1
                    break
            if nxt is None:
                break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


class _Loader(yaml.SafeLoader):
    """The safe loader with a depth limit while composing."""

    max_depth = _limits.DEFAULTS["yaml_depth"]

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: D102
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(
                    None, None, f"nesting deeper than {self.max_depth} levels "
                                f"({_limits.how_to_raise('yaml_depth')})", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _TooBig(Exception):
    def __init__(self, node: yaml.Node, msg: str):
        super().__init__(msg)
        self.node = node


def _check_graph(root: yaml.Node, max_nodes: int) -> None:
    """Refuse duplicate keys, recursive aliases and more than ``max_nodes`` expanded nodes.

    Sizes are memoised per node object, so shared (aliased) subtrees are counted
    as often as they would be expanded without ever being expanded.
    """
    size: dict[int, int] = {}
    active: set[int] = set()
    # iterative post-order walk (deep graphs must not recurse in Python)
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        nid = id(node)
        if done:
            active.discard(nid)
            if isinstance(node, yaml.MappingNode):
                total = 1 + sum(size[id(k)] + size[id(v)] for k, v in node.value)
            elif isinstance(node, yaml.SequenceNode):
                total = 1 + sum(size[id(v)] for v in node.value)
            else:
                total = 1
            size[nid] = total
            if total > max_nodes:
                raise _TooBig(node, f"expands to more than {max_nodes:,} nodes (through aliases?); "
                                    f"{_limits.how_to_raise('yaml_nodes')}")
            continue
        if nid in size:
            continue
        if nid in active:
            raise _TooBig(node, "a recursive alias (a node that contains itself)")
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for k, _ in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    key = (k.tag, k.value)
                    if key in seen:
                        raise _TooBig(k, f"duplicate key {shorten(k.value)} (first on line {seen[key]})")
                    seen[key] = k.start_mark.line + 1
            children = [x for kv in node.value for x in kv]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            size[nid] = 1
            continue
        active.add(nid)
        stack.append((node, True))
        for c in reversed(children):
            if id(c) not in size:
                stack.append((c, False))


def _line_at(text: str, index: int) -> int:
    return text.count("\n", 0, max(index, 0)) + 1


def parse_yaml(text: str, path: str, lim: _limits.Limits | None = None) -> Document:
    """Parse YAML text safely (see the module docstring).

    Raises:
        UserError: ``path:line: YAML: message``.
    """
    lim = lim or _limits.current()
    if text.startswith("\ufeff"):
        text = text[1:]
    nul = text.find("\x00")
    if nul >= 0:
        raise UserError(f"{path}:{_line_at(text, nul)}: YAML: a NUL byte is not allowed in a YAML file "
                        f"(column {nul - text.rfind(chr(10), 0, nul)})")
    loader = None
    try:
        loader = _Loader(text)
        loader.max_depth = lim.yaml_depth
        root = loader.get_single_node()
        if root is not None:
            _check_graph(root, lim.yaml_nodes)
        data = loader.construct_document(root) if root is not None else None
    except _TooBig as exc:
        raise UserError(f"{path}:{exc.node.start_mark.line + 1}: YAML: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = " ".join(x for x in (exc.context, exc.problem) if x) or "invalid YAML"
        raise UserError(f"{path}:{line}: YAML: {what.strip()}") from None
    except yaml.reader.ReaderError as exc:
        idx = exc.position if isinstance(exc.position, int) else 0
        raise UserError(f"{path}:{_line_at(text, idx)}: YAML: character {exc.character!r} "
                        f"is not allowed in a YAML file") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}:1: YAML: {shorten(str(exc), 200)}") from None
    except RecursionError:
        raise UserError(f"{path}:1: YAML: nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()
    return Document(data, root, path)


def load_yaml(path: str | Path, what: str = "file", lim: _limits.Limits | None = None) -> Document:
    """Read and parse a YAML file safely.

    Args:
        path: the file.
        what: what the file is, for messages (``"scenario file"``).
        lim: the limits (default: :func:`simoffload.limits.current`).

    Raises:
        UserError: missing, unreadable, too large, not UTF-8, or not valid YAML.
    """
    lim = lim or _limits.current()
    p = Path(path)
    try:
        if p.is_dir():
            raise UserError(f"{p}:1: {what}: is a directory, not a file")
        size = p.stat().st_size
        if size > lim.yaml_bytes:
            raise UserError(f"{p}:1: {what}: {size:,} bytes, above the limit of {lim.yaml_bytes:,} "
                            f"({_limits.how_to_raise('yaml_bytes')})")
        raw = p.read_bytes()
    except FileNotFoundError:
        raise UserError(f"{p}:1: {what}: no such file") from None
    except OSError as exc:
        raise UserError(f"{p}:1: {what}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UserError(f"{p}:{line}: {what}: not valid UTF-8 (byte {raw[exc.start]:#04x})") from None
    return parse_yaml(text, str(p), lim)
