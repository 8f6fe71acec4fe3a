"""Text rendering shared by the channels: the safe template formatter, the default plain bodies
(spec §8.4) and mention formatting per platform (spec §8.5, §14.1).

Custom templates are `str.format`-style strings, but only `{name}` and `{name:spec}` are
allowed. Attribute access, indexing, positional fields, conversions (`!r`) and nested specs are
refused with TemplateError. TemplateError is a ValueError, so, like an unknown variable or a bad
format spec (spec §8.3), it makes the channel fall back to its default body: a refused field is
never evaluated and never printed.
"""

from __future__ import annotations

import re
import string
from html import escape as escape_html
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

from detectkit_dagster.channels.message import AlertMessage
from detectkit_dagster.errors import TemplateError

_PARSER = string.Formatter()
TEMPLATE_VARIABLES = tuple(AlertMessage("anomaly", "", "", datetime(2000, 1, 1)).context())
_HUGE_WIDTH = re.compile(r"\d{4,}")  # `{value:>999999999}` would allocate a gigabyte


def _refused(field: str, spec: str | None, conversion: str | None) -> bool:
    spec = spec or ""
    return not field.isidentifier() or bool(conversion) or "{" in spec or bool(_HUGE_WIDTH.search(spec))


def safe_format(template: str, context: Mapping[str, Any]) -> str:
    """Fill `{name}` / `{name:spec}` fields from `context`.

    Raises KeyError (unknown name), ValueError (unbalanced brace, bad spec for the value,
    TemplateError for a refused field form) or TypeError.
    """
    out = []
    for literal, field, spec, conversion in _PARSER.parse(template):
        out.append(literal)
        if field is None:
            continue
        if _refused(field, spec, conversion):
            raise TemplateError(f"template field {{{field}}} is not allowed; use {{name}} or {{name:format}}")
        out.append(format(context[field], spec or ""))
    return "".join(out)


def check_template(template: str, names: Sequence[str] | None = None) -> str | None:
    """Why a template can never render (a refused field form or an unknown name), or None.

    `names` defaults to every alert template variable, for checking alert templates at load.
    """
    names = TEMPLATE_VARIABLES if names is None else names
    try:
        for _, field, spec, conversion in _PARSER.parse(template):
            if field is None:
                continue
            if _refused(field, spec, conversion):
                return f"field {{{field}}} is not allowed; use {{name}} or {{name:format}}"
            if field not in names:
                return f"unknown variable {{{field}}}"
    except ValueError as exc:
        return str(exc)
    return None


def render(template: str | None, context: Mapping[str, Any], default: Callable[[], str]) -> str:
    """The template filled from `context`, or the default body when there is none or it fails."""
    if template is None:
        return default()
    try:
        return safe_format(template, context)
    except (KeyError, ValueError, TypeError):
        return default()


# -- default plain bodies (spec §8.4) ----------------------------------------------------------


def plain_body(message: AlertMessage, context: Mapping[str, Any], *, with_title: bool = True) -> str:
    """The default plain-text body of the message's kind; the webhook family drops the title line."""
    c = context
    tail = f"{c['dashboard_line']}{c['help_line']}{c['mentions_line']}"
    rule = f"Rule: {c['rule_display']}\n\nValue: {c['value_display']} | Expected: {c['expected_range']}\n"
    kind = message.kind
    # Event rows carry no detector parameters: the line is left out rather than shown empty.
    params = f"Parameters: {c['detector_params']}\n" if c["detector_params"] else ""
    if kind == "anomaly":
        body = (f"{c['description_line']}{c['anomaly_lead']}\n{rule}"
                f"Quorum: {c['quorum_display']}\n"
                f"Severity: {message.severity:.2f}\n"
                f"{c['window_line']}Detectors: {c['detector_name']}\n{params}{tail}")
        title = f"\U0001F534 {c['project_name_prefix']}Alert: {c['metric_name']}"
    elif kind == "recovery":
        body = (f"{c['description_line']}{c['recovery_lead']}\n{rule}"
                f"{c['window_line']}Detectors: {c['detector_name']}\n{tail}")
        title = f"\U0001F7E2 {c['project_name_prefix']}Alert cleared: {c['metric_name']}"
    elif kind == "no_data":
        body = (f"{c['description_line']}Time: {c['timestamp']}\n"
                f"Status: query returned no datapoint for the latest interval\n{tail}")
        title = f"\U0001F7E1 {c['project_name_prefix']}No data for metric: {c['metric_name']}"
    else:
        body = (f"{c['description_line']}Time: {c['timestamp']}\n"
                f"Error: {c['error_type']}: {c['error_message']}\n{tail}")
        title = f"\U0001F535 {c['project_name_prefix']}Pipeline failed for metric: {c['metric_name']}"
    return f"{title}\n{body}" if with_title else body


