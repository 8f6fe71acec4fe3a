"""Environment interpolation for config values: ``${VAR}`` and ``{{ env_var('VAR') }}``.

Unlike detectkit, an unset variable is an error (a silently literal ``${TOKEN}`` in a
webhook URL fails much later and more confusingly). ``env_var('VAR', 'default')``
gives a default. Nothing else is rendered: any other ``{{ ... }}`` in a value is an error,
so a config value can never run template code.

Text that received a value from the environment comes back as `FromEnv`, so that error
messages can tell it apart and never show it.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping

_PLACEHOLDER = re.compile(
    r"""\$\{(?P<dollar>[A-Za-z_][A-Za-z0-9_]*)\}"""
    r"""|\{\{\s*env_var\(\s*(?P<q1>['"])(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P=q1)\s*"""
    r"""(?:,\s*(?P<q2>['"])(?P<default>.*?)(?P=q2)\s*)?\)\s*\}\}"""
)
_EXPRESSION = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)


class FromEnv(str):
    """Text holding (part of) an environment variable's value: never echoed in a message."""


class MissingEnvVar(ValueError):
    def __init__(self, name: str, where: str):
        self.name = name
        self.where = where
        super().__init__(f"{where}: environment variable {name} is not set")


class TemplateNotAllowed(ValueError):
    def __init__(self, where: str):
        super().__init__(f"{where}: only ${{NAME}} and {{{{ env_var('NAME') }}}} (with an optional default, "
                         "env_var('NAME', 'default')) may be interpolated in this file")


def texts_in(value: Any, *, only_env: bool) -> list[str]:
    """The texts inside a nested value (keys too): all of them, or those from the environment."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in texts_in(k, only_env=only_env) + texts_in(v, only_env=only_env)]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in texts_in(v, only_env=only_env)]
    if isinstance(value, FromEnv):
        return [str(value)]
    return [] if only_env or value is None or isinstance(value, bool) else [str(value)]


def from_env(value: Any) -> bool:
    """Whether `value` (or anything inside it) holds text from the environment."""
    return bool(texts_in(value, only_env=True))


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
    if _EXPRESSION.search(_PLACEHOLDER.sub("", text)):
        raise TemplateNotAllowed(where)

    def value(match: re.Match) -> str:
        if match["dollar"]:
            return _lookup(match["dollar"], None, env, where)
        return _lookup(match["name"], match["default"], env, where)

    # One pass: text that came from the environment is never interpolated again.
    result, count = _PLACEHOLDER.subn(value, text)
    return FromEnv(result) if count else text


def _lookup(name: str, default: str | None, env: Mapping[str, str], where: str) -> str:
    if name in env:
        return env[name]
    if default is not None:
        return default
    raise MissingEnvVar(name, where)
