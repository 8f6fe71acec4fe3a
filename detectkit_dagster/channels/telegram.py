"""Telegram through the Bot API `sendMessage` (spec §9.2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from detectkit_dagster.channels.markup import PLAIN, TELEGRAM_HTML, TELEGRAM_MARKDOWN, Markup
from detectkit_dagster.channels.message import AlertMessage
from detectkit_dagster.channels.params import TIMEOUTS, Param, message_template, not_empty, url_param
from detectkit_dagster.channels.render import (
    cap, error_detail, event_footer, mentions_telegram, plain_body, render,
)
from detectkit_dagster.channels.transport import DEFAULT_TIMEOUT, post_json, rendering

API_URL = "https://api.telegram.org"
MAX_CHARS = 4096
PARSE_MODES = ("HTML", "Markdown", None)
MARKUPS: dict[str | None, Markup] = {"HTML": TELEGRAM_HTML, "Markdown": TELEGRAM_MARKDOWN, None: PLAIN}


def _id_text(value: Any) -> str | None:
    return None if str(value).lstrip("-@").replace("_", "").isalnum() else "must be a chat id or @channelname"


PARAMS = {
    "bot_token": Param((str,), required=True, secret=True, check=not_empty),
    "chat_id": Param((str, int), required=True, check=_id_text),
    "parse_mode": Param((str,), default="HTML", choices=PARSE_MODES),
    "disable_notification": Param((bool,), default=False),
    "template": Param((str,), check=message_template),
    "api_url": url_param(default=API_URL),
    **TIMEOUTS,
}


def fit(text: str, limit: int = MAX_CHARS) -> str:
    """Telegram's size limit, cut back to a whole line when possible."""
    if len(text) <= limit:
        return text
    head = text[: limit - 2]
    cut = head.rfind("\n")
    return (head[:cut] if cut > 0 else head) + "\n\u2026"


def rich_html(message: AlertMessage, mentions: str) -> str:
    """The default HTML message: title, lead, facts, links, mentions."""
    c = message.context(mentions)
    m = TELEGRAM_HTML
    lines = [f"{message.status.emoji} <b>{m.text(message.project_prefix)}{m.text(message.status.word)} \u00b7 "
             f"{m.text(message.metric)}</b>"]
    if message.description:
        lines.append(f"<i>{m.text(cap(message.description, 500))}</i>")
    lines.append("")
    kind, t = message.kind, m.code(c["timestamp"])
    if kind in ("anomaly", "recovery"):
        lines += [m.text(c["anomaly_lead" if kind == "anomaly" else "recovery_lead"]),
                  f"<b>Rule</b> {m.code(c['rule_display'])}", "",
                  f"\u2022 Value: {m.code(c['value_display'])} \u00b7 Expected: {m.code(c['expected_range'])}"]
        if kind == "anomaly":
            lines += [f"\u2022 Quorum: {m.code(c['quorum_display'])}", f"\u2022 Severity: {m.code(format(message.severity, '.2f'))}"]
        last = "Latest" if kind == "anomaly" else "Cleared"
        if message.onset is not None:
            lines.append(f"\u2022 Started: {m.code(c['started_display'])} \u00b7 {last}: {t}")
        else:
            lines.append(f"\u2022 {'Time' if kind == 'anomaly' else 'Cleared'}: {t}")
        lines.append(f"\u2022 Detector: {m.code(c['detector_name'])}")
        if kind == "anomaly" and message.detector_params:
            lines.append(f"\u2022 Parameters: {m.code(cap(message.detector_params, 900))}")
    elif kind == "no_data":
        lines += ["Query returned no datapoint for the latest expected interval.", "", f"\u2022 Expected at: {t}"]
    else:
        lines += ["The detectkit pipeline failed for this metric.", "", f"\u2022 Time: {t}"]
        if error_detail(message):
            lines.append(f"\u2022 Error: {m.code(error_detail(message))}")
    links = message.link_list("Open dashboard")
    if links:
        lines += ["", " \u00b7 ".join(m.link(label, url) for label, url in links)]
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

    @property
    def markup(self) -> Markup:
        return MARKUPS[self.parse_mode]

    def text(self, message: AlertMessage) -> str:
        html_mode = self.parse_mode == "HTML"
        mentions = mentions_telegram(message.mentions, html_mode)
        context = message.context(mentions)
        template = message.template if message.template is not None else self.template

        def default() -> str:
            if html_mode:
                return rich_html(message, mentions)
            return self.markup.text(plain_body(message, context))  # no markup of its own: escape it all

        # A custom template is markup under the parse mode; the values filled in are escaped for it.
        body = render(template, self.markup.context(context), default)
        if message.test and template is not None:
            body = f"TEST ALERT \u00b7 {body}"  # a custom template has no title to carry the mark
        footer = "\n\n" + self.footer(message)
        return fit(body, MAX_CHARS - len(footer)) + footer

    def footer(self, message: AlertMessage) -> str:
        text = self.markup.text(event_footer(message))
        return f"<i>{text}</i>" if self.parse_mode == "HTML" else text

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
                  headers={"X-Detectkit-Event-Id": message.event_id})