def message_text(message: AlertMessage, mentions: str | None = None, *, with_title: bool = True,
                 template: str | None = None) -> str:
    """The message's custom template (or `template`) rendered, else its default plain body."""
    context = message.context(mentions)
    chosen = message.template if message.template is not None else template
    return render(chosen, context, lambda: plain_body(message, context, with_title=with_title))


def event_footer(message: AlertMessage) -> str:
    """One short line that lets a reader (or a script) match duplicates."""
    return f"event_id: {message.event_id}"


def cap(text: str, limit: int) -> str:
    """At most `limit` characters, marking a cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def error_detail(message: AlertMessage) -> str:
    """`Type: message` with stray separators stripped (empty when both are empty)."""
    return f"{message.error_type or ''}: {message.error_message or ''}".strip(": ")


# -- mentions (spec §8.5, §14.1) ---------------------------------------------------------------

BROADCAST = {"channel", "here", "all", "everyone"}


def mentions_plain(names: Sequence[str]) -> str:
    """Base channels, Mattermost, Teams, ntfy: `@name`."""
    return " ".join(f"@{name}" for name in names)


def _slack_one(name: str) -> str:
    if name in ("channel", "here", "everyone"):
        return f"<!{name}>"
    if name == "all":
        return "<!everyone>"
    if name.startswith("U") and len(name) >= 9 and name[1:].isalnum():
        return f"<@{name}>"  # a Slack user id; any other name is display-only
    return f"@{name}"


def mentions_slack(names: Sequence[str]) -> str:
    return " ".join(_slack_one(name) for name in names)


def mentions_telegram(names: Sequence[str], html: bool) -> str:
    """A numeric id pings as a `tg://user` link, which only HTML mode can carry."""
    return " ".join(
        f'<a href="tg://user?id={name}">{name}</a>' if html and name.isdigit() and name not in BROADCAST
        else f"@{escape_html(name, quote=False) if html else name}"
        for name in names
    )


def mentions_email(names: Sequence[str]) -> str:
    people = [name for name in names if name not in ("channel", "all", "here")]
    return f"CC: {', '.join(people)}" if people else ""


def mentions_discord(names: Sequence[str]) -> tuple[str, dict[str, list[str]]]:
    """Content text and `allowed_mentions` so that only the configured mentions ping."""
    parts, parse, users, roles = [], [], [], []
    for name in names:
        if name in ("all", "everyone", "channel", "here"):
            parts.append("@here" if name == "here" else "@everyone")
            parse = ["everyone"]
        elif re.fullmatch(r"<@!?\d+>", name):
            parts.append(name)
            users.append(re.sub(r"\D", "", name))
        elif re.fullmatch(r"<@&\d+>", name):
            parts.append(name)
            roles.append(name[3:-1])
        else:
            parts.append(f"@{name}")
    allowed = {"parse": parse} | ({"users": users} if users else {}) | ({"roles": roles} if roles else {})
    return " ".join(parts), allowed


def mentions_googlechat(names: Sequence[str]) -> str:
    """Broadcast words ping everyone in the space; a numeric id pings that user."""
    out = []
    for name in names:
        if name in BROADCAST:
            out.append("<users/all>")
        elif name.isdigit():
            out.append(f"<users/{name}>")
        else:
            out.append(f"@{name}")
    return " ".join(dict.fromkeys(out))  # `here` and `all` would otherwise ping twice
