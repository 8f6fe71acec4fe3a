"""Microsoft Teams through a Power Automate "Workflows" webhook: one Adaptive Card (spec §14.1).

Teams cannot ping from a webhook: mentions are plain text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from detectkit_dagster.channels.facts import facts, lead
from detectkit_dagster.channels.markup import TEAMS
from detectkit_dagster.channels.message import AlertMessage
from detectkit_dagster.channels.params import TIMEOUTS, Param, url_param
from detectkit_dagster.channels.render import event_footer, mentions_plain, plain_body, render
from detectkit_dagster.channels.transport import DEFAULT_TIMEOUT, post_json, rendering

PARAMS = {"webhook_url": url_param(required=True, secret=True), **TIMEOUTS}
COLORS = {"anomaly": "Attention", "recovery": "Good", "no_data": "Warning", "error": "Accent"}


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def adaptive_card(message: AlertMessage) -> dict[str, Any]:
    m, mentions = TEAMS, mentions_plain(message.mentions)
    context = message.context(mentions)
    body = [_text(message.title, weight="Bolder", size="Medium", color=COLORS[message.kind])]
    if message.template is not None:  # a custom body replaces lead and facts
        values = m.context(context)
        body.append(_text(render(message.template, values, lambda: plain_body(message, values, with_title=False))))
    else:
        if message.description:
            body.append(_text(m.text(message.description), isSubtle=True))
        body.append(_text(m.text(lead(message, context))))
        rows = facts(message, context)
        if message.kind == "anomaly" and message.detector_params:
            rows.append(("Parameters", message.detector_params))
        body.append({"type": "FactSet", "facts": [{"title": t, "value": m.text(v)} for t, v in rows]})
    if mentions:
        body.append(_text(m.text(mentions)))
    footer = " \u00b7 ".join(filter(None, ["detectkit", message.project, event_footer(message)]))
    body.append(_text(footer, isSubtle=True, size="Small"))
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    }
    actions = [{"type": "Action.OpenUrl", "title": label, "url": url}
               for label, url in message.link_list("Open dashboard")]
    if actions:
        card["actions"] = actions
    return card


@dataclass(frozen=True)
class TeamsChannel:
    name: str
    webhook_url: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT

    type: ClassVar[str] = "teams"
    PARAMS: ClassVar[dict[str, Param]] = PARAMS

    def payload(self, message: AlertMessage) -> dict[str, Any]:
        attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                      "content": adaptive_card(message)}
        return {"type": "message", "attachments": [attachment]}

    def send(self, message: AlertMessage) -> None:
        with rendering(f"teams channel {self.name!r}"):
            payload = self.payload(message)
        post_json(self.webhook_url, payload, channel=f"teams channel {self.name!r}",
                  timeout=self.timeout, headers={"X-Detectkit-Event-Id": message.event_id})
