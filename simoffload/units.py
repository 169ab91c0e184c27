"""Friendly units for scenario files, converted to SI in one place.

Scenario files may write ``"2 MB/s"``, ``"1.5 GHz"``, ``"10 MB"``, ``"500 ms"``
or ``"20 Mbit/s"``; the simulator works in bytes, hertz (cycles per second),
bytes per second and seconds. Plain numbers are taken as already being in SI.
Decimal prefixes are used (1 MB = 1e6 bytes), as in the reference paper.
"""

from __future__ import annotations

import re

_PREFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}

# unit kind -> {suffix: factor to SI}
_UNITS: dict[str, dict[str, float]] = {
    "bytes": {"B": 1.0, "byte": 1.0, "bytes": 1.0, "bit": 1 / 8, "b": 1 / 8},
    "hz": {"Hz": 1.0, "hz": 1.0, "cycles/s": 1.0},
    "cycles": {"cycles": 1.0, "cycle": 1.0, "c": 1.0},
    "bytes_per_s": {
        "B/s": 1.0, "Bps": 1.0, "bytes/s": 1.0, "bit/s": 1 / 8, "bps": 1 / 8, "b/s": 1 / 8,
    },
    "s": {"s": 1.0, "sec": 1.0, "ms": 1e-3, "us": 1e-6, "min": 60.0, "h": 3600.0},
    "per_s": {"/s": 1.0, "per_s": 1.0, "Hz": 1.0},
    "w": {"W": 1.0, "mW": 1e-3},
    "j": {"J": 1.0, "mJ": 1e-3},
    "fraction": {"%": 0.01},
}

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?inf"
_RE = re.compile(rf"^\s*({_NUM})\s*([A-Za-z/_]*|%)\s*$")


class UnitError(ValueError):
    """A quantity could not be parsed or has the wrong unit."""


def parse_quantity(value: object, kind: str) -> float:
    """Convert ``value`` to the SI unit of ``kind``.

    Args:
        value: a number (taken as SI) or a string such as ``"2 MB/s"``.
        kind: one of ``bytes``, ``hz``, ``cycles``, ``bytes_per_s``, ``s``,
            ``per_s``, ``w``, ``j``, ``fraction`` (``"70.6 %"`` = 0.706).

    Returns:
        The value in SI units (bytes, Hz, cycles, bytes/s, s, 1/s, W, J).

    Raises:
        UnitError: when the string is not a number with a known unit of that kind.
    """
    if isinstance(value, bool):
        raise UnitError(f"expected a number or quantity, got {value!r}")
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        raise UnitError(f"expected a number or quantity, got {value!r}")
    m = _RE.match(value)
    if not m:
        raise UnitError(f"cannot parse quantity {value!r}")
    number = float(m.group(1))
    suffix = m.group(2)
    if suffix == "":
        return number
    if suffix == "%" and kind == "fraction":
        return number / 100.0  # correctly rounded: "70.6 %" == 0.706 exactly
    table = _UNITS[kind]
    if suffix in table:
        return number * table[suffix]
    # prefixed units: longest unit suffix that matches, prefix is the rest
    for unit in sorted(table, key=len, reverse=True):
        if suffix.endswith(unit):
            prefix = suffix[: -len(unit)]
            if prefix in _PREFIX:
                return number * _PREFIX[prefix] * table[unit]
    allowed = ", ".join(sorted(table))
    raise UnitError(f"unknown unit {suffix!r} in {value!r} (expected a {kind} unit: {allowed}, with k/M/G prefixes)")
