"""The webhook family: `webhook`, `slack`, `mattermost` (spec §9.1, §14.2).

All three post a Slack-style attachment. The generic `webhook` can instead post a structured
JSON event (`format: json`) or an Alertmanager receiver payload (`format: alertmanager`), add
headers, and sign the body (`secret`). Every payload carries `event_id` at the top level.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Mapping

from detectkit_dagster.channels.markup import MARKDOWN, PLAIN, SLACK, Markup
from detectkit_dagster.channels.message import AlertMessage
from detectkit_dagster.channels.params import TIMEOUTS, Param, headers_map, message_template, not_empty, url_param
from detectkit_dagster.channels.render import (
    error_detail, mentions_plain, mentions_slack, plain_body, render,
)
from detectkit_dagster.channels.transport import DEFAULT_TIMEOUT, json_body, post, rendering, signature

DEFAULT_ICON = "https://dtk.pipelab.dev/bot-icon.png"
FORMATS = ("attachments", "json", "alertmanager")
_NO_END = "0001-01-01T00:00:00Z"  # Alertmanager's "still firing"

COMMON_PARAMS = {
    "webhook_url": url_param(required=True, secret=True),
    "username": Param((str,), default="detectkit", check=not_empty),
    "icon_url": url_param(),
    "icon_emoji": Param((str,)),
    "channel": Param((str,)),
    **TIMEOUTS,
}
WEBHOOK_PARAMS = COMMON_PARAMS | {
    "extra_headers": Param((dict,), default={}, secret=True, check=headers_map),
    "template": Param((str,), check=message_template),
    "format": Param((str,), default="attachments", choices=FORMATS),
    "secret": Param((str,), secret=True, check=not_empty),
}


def iso_utc(moment: datetime | None) -> str | None:
    return None if moment is None else moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: they travel as null."""
    return value if value is not None and math.isfinite(value) else None


@dataclass(frozen=True)
class WebhookChannel:
    name: str
    webhook_url: str = field(repr=False)  # the token is in the URL
    type: str = "webhook"                      # webhook / slack / mattermost
    username: str = "detectkit"
    icon_url: str | None = None
    icon_emoji: str | None = None
    channel: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    extra_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    template: str | None = None
    format: str = "attachments"
    secret: str | None = field(default=None, repr=False)

    PARAMS: ClassVar[dict[str, Param]] = WEBHOOK_PARAMS

    def __post_init__(self) -> None:
        if not self.icon_url and not self.icon_emoji:
            object.__setattr__(self, "icon_url", DEFAULT_ICON)

    @property
    def slack_syntax(self) -> bool:
        # As in detectkit, the markup follows the URL, not the channel type.
        return "hooks.slack.com" in self.webhook_url

    @property
    def markup(self) -> Markup:
        return SLACK if self.slack_syntax else MARKDOWN

    def mentions(self, message: AlertMessage) -> str:
        return (mentions_slack if self.type == "slack" else mentions_plain)(message.mentions)

    def bold(self, text: str) -> str:
        return f"*{text}*" if self.slack_syntax else f"**{text}**"

    # -- payloads ------------------------------------------------------------------------

    def payload(self, message: AlertMessage) -> dict[str, Any]:
        if self.format == "json":
            return json_event(message)
        if self.format == "alertmanager":
            return alertmanager_payload(message, receiver=self.name)
        return self.attachments_payload(message)

    def attachments_payload(self, message: AlertMessage) -> dict[str, Any]:
        mentions = self.mentions(message)
        context = message.context(mentions)
        body: dict[str, Any] = {"username": self.username, "attachments": [self.attachment(message, context)]}
        if mentions:
            body["text"] = mentions
        if self.icon_url:
            body["icon_url"] = self.icon_url
        else:
            body["icon_emoji"] = self.icon_emoji
        if self.channel:
            body["channel"] = self.channel
        body["event_id"] = message.event_id
        return body

    def attachment(self, message: AlertMessage, context: Mapping[str, Any]) -> dict[str, Any]:
        status = message.status
        template = message.template if message.template is not None else self.template
        if template is not None:
            values = self.markup.context(context)
            text = render(template, values, lambda: plain_body(message, values, with_title=False))
            card = {"color": status.color, "title": message.title, "text": text, "mrkdwn_in": ["text"]}
        else:
            card = {
                "fallback": self.fallback(message, context),
                "color": status.color,
                "title": message.title,
                "text": self.lead(message, context),
                "fields": self.fields(message, context),
                "mrkdwn_in": ["text", "fields"],
            }
        if message.dashboard_url:
            card["title_link"] = message.dashboard_url
        card["footer"] = self.username + (f" \u00b7 {message.project}" if message.project else "")
        if self.icon_url:
            card["footer_icon"] = self.icon_url
        card["ts"] = int(message.timestamp.replace(tzinfo=UTC).timestamp())
        return card

    def fallback(self, message: AlertMessage, context: Mapping[str, Any]) -> str:
        """The notification text: plain, with Slack's three escapes on Slack."""
        c = (SLACK if self.slack_syntax else PLAIN).context(context)
        if message.kind == "no_data":
            return f"{message.title} at {c['timestamp']}"
        if message.kind == "error":
            return f"{message.title} \u2014 {c['error_type']}: {c['error_message']}"
        return f"{message.title} \u2014 {c['value_display']} (expected {c['expected_range']}) at {c['timestamp']}"

    def lead(self, message: AlertMessage, context: Mapping[str, Any]) -> str:
        m = self.markup
        if message.kind == "no_data":
            return "Query returned no datapoint for the latest expected interval."
        if message.kind == "error":
            return "The detectkit pipeline failed for this metric."
        lead = context["anomaly_lead" if message.kind == "anomaly" else "recovery_lead"]
        return f"{m.text(lead)}\n{self.bold('Rule')} {m.code(context['rule_display'])}"

    def fields(self, message: AlertMessage, context: Mapping[str, Any]) -> list[dict[str, Any]]:
        c, kind, m = context, message.kind, self.markup
        rows: list[tuple[str, str, bool]] = []   # (title, value, short)
        if kind in ("anomaly", "recovery"):
            rows += [("Value", m.code(c["value_display"]), True), ("Expected", m.code(c["expected_range"]), True)]
        if kind == "anomaly":
            rows += [("Quorum", m.text(c["quorum_display"]), True),
                     ("Severity", f"{message.severity:.2f}", True)]
        if kind in ("anomaly", "recovery"):
            if message.onset is not None:
                rows += [("Started", m.text(c["started_display"]), True),
                         ("Latest" if kind == "anomaly" else "Cleared", m.text(c["timestamp"]), True)]
            else:
                rows.append(("Detected at" if kind == "anomaly" else "Cleared at", m.text(c["timestamp"]), False))
            rows.append(("Detectors", m.code(c["detector_name"]) if c["detector_name"] else "", False))
        if kind == "anomaly" and message.detector_params:
            rows.append(("Parameters", m.block(message.detector_params), False))
        if kind == "no_data":
            rows += [("Expected at", m.text(c["timestamp"]), False), ("Expected", m.code(c["expected_range"]), True)]
        if kind == "error":
            detail = error_detail(message)
            rows += [("Detected at", m.text(c["timestamp"]), False), ("Error", m.code(detail) if detail else "", False)]
        links = " \u00b7 ".join(m.link(label, url) for label, url in message.link_list())
        rows.append(("Links", links, False))
        return [{"title": t, "value": v, "short": s} for t, v, s in rows if v]

    # -- delivery ------------------------------------------------------------------------

    def send(self, message: AlertMessage) -> None:
        label = f"{self.type} channel {self.name!r}"
        with rendering(label):
            body = json_body(self.payload(message))
        headers = {"X-Detectkit-Event-Id": message.event_id}
        if self.format != "attachments":
            headers["X-Detectkit-Event"] = message.kind
        headers.update(self.extra_headers)
        if self.secret:
            headers["X-Detectkit-Signature-256"] = signature(self.secret, body)
        post(self.webhook_url, body, channel=label, timeout=self.timeout,
             headers=headers)


