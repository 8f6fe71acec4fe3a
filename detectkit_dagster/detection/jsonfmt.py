"""Compact JSON exactly as the reference stores it (orjson conventions).

Sorted keys, no whitespace, non-finite floats as ``null``, ints stay ints, floats in
shortest round-trip form. The float spelling differs from Python's ``repr`` only in
the exponent (``1e-7`` not ``1e-07``, decimal form from 1e-5 on: ``0.00001``), which is
also what polars' float-to-string cast produces; the vectorised metadata writer relies
on that, and a test keeps the two in agreement.
"""

from __future__ import annotations

import json
import math

import numpy as np


def format_float(x: float) -> str:
    """One finite or non-finite float as a JSON token."""
    x = float(x)
    if not math.isfinite(x):
        return "null"
    text = repr(x)
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    exp = int(exponent)
    if exp == -5:  # repr switches to exponent form one decade earlier than orjson
        sign = "-" if mantissa.startswith("-") else ""
        digits = mantissa.lstrip("-").replace(".", "")
        return f"{sign}0.0000{digits}"
    return f"{mantissa}e{'+' if exp > 0 else '-'}{abs(exp)}"


def dumps(value) -> str:
    """Serialise dicts/lists/scalars the way the reference writes metadata and params."""
    if value is None:
        return "null"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return format_float(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{json.dumps(str(k), ensure_ascii=False)}:{dumps(v)}" for k, v in items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")
