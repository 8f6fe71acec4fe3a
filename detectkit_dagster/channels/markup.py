"""One renderer per markup a channel speaks, so that a value from data or errors always shows
as text: never a link, a mention, a code span closed early or a tag.

Every channel writes the values it shows through its markup: running text, inline code, a
preformatted block, and links built from configured URLs. A custom template is written in the
channel's markup; the values filled into it are escaped the same way (`Markup.context`).
Mentions come pre-formatted by the channel (`<!here>`, `<a href="tg://...">`) and stay markup.
Email HTML is a Jinja template with autoescaping (`email.html`).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

Escape = Callable[[str], str]
MARKUP_KEYS = frozenset({"mentions", "mentions_line"})  # already formatted for the channel
_GRAVE = "\u02cb"  # looks like a backtick, but cannot end a code span
_WORD_JOINER = "\u2060"
_ZERO_WIDTH_SPACE = "\u200b"


@dataclass(frozen=True)
class Markup:
    name: str
    text: Escape                       # running text
    code: Escape                       # an inline code span holding the value literally
    block: Escape                      # a preformatted block
    link: Callable[[str, str], str]    # (label, URL from the config)

    def context(self, context: Mapping[str, Any]) -> dict[str, Any]:
        """Template variables with every text value escaped; numbers stay numbers, so format
        specs such as `{value:.2f}` keep working (their output cannot hold markup)."""
        return {key: self.text(value) if isinstance(value, str) and key not in MARKUP_KEYS else value
                for key, value in context.items()}


def _plain_code(value: str) -> str:
    return " ".join(value.split())


# -- Slack mrkdwn: &, < and > are the only escapes; `<...>` is how links and mentions are written.

def _slack_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_code(value: str) -> str:
    return f"`{_slack_text(_plain_code(value)).replace('`', _GRAVE)}`"


def _slack_block(value: str) -> str:
    return f"```{_slack_text(value).replace('`', _GRAVE)}```"


def _slack_link(label: str, url: str) -> str:
    return f"<{_slack_text(url).replace('|', '%7C')}|{_slack_text(label)}>"


# -- Markdown (Mattermost, Discord): backslash before every character that starts markup;
# a word joiner after '@' keeps @channel, @here and @all from notifying anyone.

_MARKDOWN_SPECIALS = re.compile(r"([\\`*_~\[\]<>#|&])")


def _markdown_text(value: str) -> str:
    return _MARKDOWN_SPECIALS.sub(r"\\\1", value).replace("@", "@" + _WORD_JOINER)


def _markdown_code(value: str) -> str:
    return f"`{_plain_code(value).replace('`', _GRAVE)}`"


def _markdown_block(value: str) -> str:
    return f"```{value.replace('`', _GRAVE)}```"


def _markdown_link(label: str, url: str) -> str:
    return f"[{_markdown_text(label)}]({url.replace('(', '%28').replace(')', '%29')})"


# -- Teams: Adaptive Card text is Markdown, but mobile clients ignore backslash escapes: a
# zero-width space after ']' breaks every link form ([a](b), [a][b], [b]: url) on all of them.

def _teams_text(value: str) -> str:
    return value.replace("]", "]" + _ZERO_WIDTH_SPACE)


# -- Telegram: HTML mode, and the legacy Markdown mode.

def _html_text(value: str) -> str:
    return html.escape(value, quote=False)


def _html_link(label: str, url: str) -> str:
    return f'<a href="{html.escape(url, quote=True)}">{html.escape(label)}</a>'


_LEGACY_MARKDOWN = re.compile(r"([_*`\[])")


def _legacy_markdown_text(value: str) -> str:
    return _LEGACY_MARKDOWN.sub(r"\\\1", value)


def _identity(value: str) -> str:
    return value


PLAIN = Markup("plain", _identity, _identity, _identity, lambda label, url: f"{label}: {url}")
SLACK = Markup("slack", _slack_text, _slack_code, _slack_block, _slack_link)
MARKDOWN = Markup("markdown", _markdown_text, _markdown_code, _markdown_block, _markdown_link)
TEAMS = Markup("teams", _teams_text, _teams_text, _teams_text, lambda label, url: f"[{_teams_text(label)}]({url})")
TELEGRAM_HTML = Markup("telegram_html", _html_text, lambda v: f"<code>{_html_text(v)}</code>",
                       lambda v: f"<pre>{_html_text(v)}</pre>", _html_link)
TELEGRAM_MARKDOWN = Markup("telegram_markdown", _legacy_markdown_text,
                           lambda v: f"`{_plain_code(v).replace('`', _GRAVE)}`",
                           lambda v: f"```{v.replace('`', _GRAVE)}```",
                           lambda label, url: f"[{_legacy_markdown_text(label).replace(']', '')}]({url})")
HTML = Markup("html", _html_text, lambda v: f"<code>{_html_text(v)}</code>", lambda v: f"<pre>{_html_text(v)}</pre>",
              _html_link)