# -- structured formats ------------------------------------------------------------------------


def json_event(message: AlertMessage) -> dict[str, Any]:
    """`format: json`: the event as data, for scripts (schema_version 1)."""
    rule = None
    if message.min_detectors is not None:
        rule = {"min_detectors": message.min_detectors, "direction": message.direction_policy,
                "consecutive": message.consecutive_required}
        if message.min_anomaly_share is not None:
            rule |= {"min_anomaly_share": message.min_anomaly_share, "window_seconds": message.window_seconds}
    error = None if message.kind != "error" else {"type": message.error_type, "message": message.error_message}
    return {
        "schema_version": 1,
        "event_id": message.event_id,
        "kind": message.kind,
        "status": message.status.label,
        "title": message.title,
        "project": message.project,
        "metric": message.metric,
        "description": message.description,
        "timestamp": iso_utc(message.timestamp),
        "onset": iso_utc(message.onset),
        "value": finite(message.value),
        "expected": {"lower": finite(message.confidence_lower), "upper": finite(message.confidence_upper),
                     "display": message.expected_range},
        "direction": message.direction,
        "severity": finite(message.severity),
        "consecutive": message.consecutive_count,
        "detector": message.detector_name,
        "detector_params": message.detector_params,
        "detector_count": message.detector_count,
        "interval_seconds": message.interval_seconds,
        "rule": rule,
        "error": error,
        "mentions": list(message.mentions),
        "dashboard_url": message.dashboard_url,
        "links": dict(message.links),
        "help_url": message.help_url,
        "text": plain_body(message, message.context()),
    }


def alertmanager_payload(message: AlertMessage, receiver: str) -> dict[str, Any]:
    """`format: alertmanager`: a webhook receiver payload (version 4) with one alert.

    The labels are the same for an anomaly and its recovery, so receivers pair them up.
    """
    labels = {"alertname": message.metric, "alert": "anomaly" if message.kind == "recovery" else message.kind,
              "source": "detectkit"}
    if message.project:
        labels["project"] = message.project
    context = message.context()
    annotations = {"summary": message.title, "description": plain_body(message, context, with_title=False),
                   "event_id": message.event_id}
    if message.dashboard_url:
        annotations["dashboard_url"] = message.dashboard_url
    resolved = message.kind == "recovery"
    status = "resolved" if resolved else "firing"
    fingerprint = hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]
    alert = {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": iso_utc(message.onset or message.timestamp),
        "endsAt": iso_utc(message.timestamp) if resolved else _NO_END,
        "generatorURL": message.dashboard_url or "",
        "fingerprint": fingerprint,
    }
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{message.metric}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": {"alertname": message.metric},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": message.dashboard_url or "",
        "alerts": [alert],
        "event_id": message.event_id,
    }
