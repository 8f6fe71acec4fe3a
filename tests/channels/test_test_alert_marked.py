"""A `test-alert` mock says it is a test in every channel's message, default and custom templates alike."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from channel_samples import alert, channel
from detectkit_dagster.channels import test_message

MARK = "[TEST] [shop] "
HTTP_CHANNELS = {
    "slack": {}, "mattermost": {}, "webhook": {}, "discord": {}, "teams": {}, "googlechat": {},
    "ntfy": {"topic": "alerts"},
}


def mock(template: str | None = None):
    block = alert(channels=["ops"], min_detectors=1, **({"template_consecutive": template} if template else {}))
    return test_message(project="shop", metric="orders", description="Orders per 10 minutes",
                        interval_seconds=600, alert=block, help_url=None, now=datetime(2026, 11, 1, 12, 0))


def url_params(kind: str, server) -> dict:
    if kind == "ntfy":
        return {"server": server.url, **HTTP_CHANNELS[kind]}
    return {"webhook_url": server.url + "/hook/SECRET", **HTTP_CHANNELS[kind]}


@pytest.mark.parametrize("template", [None, "Custom: {metric_name} is at {value}"])
@pytest.mark.parametrize("kind", sorted(HTTP_CHANNELS))
def test_http_channels_mark_the_test(kind, template, http_server):
    channel("ops", kind, **url_params(kind, http_server)).send(mock(template))
    request = http_server.last
    shown = request.body.decode() + json.dumps(request.headers)
    assert MARK in shown, shown


@pytest.mark.parametrize("parse_mode", ["HTML", "Markdown", None])
@pytest.mark.parametrize("template", [None, "Custom: {metric_name} is at {value}"])
def test_telegram_marks_the_test(parse_mode, template, http_server):
    channel("tg", "telegram", bot_token="123:abc", chat_id="42", api_url=http_server.url,
            parse_mode=parse_mode).send(mock(template))
    text = http_server.last.json()["text"]
    if template is None:
        assert "TEST" in text.split("\n")[0]
    else:
        assert text.startswith("TEST ALERT \u00b7 Custom: orders")


@pytest.mark.parametrize("subject", [None, "{metric_name} needs a look"])
def test_email_subject_marks_the_test(subject, smtp_server):
    params = {"smtp_host": "127.0.0.1", "smtp_port": smtp_server.port, "smtp_username": "alerts",
              "smtp_password": "s3cret-pass", "from_email": "dtk@example.com", "to_emails": ["ops@example.com"],
              "security": "none", **({"subject_template": subject} if subject else {})}
    channel("mail", "email", **params).send(mock())
    assert "[TEST]" in smtp_server.messages[0].message["Subject"]


def test_outbox_marks_the_test(tmp_path):
    channel("box", "outbox", tmp_path).send(mock("Custom: {metric_name}"))
    (written,) = list(tmp_path.rglob("*.json"))
    record = json.loads(written.read_text())
    assert record["title"].startswith("\U0001F534 " + MARK) and record["event"]["test"] is True
