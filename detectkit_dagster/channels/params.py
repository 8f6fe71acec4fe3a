"""Channel parameters: a small declarative schema per channel type, checked when profiles load.

Errors name the channel, the parameter and what is allowed; they never echo a secret value nor
a value that came from the environment.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from detectkit_dagster.channels.render import check_template
from detectkit_dagster.config.errors import conceal
from detectkit_dagster.config.envvars import from_env

Check = Callable[[Any], str | None]  # returns what is wrong with a value, or None


@dataclass(frozen=True)
class Param:
    types: tuple[type, ...]
    required: bool = False
    default: Any = None
    choices: tuple | None = None
    secret: bool = False       # never echoed in an error
    check: Check | None = None


def http_url(value: str) -> str | None:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https"):
        return f"must be an http:// or https:// URL (got scheme {parts.scheme!r})"
    if not parts.hostname:
        return "must be an http:// or https:// URL with a host"
    if any(ch.isspace() for ch in value.strip()):
        return "must not contain spaces or line breaks"
    return None


def positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


def in_range(low: int, high: int) -> Check:
    return lambda value: None if low <= value <= high else f"must be between {low} and {high}"


def not_empty(value: Any) -> str | None:
    return None if (value.strip() if isinstance(value, str) else value) else "must not be empty"


def str_list(value: list) -> str | None:
    if not value:
        return "must list at least one entry"
    return None if all(isinstance(v, str) and v.strip() for v in value) else "must be a list of non-empty strings"


def headers_map(value: dict) -> str | None:
    for key, val in value.items():
        if not isinstance(key, str) or not isinstance(val, str):
            return "must map header names to string values"
        if any(ch in key + val for ch in "\r\n") or not key.strip() or ":" in key:
            return f"header {key!r} has an invalid name or a line break in its value"
    return None


def message_template(value: str) -> str | None:
    """A custom body: the safe formatter's `{name}` fields over the alert variables only."""
    problem = check_template(value)
    return None if problem is None else f"cannot render: {problem}"


def url_param(**kwargs: Any) -> Param:
    return Param((str,), check=http_url, **kwargs)


TIMEOUT = Param((int, float), default=None, check=positive)
# Sends run inside a dispatch sensor tick, which Dagster ends after 60 s; a longer deadline
# could never fit the tick's budget, so it is capped here (with a warning at load).
MAX_TIMEOUT = 30.0
TIMEOUTS = {"timeout_seconds": TIMEOUT, "timeout": TIMEOUT}  # `timeout` is detectkit's spelling


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False  # YAML `true` is an int to Python, not to a reader
    return isinstance(value, types)


def _type_names(types: tuple[type, ...]) -> str:
    names = {str: "text", int: "a whole number", float: "a number", bool: "true/false",
             list: "a list", dict: "a mapping", type(None): "null"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def resolve(channel: str, kind: str, raw: Mapping[str, Any], schema: Mapping[str, Param]) -> dict[str, Any]:
    """Checked parameters with defaults filled in, or ValueError naming channel, param and fix."""
    where = f"alert channel {channel!r} (type {kind})"
    allowed = ", ".join(sorted(schema)) or "none"
    for key in raw:
        if key not in schema:
            match = difflib.get_close_matches(str(key), list(schema), n=1, cutoff=0.6)
            hint = f" (did you mean {match[0]!r}?)" if match else ""
            raise ValueError(f"{where}: unknown param {key!r}{hint}. Allowed params: {allowed}")
    values: dict[str, Any] = {}
    for key, param in schema.items():
        value = raw.get(key)
        if value is None and key in raw and param.choices is not None and None in param.choices:
            values[key] = None  # an explicit null is a choice here (Telegram's parse_mode)
            continue
        if value is None:
            if param.required:
                raise ValueError(f"{where}: missing required param {key!r}. Allowed params: {allowed}")
            values[key] = param.default
            continue
        hidden = param.secret or from_env(value)
        shown = "" if hidden else f" (got {value!r})"
        if not _type_ok(value, param.types):
            raise ValueError(f"{where}: param {key!r} must be {_type_names(param.types)}{shown}")
        if param.choices is not None and value not in param.choices:
            options = ", ".join("null" if c is None else str(c) for c in param.choices)
            raise ValueError(f"{where}: param {key!r} must be one of {options}{shown}")
        problem = param.check(value) if param.check else None
        if problem:
            raise ValueError(f"{where}: param {key!r} {conceal(problem, value, param.secret)}{shown}")
        values[key] = value
    return values


def timeout_of(channel: str, kind: str, values: Mapping[str, Any], default: float) -> float:
    """`timeout_seconds`, or detectkit's `timeout` (not both), at most MAX_TIMEOUT."""
    ours, theirs = values.get("timeout_seconds"), values.get("timeout")
    if ours is not None and theirs is not None:
        raise ValueError(f"alert channel {channel!r} (type {kind}): give either 'timeout_seconds' or "
                         "'timeout', not both")
    chosen = ours if ours is not None else theirs
    return min(float(chosen), MAX_TIMEOUT) if chosen is not None else default
