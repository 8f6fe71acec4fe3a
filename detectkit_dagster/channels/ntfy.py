"""ntfy push notifications: a JSON publish to the server root (spec §14.1)."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from detectkit_dagster.channels.message import AlertMessage
from detectkit_dagster.channels.params import TIMEOUTS, Param, in_range, not_empty, url_param
from detectkit_dagster.channels.render import event_footer, mentions_plain, plain_body, render
from detectkit_dagster.channels.transport import DEFAULT_TIMEOUT, post_json, rendering

SERVER = "https://ntfy.sh"
MAX_ACTIONS = 3  # ntfy shows at most three action buttons
TAGS = {"anomaly": "red_circle", "recovery": "green_circle", "no_data": "yellow_circle", "error": "large_blue_circle"}
URGENT = ("anomaly", "error")


def _topic(value: str) -> str | None:
    return None if re.fullmatch(r"[-_A-Za-z0-9]{1,64}", value) else "must be 1-64 letters, digits, '-' or '_'"


PARAMS = {
    "topic": Param((str,), required=True, secret=True, check=_topic),  # a public topic name is its password
    "server": url_param(default=SERVER),
    "token": Param((str,), secret=True, check=not_empty),
    "user": Param((str,), check=not_empty),
    "password": Param((str,), secret=True),
    "priority": Param((int,), check=in_range(1, 5)),
    **TIMEOUTS,
}


@dataclass(frozen=True)
class NtfyChannel:
    name: str
    topic: str = field(repr=False)
    server: str = SERVER
    token: str | None = field(default=None, repr=False)
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    priority: int | None = None
    timeout: float = DEFAULT_TIMEOUT

    type: ClassVar[str] = "ntfy"
    PARAMS: ClassVar[dict[str, Param]] = PARAMS

    def headers(self) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.user:
            pair = base64.b64encode(f"{self.user}:{self.password or ''}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        return {}

    def payload(self, message: AlertMessage) -> dict[str, Any]:
        context = message.context(mentions_plain(message.mentions))
        text = render(message.template, context, lambda: plain_body(message, context, with_title=False))
        urgent = message.kind in URGENT
        body: dict[str, Any] = {
            "topic": self.topic,
            "title": f"{message.project_prefix}{message.status.heading}: {message.metric}",
            "message": f"{text.rstrip()}\n\n{event_footer(message)}",
            "priority": (self.priority or 4) if urgent else 3,
            "tags": [TAGS[message.kind], message.kind],
        }
        if message.dashboard_url:
            body["click"] = message.dashboard_url
        views = message.link_list()[1 if message.dashboard_url else 0:][:MAX_ACTIONS]
        if views:
            body["actions"] = [{"action": "view", "label": label, "url": url} for label, url in views]
        return body

    def send(self, message: AlertMessage) -> None:
        with rendering(f"ntfy channel {self.name!r}"):
            payload = self.payload(message)
        post_json(self.server.rstrip("/") + "/", payload, channel=f"ntfy channel {self.name!r}",
                  timeout=self.timeout, headers={**self.headers(), "X-Detectkit-Event-Id": message.event_id})
