"""Render a metric's SQL template for one time range (detectkit's Jinja2 contract), sandboxed.

A query template sees only `dtk_start_time`, `dtk_end_time`, `interval_seconds`,
`env_var('NAME')` (optionally with a default) and plain filters; it may `{% set %}` names,
loop with `{% for %}` (and read `loop.index`, `loop.last`, ...) and branch with `{% if %}`.
Anything else - an attribute or item walk such as `x.__class__` or `x['y']`, a call other than
`env_var`, an unknown name, `{% include %}` or `{% macro %}` - is refused when the file loads,
and the template is rendered once with sample values then, so an expression that can only fail
(`{{ 1/0 }}`) fails at load too. Rendering happens in Jinja's sandbox all the same.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Callable

import jinja2
from jinja2 import nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from ..errors import TemplateError

_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
VARIABLES = ("dtk_start_time", "dtk_end_time", "interval_seconds")
FILTERS = (
    "abs", "capitalize", "count", "d", "default", "first", "float", "int", "join", "last", "length",
    "list", "lower", "replace", "reverse", "round", "string", "title", "trim", "truncate", "upper",
)
LOOP_FIELDS = ("index", "index0", "revindex", "revindex0", "first", "last", "length", "previtem", "nextitem")
MAX_SIZE = 100_000  # characters or items a `*` may build; bits a `**` may produce
_AVAILABLE = f"available: {', '.join(VARIABLES)}, env_var('NAME')"
# Node types a query template may contain; the rest (include, import, macro, call blocks, ...) is refused.
_PLAIN = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.Const, nodes.Name, nodes.Compare,
    nodes.Operand, nodes.BinExpr, nodes.UnaryExpr, nodes.CondExpr, nodes.If, nodes.For, nodes.Assign,
    nodes.AssignBlock, nodes.List, nodes.Tuple, nodes.Concat, nodes.Test, nodes.Keyword, nodes.Slice,
)


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox, with `*` and `**` bounded (a template must not exhaust memory)."""

    intercepted_binops = frozenset({"*", "**"})  # also keeps them out of compile-time folding

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _is_int(left) and _is_int(right) and right > 0:
            if max(abs(left).bit_length(), 1) * right > MAX_SIZE:
                raise SecurityError(f"{left} ** {right} is too large")
        if operator == "*":
            for count, seq in ((left, right), (right, left)):
                if _is_int(count) and isinstance(seq, (str, list, tuple)) and len(seq) * count > MAX_SIZE:
                    raise SecurityError(f"repeating a value {count} times is too large")
        return super().call_binop(context, operator, left, right)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _environment(env_var: Callable[..., str]) -> SandboxedEnvironment:
    env = _Sandbox(autoescape=False, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.globals.clear()  # no range, dict, cycler, joiner, namespace, lipsum
    env.globals["env_var"] = env_var
    env.filters = {name: env.filters[name] for name in FILTERS}
    return env


def _env_var(name: str, default: str | None = None) -> str:
    if name in os.environ:
        return os.environ[name]
    if default is not None:
        return default
    raise TemplateError(f"environment variable {name} is not set")


def _sample_env_var(name: str, default: str | None = None) -> str:
    """At load, env_var() neither reads the environment nor fails: the run worker's may differ."""
    return default if default is not None else f"env_var_{name}"


_ENV = _environment(_env_var)
_CHECK_ENV = _environment(_sample_env_var)


def check_template(sql: str) -> None:
    """Refuse, with TemplateError, a template that is not plain or cannot render.

    Checked: syntax (with the line), the forms allowed, and one render with sample values.
    """
    start = datetime(2024, 1, 1)
    _render(_CHECK_ENV, _plain_tree(sql), start, start.replace(hour=1), 3600)


def render_query(sql: str, start: datetime, end: datetime, interval_seconds: int) -> str:
    """Variables: dtk_start_time (inclusive), dtk_end_time (exclusive), interval_seconds.

    Every failure is one TemplateError line, never a traceback from inside the template."""
    return _render(_ENV, _plain_tree(sql), start, end, interval_seconds)


def _plain_tree(sql: str) -> nodes.Template:
    try:
        tree = _ENV.parse(sql)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"invalid query template syntax at line {exc.lineno}: {exc.message}") from None
    problem = _refusal(tree)
    if problem:
        raise TemplateError(f"query template {problem}")
    return tree


def _render(env: SandboxedEnvironment, tree: nodes.Template, start: datetime, end: datetime,
            interval_seconds: int) -> str:
    try:
        return env.from_string(tree).render(
            dtk_start_time=start.strftime(_TIME_FORMAT),
            dtk_end_time=end.strftime(_TIME_FORMAT),
            interval_seconds=interval_seconds,
        )
    except TemplateError:
        raise
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"invalid query template syntax at line {exc.lineno}: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(f"query template uses an unknown variable ({exc.message}); {_AVAILABLE}") from None
    except SecurityError as exc:
        raise TemplateError(f"query template is refused: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - whatever an expression raises, one clean line
        detail = (str(exc).strip().splitlines() or [""])[0]
        raise TemplateError(f"query template fails to render: {type(exc).__name__}: {detail}".rstrip(": ")) from None


def _refusal(tree: nodes.Template) -> str | None:
    """Why the template is not plain, or None."""
    assigned = {node.name for node in tree.find_all(nodes.Name) if node.ctx in ("store", "param")}
    known = set(VARIABLES) | assigned | {"env_var"}
    for node in tree.find_all(nodes.Node):
        problem = _node_problem(node, known)
        if problem:
            return f"{problem} (line {node.lineno}); {_AVAILABLE} and plain filters"
    return None


def _node_problem(node: nodes.Node, known: set[str]) -> str | None:
    if isinstance(node, nodes.Name):
        if node.ctx == "load" and node.name not in known and node.name != "loop":
            return f"uses an unknown name {node.name!r}"
        return None
    if isinstance(node, nodes.Getattr):
        plain = isinstance(node.node, nodes.Name) and node.node.name == "loop" and node.attr in LOOP_FIELDS
        return None if plain else f"may not read attributes ('.{node.attr}')"
    if isinstance(node, nodes.Getitem):
        return None if _plain_index(node.arg) else "may index only with whole numbers or slices"
    if isinstance(node, nodes.Call):
        plain = (isinstance(node.node, nodes.Name) and node.node.name == "env_var" and not node.kwargs
                 and node.dyn_args is None and node.dyn_kwargs is None
                 and 1 <= len(node.args) <= 2 and all(_is_text(arg) for arg in node.args))
        return None if plain else "may call only env_var('NAME') or env_var('NAME', 'default')"
    if isinstance(node, nodes.Filter):
        if node.name not in FILTERS:
            return f"may not use the filter {node.name!r} (allowed: {', '.join(FILTERS)})"
        return None
    if isinstance(node, nodes.Keyword) and node.key == "attribute":
        return "may not read attributes (attribute=)"
    if not isinstance(node, _PLAIN):
        kind = type(node).__name__
        return f"may not use {{% {kind.lower()} %}}" if isinstance(node, nodes.Stmt) else f"may not use {kind}"
    return None


def _is_text(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Const) and isinstance(node.value, str)


def _plain_index(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Slice):
        return all(part is None or _plain_index(part) for part in (node.start, node.stop, node.step))
    if isinstance(node, nodes.Neg):
        return _plain_index(node.node)
    return isinstance(node, nodes.Const) and type(node.value) is int
