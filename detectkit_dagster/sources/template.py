"""Render a metric's SQL template for one time range (detectkit's Jinja2 contract)."""

from __future__ import annotations

import os
from datetime import datetime

import jinja2

from ..errors import TemplateError

_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def _env_var(name: str, default: str | None = None) -> str:
    if name in os.environ:
        return os.environ[name]
    if default is not None:
        return default
    raise TemplateError(f"environment variable {name} is not set")


_ENV = jinja2.Environment(
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)
_ENV.globals["env_var"] = _env_var


def check_template(sql: str) -> None:
    """Fail early on a syntax error, with the line number."""
    try:
        _ENV.parse(sql)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"invalid query template syntax at line {exc.lineno}: {exc.message}") from None


def render_query(sql: str, start: datetime, end: datetime, interval_seconds: int) -> str:
    """Variables: dtk_start_time (inclusive), dtk_end_time (exclusive), interval_seconds."""
    try:
        return _ENV.from_string(sql).render(
            dtk_start_time=start.strftime(_TIME_FORMAT),
            dtk_end_time=end.strftime(_TIME_FORMAT),
            interval_seconds=interval_seconds,
        )
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"invalid query template syntax at line {exc.lineno}: {exc.message}") from None
    except jinja2.UndefinedError as exc:
        raise TemplateError(
            f"query template uses an unknown variable ({exc.message}); "
            "available: dtk_start_time, dtk_end_time, interval_seconds, env_var('NAME')"
        ) from None
