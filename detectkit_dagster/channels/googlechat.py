"""Google Chat through an incoming webhook: one Cards v2 card (spec §14.1).

Google's API rejects unknown JSON fields, so the event id travels as the `cardId` and in a
footer line rather than as a top-level field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from detectkit_dagster.channels.facts import facts, lead
from detectkit_dagster.channels.markup import HTML
from detectkit_dagster.channels.message import AlertMessage
from detectkit_dagster.channels.params import TIMEOUTS, Param, url_param
from detectkit_dagster.channels.render import cap, event_footer, mentions_googlechat, plain_body, render
from detectkit_dagster.channels.transport import DEFAULT_TIMEOUT, post_json, rendering

PARAMS = {"webhook_url": url_param(required=True, secret=True), "icon_url": url_param(), **TIMEOUTS}


def _paragraph(text: str) -> dict[str, Any]:
    return {"textParagraph": {"text": text}}


def card(message: AlertMessage, context: dict[str, Any], icon_url: str | None) -> dict[str, Any]:
    e = HTML.text  # card text is a small HTML subset
    header: dict[str, Any] = {"title": message.title}
    if message.description:
        header["subtitle"] = cap(message.description, 200)
    if icon_url:
        header |= {"imageUrl": icon_url, "imageType": "CIRCLE"}
    if message.template is not None:  # a custom body replaces lead and facts
        values = HTML.context(context)
        text = render(message.template, values, lambda: plain_body(message, values, with_title=False))
        widgets = [_paragraph(text.replace("\n", "<br>"))]
    else:
        rows = facts(message, context)
        if message.kind == "anomaly" and message.detector_params:
            rows.append(("Parameters", message.detector_params))
        widgets = [_paragraph(e(lead(message, context)))]
        widgets += [{"decoratedText": {"topLabel": label, "text": e(value), "wrapText": True}} for label, value in rows]
    sections = [{"widgets": widgets}]
    links = message.link_list("Open dashboard")
    if links:
        buttons = [{"text": label, "onClick": {"openLink": {"url": url}}} for label, url in links]
        sections.append({"widgets": [{"buttonList": {"buttons": buttons}}]})
    footer = " \u00b7 ".join(filter(None, ["detectkit", message.project, event_footer(message)]))
    sections.append({"widgets": [_paragraph(f'<font color="#80868b">{e(footer)}</font>')]})
    return {"header": header, "sections": sections}


@dataclass(frozen=True)
class GoogleChatChannel:
    name: str
    webhook_url: str = field(repr=False)
    icon_url: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    type: ClassVar[str] = "googlechat"
    PARAMS: ClassVar[dict[str, Param]] = PARAMS

    def payload(self, message: AlertMessage) -> dict[str, Any]:
        mentions = mentions_googlechat(message.mentions)
        body: dict[str, Any] = {"text": mentions} if mentions else {}
        body["cardsV2"] = [{"cardId": f"detectkit-{message.event_id}",
                            "card": card(message, message.context(mentions), self.icon_url)}]
        return body

    def send(self, message: AlertMessage) -> None:
        with rendering(f"googlechat channel {self.name!r}"):
            payload = self.payload(message)
        post_json(self.webhook_url, payload, channel=f"googlechat channel {self.name!r}",
                  timeout=self.timeout, headers={"X-Detectkit-Event-Id": message.event_id})
