"""Channel parameters are checked when profiles load, with errors that name the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from channel_samples import channel
from detectkit_dagster.channels import CHANNEL_TYPES, validate_channel
from detectkit_dagster.config.profiles import CHANNEL_TYPES as CONFIG_TYPES
from detectkit_dagster.config.profiles import ChannelConfig

URL = "https://hooks.example.com/services/T1/B2/TOPSECRET"
MINIMAL = {
    "webhook": {"webhook_url": URL},
    "slack": {"webhook_url": URL},
    "mattermost": {"webhook_url": URL},
    "telegram": {"bot_token": "123:TOPSECRET", "chat_id": "@ops"},
    "email": {"smtp_host": "smtp.example.com", "smtp_port": 587, "from_email": "a@example.com",
              "to_emails": ["b@example.com"]},
    "discord": {"webhook_url": URL},
    "teams": {"webhook_url": URL},
    "googlechat": {"webhook_url": URL},
    "ntfy": {"topic": "alerts"},
    "outbox": {},
}


def check(kind: str, **params) -> str:
    with pytest.raises(ValueError) as caught:
        validate_channel("ops", ChannelConfig(type=kind, **params))
    return str(caught.value)


def test_every_type_builds_from_its_minimal_params():
    assert CHANNEL_TYPES == CONFIG_TYPES and set(CHANNEL_TYPES) == set(MINIMAL)  # config and registry agree
    for kind, params in MINIMAL.items():
        validate_channel("ops", ChannelConfig(type=kind, **params))
        assert channel("ops", kind, **params).name == "ops"


def test_defaults_follow_detectkit():
    slack = channel("ops", "slack", webhook_url=URL)
    assert (slack.username, slack.icon_url, slack.timeout) == ("detectkit", "https://dtk.pipelab.dev/bot-icon.png", 10)
    mail = channel("ops", "email", **MINIMAL["email"])
    assert (mail.security, mail.from_name) == ("starttls", "detectkit")
    assert channel("ops", "email", **MINIMAL["email"], use_tls=False).security == "ssl"
    tg = channel("ops", "telegram", **MINIMAL["telegram"], timeout_seconds=3)
    assert (tg.parse_mode, tg.api_url, tg.timeout) == ("HTML", "https://api.telegram.org", 3.0)
    assert channel("ops", "ntfy", topic="t").server == "https://ntfy.sh"
    assert channel("ops", "outbox", Path("/tmp/box")).directory == Path("/tmp/box/ops")


def test_unknown_param_suggests_the_closest_name():
    text = check("slack", webhok_url=URL)
    assert "alert channel 'ops' (type slack)" in text
    assert "unknown param 'webhok_url' (did you mean 'webhook_url'?)" in text
    assert "Allowed params: channel, icon_emoji, icon_url, timeout, timeout_seconds, username, webhook_url" in text
    assert "TOPSECRET" not in text


def test_slack_has_no_webhook_only_params():
    assert "unknown param 'extra_headers'" in check("slack", webhook_url=URL, extra_headers={"A": "b"})


def test_missing_required_param():
    text = check("telegram", bot_token="123:TOPSECRET")
    assert "missing required param 'chat_id'" in text and "Allowed params:" in text and "TOPSECRET" not in text


def test_unknown_type():
    # ChannelConfig refuses it already; the registry checks again for configs built another way.
    with pytest.raises(ValueError) as caught:
        validate_channel("ops", ChannelConfig.model_construct(type="slak"))
    text = str(caught.value)
    assert "unknown type 'slak' (did you mean 'slack'?)" in text and "Allowed types: slack" in text


@pytest.mark.parametrize("kind, params, expected", [
    ("webhook", {"webhook_url": "ftp://hooks.example.com/TOPSECRET"}, "http:// or https://"),
    ("discord", {"webhook_url": "hooks.example.com/TOPSECRET"}, "http:// or https://"),
    ("teams", {"webhook_url": "https:///TOPSECRET"}, "with a host"),
    ("webhook", {"webhook_url": URL, "format": "xml"}, "must be one of attachments, json, alertmanager"),
    ("webhook", {"webhook_url": URL, "extra_headers": {"X-A": "b\r\nInjected: TOPSECRET"}}, "line break"),
    ("telegram", {"bot_token": "TOPSECRET", "chat_id": "1", "parse_mode": "html"}, "one of HTML, Markdown, null"),
    ("telegram", {"bot_token": 12345678, "chat_id": "1"}, "'bot_token' must be text"),
    ("email", {**MINIMAL["email"], "smtp_port": 70000}, "between 1 and 65535"),
    ("email", {**MINIMAL["email"], "to_emails": []}, "at least one"),
    ("email", {**MINIMAL["email"], "subject_template": "{metric_name} {value}"}, "unknown variable {value}"),
    ("email", {**MINIMAL["email"], "subject_template": "{metric_name.__class__}"}, "not allowed"),
    ("email", {**MINIMAL["email"], "use_tls": "yes"}, "true/false"),
    ("ntfy", {"topic": "t", "priority": 7}, "between 1 and 5"),
    ("ntfy", {"topic": "t", "password": "TOPSECRET"}, "needs 'user'"),
    ("slack", {"webhook_url": URL, "timeout": 5, "timeout_seconds": 5}, "not both"),
    ("slack", {"webhook_url": URL, "timeout_seconds": 0}, "greater than 0"),
    ("slack", {"webhook_url": URL, "timeout_seconds": True}, "must be"),
])
def test_bad_values_are_named_without_echoing_secrets(kind, params, expected):
    text = check(kind, **params)
    assert expected in text and "'ops'" in text
    assert "TOPSECRET" not in text and "12345678" not in text


def test_explicit_null_parse_mode_means_plain_text():
    assert channel("ops", "telegram", **MINIMAL["telegram"], parse_mode=None).parse_mode is None


def test_channel_repr_hides_secrets():
    secret_params = {
        "webhook": {"webhook_url": URL, "secret": "TOPSECRET", "extra_headers": {"Authorization": "TOPSECRET"}},
        "telegram": MINIMAL["telegram"],
        "email": {**MINIMAL["email"], "smtp_username": "u", "smtp_password": "TOPSECRET"},
        "discord": MINIMAL["discord"], "teams": MINIMAL["teams"], "googlechat": MINIMAL["googlechat"],
        "ntfy": {"topic": "TOPSECRET", "token": "TOPSECRET"},
    }
    for kind, params in secret_params.items():
        assert "TOPSECRET" not in repr(channel("ops", kind, **params)), kind


def test_a_deadline_longer_than_a_dispatch_tick_allows_is_capped_with_a_warning(caplog):
    # A send must fit in one dispatch sensor tick (Dagster ends a tick after 60 s): a longer
    # deadline would never get a send started, so it is capped, and the load says so.
    for kind in ("slack", "email", "telegram", "ntfy"):
        assert channel("ops", kind, **MINIMAL[kind], timeout=300).timeout == 30
        assert channel("ops", kind, **MINIMAL[kind], timeout_seconds=29.5).timeout == 29.5
    with caplog.at_level("WARNING"):
        validate_channel("ops", ChannelConfig(type="slack", webhook_url=URL, timeout_seconds=90))
    assert "timeout 90s is above the 30s a send may take in one dispatch tick; 30s is used" in caplog.text
