"""HTTP channels against a real local server: payload shapes, event ids, mentions, failures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from channel_samples import alert, anomaly_event, channel, failure, message, no_data_event, recovery_event
from detectkit_dagster.channels import DeliveryError

TOKEN = "123456:AAH-very-secret-bot-token"
SLACK_PATH = "/hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"  # markup follows "hooks.slack.com"


def hook(server, path="/hooks/abc-SECRET-42"):
    return server.url + path


def test_slack_default_anomaly_payload(http_server):
    slack = channel("ops", "slack", webhook_url=hook(http_server, SLACK_PATH))
    slack.send(message())
    request = http_server.last
    body = request.json()
    assert request.path == SLACK_PATH
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Detectkit-Event-Id"] == "3f2a9c1d0e4b5a6f"
    assert list(body) == ["username", "attachments", "text", "icon_url", "event_id"]
    assert body["text"] == "<!here> <@U12345678> @bob @12345"
    assert body["event_id"] == "3f2a9c1d0e4b5a6f"
    assert body["icon_url"] == "https://dtk.pipelab.dev/bot-icon.png"
    card = body["attachments"][0]
    assert list(card) == ["fallback", "color", "title", "text", "fields", "mrkdwn_in", "title_link",
                          "footer", "footer_icon", "ts"]
    assert card["color"] == "#D63232" and card["title"] == "\U0001F534 [payments] Alert: api_errors"
    assert card["footer"] == "detectkit \u00b7 payments" and card["ts"] == 1704076200
    assert card["title_link"] == "https://grafana.example/d/x"
    assert card["text"] == ("Anomalous for 2h 30m \u2014 15 consecutive 10min intervals.\n"
                            "*Rule* `min_detectors=2 \u00b7 direction=same \u00b7 consecutive=3`")
    assert card["fallback"] == ("\U0001F534 [payments] Alert: api_errors \u2014 115 (expected &gt;= 90) at "
                                "2024-01-01 05:30:00 (Europe/Moscow)")
    fields = {f["title"]: (f["value"], f["short"]) for f in card["fields"]}
    assert list(fields) == ["Value", "Expected", "Quorum", "Severity", "Started", "Latest", "Detectors",
                            "Parameters", "Links"]
    assert fields["Value"] == ("`115`", True) and fields["Quorum"] == ("2 detectors flagged (2 required) \u00b7 up", True)
    assert fields["Parameters"][0].startswith("```mad:")
    assert fields["Links"] == ("<https://grafana.example/d/x|Dashboard> \u00b7 "
                               "<https://dtk.pipelab.dev/guides/reading-alerts/|How to read this alert>", False)


def test_mattermost_custom_template_payload(http_server):
    block = alert(dashboard_url=None, template_consecutive="{metric_name} at {value} {mentions}")
    mm = channel("mm", "mattermost", webhook_url=hook(http_server), username="bot", icon_emoji=":bell:")
    mm.send(message(block=block))
    body = http_server.last.json()
    assert list(body) == ["username", "attachments", "text", "icon_emoji", "event_id"]
    assert body["text"] == "@here @U12345678 @bob @12345"
    card = body["attachments"][0]
    assert card == {"color": "#D63232", "title": "\U0001F534 [payments] Alert: api_errors",
                    "text": "api\\_errors at 115.0 @here @U12345678 @bob @12345", "mrkdwn_in": ["text"],
                    "footer": "bot \u00b7 payments", "ts": 1704076200}


def test_webhook_falls_back_without_title_when_the_template_is_refused(http_server):
    block = alert(template_no_data="{metric_name.__class__}")
    channel("hook", "webhook", webhook_url=hook(http_server)).send(message(no_data_event(), block))
    text = http_server.last.json()["attachments"][0]["text"]
    assert text.startswith("API 5xx rate\nTime: 2024-01-01 05:30:00 (Europe/Moscow)\nStatus: query")
    assert "class" not in text


def test_webhook_kinds_fields(http_server):
    hook_channel = channel("hook", "webhook", webhook_url=hook(http_server))
    hook_channel.send(message(recovery_event()))
    card = http_server.last.json()["attachments"][0]
    assert card["color"] == "#36A64F" and card["title"].startswith("\U0001F7E2 [payments] Alert cleared")
    assert [f["title"] for f in card["fields"]] == ["Value", "Expected", "Started", "Cleared", "Detectors", "Links"]
    assert "[Dashboard](https://grafana.example/d/x)" in card["fields"][-1]["value"]  # not a Slack URL
    hook_channel.send(failure())
    card = http_server.last.json()["attachments"][0]
    assert card["text"] == "The detectkit pipeline failed for this metric."
    assert card["fields"][1] == {"title": "Error", "value": "`ConnectionError: source down`", "short": False}
    assert http_server.last.json()["event_id"] == failure().event_id


def test_webhook_json_format_is_signed(http_server):
    secret = "hmac-key-123"
    hook_channel = channel("hook", "webhook", webhook_url=hook(http_server), format="json", secret=secret,
                           extra_headers={"X-Team": "payments"})
    hook_channel.send(message())
    request = http_server.last
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Detectkit-Signature-256"] == expected
    assert request.headers["X-Detectkit-Event"] == "anomaly" and request.headers["X-Team"] == "payments"
    body = request.json()
    assert body["schema_version"] == 1 and body["event_id"] == "3f2a9c1d0e4b5a6f"
    assert body["timestamp"] == "2024-01-01T02:30:00Z" and body["onset"] == "2024-01-01T00:10:00Z"
    assert body["expected"] == {"lower": 90.0, "upper": None, "display": ">= 90"}  # NaN travels as null
    assert body["rule"] == {"min_detectors": 2, "direction": "same", "consecutive": 3}
    assert body["text"].startswith("\U0001F534 [payments] Alert: api_errors\n")
    assert "\U0001F534".encode() in request.body  # raw UTF-8, not \u escapes


def test_webhook_alertmanager_format_pairs_firing_and_resolved(http_server):
    hook_channel = channel("am", "webhook", webhook_url=hook(http_server), format="alertmanager")
    hook_channel.send(message())
    firing = http_server.last.json()
    hook_channel.send(message(recovery_event()))
    resolved = http_server.last.json()
    assert firing["version"] == "4" and firing["status"] == "firing" and resolved["status"] == "resolved"
    assert firing["alerts"][0]["labels"] == resolved["alerts"][0]["labels"]
    assert firing["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert resolved["alerts"][0]["endsAt"] == "2024-01-01T01:40:00Z"
    assert firing["event_id"] == "3f2a9c1d0e4b5a6f"
    assert firing["alerts"][0]["annotations"]["event_id"] == "3f2a9c1d0e4b5a6f"
    assert http_server.last.headers["X-Detectkit-Event"] == "recovery"


def test_telegram_rich_html(http_server):
    tg = channel("tg", "telegram", bot_token=TOKEN, chat_id=-100123, api_url=http_server.url)
    tg.send(message(anomaly_event(detector="mad<b>")))
    request = http_server.last
    assert request.path == f"/bot{TOKEN}/sendMessage"
    body = request.json()
    assert {k: body[k] for k in ("chat_id", "disable_notification", "disable_web_page_preview", "parse_mode")} == {
        "chat_id": -100123, "disable_notification": False, "disable_web_page_preview": True, "parse_mode": "HTML"}
    lines = body["text"].split("\n")
    assert lines[:3] == ["\U0001F534 <b>[payments] Anomaly \u00b7 api_errors</b>", "<i>API 5xx rate</i>", ""]
    assert "\u2022 Detector: <code>mad&lt;b&gt;</code>" in lines
    assert '<a href="https://grafana.example/d/x">Open dashboard</a>' in body["text"]
    assert lines[-3] == '@here @U12345678 @bob <a href="tg://user?id=12345">12345</a>'
    assert lines[-1] == "<i>event_id: 3f2a9c1d0e4b5a6f</i>"


def test_telegram_plain_and_markdown_modes(http_server):
    plain = channel("tg", "telegram", bot_token=TOKEN, chat_id="42", api_url=http_server.url, parse_mode=None)
    plain.send(message(no_data_event()))
    body = http_server.last.json()
    assert "parse_mode" not in body
    assert body["text"].startswith("\U0001F7E1 [payments] No data for metric: api_errors\n")
    assert body["text"].endswith("\n\nevent_id: 00dd00dd00dd00dd")
    markdown = channel("tg", "telegram", bot_token=TOKEN, chat_id="42", api_url=http_server.url,
                       parse_mode="Markdown")
    markdown.send(message(no_data_event()))
    text = http_server.last.json()["text"]
    assert "api\\_errors" in text and "event\\_id: 00dd00dd00dd00dd" in text


def test_telegram_caps_long_messages(http_server):
    block = alert(template_consecutive="{description}")
    tg = channel("tg", "telegram", bot_token=TOKEN, chat_id="42", api_url=http_server.url)
    tg.send(message(block=block, description="line of text\n" * 1000))
    text = http_server.last.json()["text"]
    assert len(text) <= 4096 and text.endswith("\u2026\n\n<i>event_id: 3f2a9c1d0e4b5a6f</i>")


def test_discord_embed(http_server):
    dc = channel("dc", "discord", webhook_url=hook(http_server), username="dtk")
    dc.send(message())
    body = http_server.last.json()
    assert body["content"] == "@here @U12345678 @bob @12345"
    assert body["allowed_mentions"] == {"parse": ["everyone"]}
    embed = body["embeds"][0]
    assert embed["color"] == 0xD63232 and embed["url"] == "https://grafana.example/d/x"
    assert embed["title"] == "\U0001F534 [payments] Alert: api_errors"
    assert embed["footer"]["text"] == "dtk \u00b7 payments \u00b7 event_id: 3f2a9c1d0e4b5a6f"
    assert embed["timestamp"] == "2024-01-01T02:30:00Z"
    names = [f["name"] for f in embed["fields"]]
    assert names[:4] == ["Value", "Expected", "Quorum", "Severity"] and names[-1] == "Links"


def test_discord_mentions_content(http_server):
    dc = channel("dc", "discord", webhook_url=hook(http_server))
    dc.send(message(block=alert(mentions=["here", "<@42>"])))
    body = http_server.last.json()
    assert body["content"] == "@here <@42>"
    assert body["allowed_mentions"] == {"parse": ["everyone"], "users": ["42"]}
    assert "username" not in body


def test_teams_adaptive_card(http_server):
    channel("teams", "teams", webhook_url=hook(http_server)).send(message())
    body = http_server.last.json()
    assert body["type"] == "message"
    attachment = body["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["body"][0]["text"] == "\U0001F534 [payments] Alert: api_errors"
    facts = next(block for block in card["body"] if block["type"] == "FactSet")["facts"]
    assert facts[0] == {"title": "Value", "value": "115"}
    texts = [block.get("text", "") for block in card["body"]]
    assert "@here @U12345678 @bob @12345" in texts  # plain text: Teams webhooks cannot ping
    assert texts[-1] == "detectkit \u00b7 payments \u00b7 event_id: 3f2a9c1d0e4b5a6f"
    assert card["actions"][0] == {"type": "Action.OpenUrl", "title": "Open dashboard",
                                  "url": "https://grafana.example/d/x"}


def test_google_chat_card(http_server):
    gc = channel("gc", "googlechat", webhook_url=hook(http_server), icon_url="https://example.com/i.png")
    gc.send(message(anomaly_event(detector="a<b")))
    body = http_server.last.json()
    assert set(body) == {"text", "cardsV2"}  # Google rejects unknown fields
    assert body["text"] == "<users/all> @U12345678 @bob <users/12345>"
    card = body["cardsV2"][0]
    assert card["cardId"] == "detectkit-3f2a9c1d0e4b5a6f"
    assert card["card"]["header"]["title"] == "\U0001F534 [payments] Alert: api_errors"
    widgets = card["card"]["sections"][0]["widgets"]
    assert {"decoratedText": {"topLabel": "Detectors", "text": "a&lt;b", "wrapText": True}} in widgets
    assert "event_id: 3f2a9c1d0e4b5a6f" in json.dumps(card["card"]["sections"][-1])


def test_ntfy_publish(http_server):
    nt = channel("push", "ntfy", topic="dtk-alerts", server=http_server.url, token="tk_secret")
    nt.send(message())
    request = http_server.last
    assert request.path == "/" and request.headers["Authorization"] == "Bearer tk_secret"
    body = request.json()
    assert body["topic"] == "dtk-alerts" and body["title"] == "[payments] Alert: api_errors"
    assert body["priority"] == 4 and body["tags"] == ["red_circle", "anomaly"]
    assert body["click"] == "https://grafana.example/d/x"
    assert body["actions"] == [{"action": "view", "label": "How to read this alert",
                                "url": "https://dtk.pipelab.dev/guides/reading-alerts/"}]
    assert body["message"].startswith("API 5xx rate\nAnomalous for 2h 30m")
    assert body["message"].endswith("\n\nevent_id: 3f2a9c1d0e4b5a6f")


def test_ntfy_priority_and_basic_auth(http_server):
    nt = channel("push", "ntfy", topic="t1", server=http_server.url, user="me", password="pw", priority=5)
    nt.send(message())
    assert http_server.last.json()["priority"] == 5
    assert http_server.last.headers["Authorization"] == "Basic " + base64.b64encode(b"me:pw").decode()
    nt.send(message(recovery_event()))
    assert http_server.last.json()["priority"] == 3  # an explicit priority raises only anomaly/error


# -- failures: DeliveryError, and no secret in it ---------------------------------------------


def test_server_error_names_status_and_host_only(http_server):
    http_server.status = 500
    http_server.reply = f"internal error for {SLACK_PATH}".encode()
    with pytest.raises(DeliveryError) as caught:
        channel("ops", "slack", webhook_url=hook(http_server, SLACK_PATH)).send(message())
    text = str(caught.value)
    assert "HTTP 500" in text and http_server.url in text and "'ops'" in text and "internal error" in text
    assert "SECRET" not in text and "services" not in text


def test_telegram_error_does_not_leak_the_token(http_server):
    http_server.status = 401
    http_server.reply = json.dumps({"ok": False, "description": f"Unauthorized bot{TOKEN}"}).encode()
    with pytest.raises(DeliveryError) as caught:
        channel("tg", "telegram", bot_token=TOKEN, chat_id="1", api_url=http_server.url).send(message())
    assert "HTTP 401" in str(caught.value) and "Unauthorized" in str(caught.value)
    assert "secret" not in str(caught.value) and "123456" not in str(caught.value)


def test_refused_connection(closed_port):
    url = f"http://127.0.0.1:{closed_port}/hooks/T1/SECRET"
    for kind, params in [("webhook", {"webhook_url": url}), ("discord", {"webhook_url": url}),
                         ("telegram", {"bot_token": TOKEN, "chat_id": "1",
                                       "api_url": f"http://127.0.0.1:{closed_port}"})]:
        with pytest.raises(DeliveryError) as caught:
            channel("c", kind, **params).send(message())
        text = str(caught.value)
        assert "could not reach" in text and f"127.0.0.1:{closed_port}" in text
        assert "SECRET" not in text and "secret" not in text


def test_redirect_and_timeout_are_failures(http_server):
    http_server.status = 302
    http_server.reply_headers = {"Location": "http://127.0.0.1:1/elsewhere"}
    with pytest.raises(DeliveryError, match="HTTP 302"):
        channel("hook", "webhook", webhook_url=hook(http_server)).send(message())
    http_server.status, http_server.reply_headers, http_server.delay = 200, {}, 0.5
    with pytest.raises(DeliveryError, match="timed out"):
        channel("hook", "webhook", webhook_url=hook(http_server), timeout_seconds=0.1).send(message())


def test_unrenderable_message_is_a_delivery_error(http_server):
    # error_alerting.timezone is not checked when the project loads: a bad zone fails the send.
    for kind in ("webhook", "discord", "teams", "googlechat"):
        with pytest.raises(DeliveryError, match="could not render"):
            channel("c", kind, webhook_url=hook(http_server)).send(failure(timezone="Mars/Olympus"))
    assert http_server.requests == []
