"""Telegram through the Bot API `sendMessage` (spec §9.2)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, ClassVar

from detectkit_dagster.channels.message import AlertMessage
from detectkit_dagster.channels.params import TIMEOUTS, Param, not_empty, url_param
from detectkit_dagster.channels.render import (
    cap, error_detail, event_footer, mentions_telegram, plain_body, render,
)
from detectkit_dagster.channels.transport import DEFAULT_TIMEOUT, post_json, rendering

API_URL = "https://api.telegram.org"
MAX_CHARS = 4096
PARSE_MODES = ("HTML", "Markdown", None)
_MARKDOWN_SPECIALS = "_*`["


def _id_text(value: Any) -> str | None:
    return None if str(value).lstrip("-@").replace("_", "").isalnum() else "must be a chat id or @channelname"


PARAMS = {
    "bot_token": Param((str,), required=True, secret=True, check=not_empty),
    "chat_id": Param((str, int), required=True, check=_id_text),
    "parse_mode": Param((str,), default="HTML", choices=PARSE_MODES),
    "disable_notification": Param((bool,), default=False),
    "template": Param((str,)),
    "api_url": url_param(default=API_URL),
    **TIMEOUTS,
}


def code(value: Any) -> str:
    return f"<code>{html.escape(str(value))}</code>"


def fit(text: str, limit: int = MAX_CHARS) -> str:
    """Telegram's size limit, cut back to a whole line when possible."""
    if len(text) <= limit:
        return text
    head = text[: limit - 2]
    cut = head.rfind("\n")
    return (head[:cut] if cut > 0 else head) + "\n\u2026"


def escape_markdown(text: str) -> str:
    """Legacy Markdown: a lone `_` in a metric name would otherwise break the whole message."""
    for ch in _MARKDOWN_SPECIALS:
        text = text.replace(ch, "\\" + ch)
    return text


def rich_html(message: AlertMessage, mentions: str) -> str:
    """The default HTML message: title, lead, facts, links, mentions."""
    c = message.context(mentions)
    e = html.escape
    project = f"[{e(message.project)}] " if message.project else ""
    lines = [f"{message.status.emoji} <b>{project}{e(message.status.word)} \u00b7 {e(message.metric)}</b>"]
    if message.description:
        lines.append(f"<i>{e(cap(message.description, 500))}</i>")
    lines.append("")
    kind, t = message.kind, code(c["timestamp"])
    if kind in ("anomaly", "recovery"):
        lines += [e(c["anomaly_lead" if kind == "anomaly" else "recovery_lead"]),
                  f"<b>Rule</b> {code(c['rule_display'])}", "",
                  f"\u2022 Value: {code(c['value_display'])} \u00b7 Expected: {code(c['expected_range'])}"]
        if kind == "anomaly":
            lines += [f"\u2022 Quorum: {code(c['quorum_display'])}", f"\u2022 Severity: {code(format(message.severity, '.2f'))}"]
        last = "Latest" if kind == "anomaly" else "Cleared"
        if message.onset is not None:
            lines.append(f"\u2022 Started: {code(c['started_display'])} \u00b7 {last}: {t}")
        else:
            lines.append(f"\u2022 {'Time' if kind == 'anomaly' else 'Cleared'}: {t}")
        lines.append(f"\u2022 Detector: {code(c['detector_name'])}")
        if kind == "anomaly" and message.detector_params:
            lines.append(f"\u2022 Parameters: {code(cap(message.detector_params, 900))}")
    elif kind == "no_data":
        lines += ["Query returned no datapoint for the latest expected interval.", "", f"\u2022 Expected at: {t}"]
    else:
        lines += ["The detectkit pipeline failed for this metric.", "", f"\u2022 Time: {t}"]
        if error_detail(message):
            lines.append(f"\u2022 Error: {code(error_detail(message))}")
    links = message.link_list("Open dashboard")
    if links:
        lines += ["", " \u00b7 ".join(f'<a href="{e(url, quote=True)}">{e(label)}</a>' for label, url in links)]
    if mentions:
        lines += ["", mentions]
    return "\n".join(lines)


@dataclass(frozen=True)
class TelegramChannel:
    name: str
    bot_token: str = field(repr=False)
    chat_id: str | int
    parse_mode: str | None = "HTML"
    disable_notification: bool = False
    template: str | None = None
    api_url: str = API_URL
    timeout: float = DEFAULT_TIMEOUT

    type: ClassVar[str] = "telegram"
    PARAMS: ClassVar[dict[str, Param]] = PARAMS

    def text(self, message: AlertMessage) -> str:
        html_mode = self.parse_mode == "HTML"
        mentions = mentions_telegram(message.mentions, html_mode)
        context = message.context(mentions)
        template = message.template if message.template is not None else self.template

        def default() -> str:
            if html_mode:
                return rich_html(message, mentions)
            body = plain_body(message, context)
            return escape_markdown(body) if self.parse_mode == "Markdown" else body

        # A template is sent verbatim under the parse mode: it must be valid markup itself.
        body = render(template, context, default)
        footer = "\n\n" + self.footer(message)
        return fit(body, MAX_CHARS - len(footer)) + footer

    def footer(self, message: AlertMessage) -> str:
        if self.parse_mode == "HTML":
            return f"<i>{html.escape(event_footer(message))}</i>"
        return escape_markdown(event_footer(message)) if self.parse_mode == "Markdown" else event_footer(message)

    def payload(self, message: AlertMessage) -> dict[str, Any]:
        body = {"chat_id": self.chat_id, "text": self.text(message),
                "disable_notification": self.disable_notification, "disable_web_page_preview": True}
        if self.parse_mode:
            body["parse_mode"] = self.parse_mode
        return body

    def send(self, message: AlertMessage) -> None:
        url = f"{self.api_url.rstrip('/')}/bot{self.bot_token}/sendMessage"
        with rendering(f"telegram channel {self.name!r}"):
            payload = self.payload(message)
        post_json(url, payload, channel=f"telegram channel {self.name!r}", timeout=self.timeout,
                  headers={"X-Detectkit-Event-Id": message.event_id}, secrets=[self.bot_token])
