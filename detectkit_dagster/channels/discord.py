"""Discord through an incoming webhook: one embed (spec §14.1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from detectkit_dagster.channels.facts import facts, lead
from detectkit_dagster.channels.markup import MARKDOWN
from detectkit_dagster.channels.message import AlertMessage
from detectkit_dagster.channels.params import TIMEOUTS, Param, not_empty, url_param
from detectkit_dagster.channels.render import cap, event_footer, mentions_discord, plain_body, render
from detectkit_dagster.channels.transport import DEFAULT_TIMEOUT, post_json, rendering
from detectkit_dagster.channels.webhook import iso_utc

PARAMS = {
    "webhook_url": url_param(required=True, secret=True),
    "username": Param((str,), check=not_empty),
    "avatar_url": url_param(),
    **TIMEOUTS,
}
# Discord's limits, in characters.
TITLE, DESCRIPTION, FIELD, TOTAL, CONTENT, PARAMETERS = 256, 4096, 1024, 6000, 2000, 900
_WIDE = {"Detectors", "Rule", "Error", "Parameters", "Links"}


def _size(embed: dict[str, Any]) -> int:
    return (len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
            + sum(len(f["name"]) + len(f["value"]) for f in embed["fields"]))


@dataclass(frozen=True)
class DiscordChannel:
    name: str
    webhook_url: str = field(repr=False)
    username: str | None = None
    avatar_url: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    type: ClassVar[str] = "discord"
    PARAMS: ClassVar[dict[str, Param]] = PARAMS

    def embed(self, message: AlertMessage, context: dict[str, Any]) -> dict[str, Any]:
        m, fields = MARKDOWN, []
        if message.template is not None:  # a custom body replaces lead and facts
            values = m.context(context)
            description = render(message.template, values, lambda: plain_body(message, values, with_title=False))
        else:
            description = m.text(lead(message, context))
            rows = [(label, m.text(value)) for label, value in facts(message, context)]
            if message.kind == "anomaly" and message.detector_params:
                rows.append(("Parameters", m.block(cap(message.detector_params, PARAMETERS))))
            links = " \u00b7 ".join(m.link(label, url) for label, url in message.link_list())
            rows += [("Links", links)] if links else []
            fields = [{"name": n, "value": cap(v, FIELD), "inline": n not in _WIDE} for n, v in rows]
        footer = " \u00b7 ".join(filter(None, [self.username or "detectkit", message.project, event_footer(message)]))
        embed = {"title": cap(message.title, TITLE), "description": cap(description, DESCRIPTION),
                 "color": message.status.color_int, "fields": fields, "footer": {"text": footer},
                 "timestamp": iso_utc(message.timestamp)}
        if message.dashboard_url:
            embed["url"] = message.dashboard_url
        while _size(embed) > TOTAL and embed["fields"]:
            embed["fields"].pop()
        return embed

    def payload(self, message: AlertMessage) -> dict[str, Any]:
        mentions, allowed = mentions_discord(message.mentions)
        body: dict[str, Any] = {}
        if self.username:
            body["username"] = self.username
        if self.avatar_url:
            body["avatar_url"] = self.avatar_url
        if mentions:
            body["content"] = cap(mentions, CONTENT)
        body["allowed_mentions"] = allowed  # nothing in the text pings unless configured
        body["embeds"] = [self.embed(message, message.context(mentions))]
        return body

    def send(self, message: AlertMessage) -> None:
        with rendering(f"discord channel {self.name!r}"):
            payload = self.payload(message)
        post_json(self.webhook_url, payload, channel=f"discord channel {self.name!r}",
                  timeout=self.timeout, headers={"X-Detectkit-Event-Id": message.event_id})
