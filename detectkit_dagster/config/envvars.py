"""Environment interpolation for config values: ``${VAR}`` and ``{{ env_var('VAR') }}``.

Unlike detectkit, an unset variable is an error (a silently literal ``${TOKEN}`` in a
webhook URL fails much later and more confusingly). ``env_var('VAR', 'default')``
gives a default.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping

_DOLLAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_JINJA = re.compile(
    r"""\{\{\s*env_var\(\s*(['"])([A-Za-z_][A-Za-z0-9_]*)\1\s*(?:,\s*(['"])(.*?)\3\s*)?\)\s*\}\}"""
)


class MissingEnvVar(ValueError):
    def __init__(self, name: str, where: str):
        self.name = name
        self.where = where
        super().__init__(f"{where}: environment variable {name} is not set")


def interpolate(value: Any, env: Mapping[str, str] | None = None, where: str = "") -> Any:
    """Replace placeholders in every string of a nested dict/list structure."""
    env = os.environ if env is None else env
    if isinstance(value, str):
        return _interpolate_text(value, env, where)
    if isinstance(value, dict):
        return {k: interpolate(v, env, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [interpolate(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _interpolate_text(text: str, env: Mapping[str, str], where: str) -> str:
    def dollar(match: re.Match) -> str:
        return _lookup(match.group(1), None, env, where)

    def jinja(match: re.Match) -> str:
        return _lookup(match.group(2), match.group(4), env, where)

    return _JINJA.sub(jinja, _DOLLAR.sub(dollar, text))


def _lookup(name: str, default: str | None, env: Mapping[str, str], where: str) -> str:
    if name in env:
        return env[name]
    if default is not None:
        return default
    raise MissingEnvVar(name, where)
