"""A pydantic base model for everything read from users: strict about what YAML makes easy to get wrong.

:class:`StrictModel` refuses

* unknown fields (``extra="forbid"``);
* booleans where a number is expected (``seed: true``; pydantic would read 1),
  also inside lists and tuples (``edges: [[true, 1]]``);
* non-finite floats (``.inf``, ``.nan``) in float fields; a field that may be
  infinite says so with ``Field(allow_inf_nan=True)``.

Every scenario section (:mod:`simoffload.config`), bandwidth and estimator spec
(:mod:`simoffload.net.channels`) and policy parameter model
(:func:`simoffload.registry.param_model`) derives from it, so a new field gets
these checks without writing any.
"""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


def _numeric_only(ann: Any) -> bool:
    """True if ``ann`` admits int or float but not bool (unwrapping Annotated, Optional, unions)."""
    origin = typing.get_origin(ann)
    if origin is Annotated:
        return _numeric_only(typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(ann)
        return any(_numeric_only(a) for a in args) and not any(a is bool or a is Any for a in args)
    return ann in (int, float)


def _bool_where_number(value: Any, ann: Any) -> bool:
    """True if ``value`` holds a bool where ``ann`` expects a number (looking into lists and tuples)."""
    if isinstance(value, bool):
        return _numeric_only(ann)
    origin = typing.get_origin(ann)
    if origin is Annotated:
        return _bool_where_number(value, typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_bool_where_number(value, a) for a in typing.get_args(ann) if a is not type(None))
    if origin in (list, tuple) and isinstance(value, (list, tuple)):
        args = [a for a in typing.get_args(ann) if a is not Ellipsis]
        if not args:
            return False
        if origin is tuple and len(args) == len(value) and len(args) > 1:
            return any(_bool_where_number(v, a) for v, a in zip(value, args))
        return any(_bool_where_number(v, args[0]) for v in value)
    return False


class StrictModel(BaseModel):
    """Base of every scenario section: unknown fields, booleans as numbers and non-finite floats are refused.

    A field that may be infinite says so with ``Field(allow_inf_nan=True)``
    (and then refuses NaN itself); quantity fields (``"2 MB/s"``) check
    finiteness in their converter.
    """

    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, v: Any, info: ValidationInfo) -> Any:
        f = cls.model_fields.get(info.field_name) if info.field_name else None
        if f is not None and _bool_where_number(v, f.annotation):
            raise ValueError("expected a number, not a boolean")
        return v
