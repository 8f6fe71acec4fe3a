"""One readable error per bad config file, naming the file, the field and the fix.

A message never shows the value of a secret-bearing field (password, token, webhook URL,
DSN, ...) nor any value that came from an environment variable: those are named, not shown.
"""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any

import pydantic

from ..errors import ConfigError  # noqa: F401  (re-exported)
from .envvars import from_env, texts_in

HIDDEN = "(hidden)"
FROM_ENV = "(a value from the environment)"
NOT_SHOWN = {True: "value not shown: a secret field", False: "value not shown: it came from the environment"}
_SECRET_FIELD = re.compile(r"pass|secret|token|dsn|webhook|api_?key|credential|auth|private|topic", re.I)


def is_secret_field(loc: typing.Iterable[Any]) -> bool:
    """Whether a field path names a secret-bearing field, at any depth."""
    return any(isinstance(part, str) and _SECRET_FIELD.search(part) for part in loc)


def shown(value: Any) -> str:
    """`repr(value)` for a message, unless the value came from the environment."""
    return FROM_ENV if from_env(value) else repr(value)


def conceal(text: str, value: Any, secret: bool = False) -> str:
    """`text` with every piece of `value` that must not be shown replaced: all of it for a
    secret field, else the parts that came from the environment."""
    pieces = texts_in(value, only_env=not secret)
    for piece in sorted(set(pieces), key=len, reverse=True):
        if piece:
            text = text.replace(repr(piece), HIDDEN).replace(piece, HIDDEN)
    return text


def near_miss(word: str, candidates: typing.Iterable[str]) -> str:
    """' (did you mean 'x'?)' for a close candidate, else ''."""
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def field_path(loc: tuple) -> str:
    """('detectors', 0, 'params') -> 'detectors[0].params'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _models_in(annotation) -> list[type[pydantic.BaseModel]]:
    """Pydantic model classes reachable through Optional/Union/list/dict annotations."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        found.extend(_models_in(arg))
    return found


def _known_fields(model: type[pydantic.BaseModel], loc: tuple) -> list[str]:
    """Field names (and aliases) of the model that owns the location `loc`."""
    models = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        nxt = []
        for m in models:
            info = m.model_fields.get(part)
            if info is not None:
                nxt.extend(_models_in(info.annotation))
        models = nxt or models
    names: list[str] = []
    for m in models:
        for name, info in m.model_fields.items():
            names.append(info.alias or name)
    return names


def describe_validation_error(
    exc: pydantic.ValidationError, model: type[pydantic.BaseModel], prefix: tuple = ()
) -> str:
    """Turn pydantic's error list into short lines 'field: problem (got value)'."""
    lines = []
    for err in exc.errors():
        loc = prefix + tuple(p for p in err["loc"] if not _is_union_tag(p))
        if err["type"] == "extra_forbidden":
            key = str(loc[-1])
            known = _known_fields(model, tuple(p for p in loc[len(prefix):-1]))
            hint = near_miss(key, known)
            allowed = ", ".join(sorted(known))
            lines.append(f"{field_path(loc)}: unknown field{hint}. Allowed here: {allowed}")
            continue
        value = err.get("input")
        secret = is_secret_field(loc)
        message = conceal(err["msg"].removeprefix("Value error, "), value, secret)
        hidden = secret or from_env(value)
        if isinstance(value, (dict, list)) or err["type"] == "missing":
            got = ""
        else:
            got = f" ({NOT_SHOWN[secret]})" if hidden else f" (got {_short(repr(value))})"
        lines.append(f"{field_path(loc)}: {message}{got}" if loc else f"{message}{got}")
    return "\n".join(lines)


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _is_union_tag(part) -> bool:
    """pydantic inserts union member names like 'str' or 'function-after[...]' into locs."""
    return isinstance(part, str) and (
        part in {"str", "int", "float", "bool", "list[str]", "dict[str,str]"}
        or "[" in part and part.split("[", 1)[0] in {"function-after", "function-before", "list", "dict"}
    )

