"""Email against a real local SMTP server: headers, the plain part byte for byte, the HTML card,
login, and failures that do not leak the password."""

from __future__ import annotations

import base64

import pytest

from channel_samples import SPEC_ANOMALY, channel, failure, message, no_data_event, recovery_event
from detectkit_dagster.channels import DeliveryError

PASSWORD = "s3cret-pass"


def text_of(mail, subtype: str) -> str:
    """A part's text with SMTP's CRLF line ends read back as \\n."""
    return mail.get_body((subtype,)).get_content().replace("\r\n", "\n")


def mailer(server, **params):
    base = {"smtp_host": "127.0.0.1", "smtp_port": server.port, "from_email": "alerts@example.com",
            "to_emails": ["oncall@example.com", "team@example.com"], "security": "none"}
    return channel("mail", "email", **(base | params))


def test_anomaly_email(smtp_server):
    mailer(smtp_server).send(message())
    (received,) = smtp_server.messages
    assert received.mail_from == "alerts@example.com"
    assert received.rcpt_to == ["oncall@example.com", "team@example.com"]
    mail = received.message
    assert mail["Subject"] == "\U0001F534 [payments] Alert: api_errors"
    assert mail["From"] == "detectkit <alerts@example.com>"
    assert mail["To"] == "oncall@example.com, team@example.com"
    assert mail["Message-ID"] == "<detectkit.3f2a9c1d0e4b5a6f@example.com>"
    assert mail["X-Detectkit-Event-Id"] == "3f2a9c1d0e4b5a6f" and mail["X-Detectkit-Event"] == "anomaly"
    # MIME ends a text part with a line break; the body itself is the spec's example.
    assert text_of(mail, "plain") == SPEC_ANOMALY + "\n"
    card = text_of(mail, "html")
    assert "#D63232" in card and "ANOMALY" in card and "Open dashboard \u2192" in card
    assert "CC: U12345678, bob, 12345" in card and "event_id 3f2a9c1d0e4b5a6f" in card


def test_html_card_escapes_user_text(smtp_server):
    mailer(smtp_server).send(message(description="</td><script>alert(1)</script>"))
    card = text_of(smtp_server.messages[0].message, "html")
    assert "<script>" not in card and "&lt;script&gt;" in card


def test_subject_follows_the_kind_unless_configured(smtp_server):
    mailer(smtp_server).send(message(recovery_event()))
    assert smtp_server.messages[-1].message["Subject"] == "\U0001F7E2 [payments] Alert cleared: api_errors"
    configured = mailer(smtp_server, subject_template="[{project_name}] {metric_name}\nbroken")
    configured.send(message(no_data_event()))
    assert smtp_server.messages[-1].message["Subject"] == "[payments] api_errors broken"


def test_custom_template_and_error_kind(smtp_server):
    mailer(smtp_server, template="{status} {metric_name}: {error_message}").send(failure())
    mail = smtp_server.messages[0].message
    assert text_of(mail, "plain") == "ERROR api_errors: source down\n"
    assert "<pre" in text_of(mail, "html")
    assert mail["X-Detectkit-Event"] == "error"


def test_login(smtp_server):
    mailer(smtp_server, smtp_username="alerts", smtp_password=PASSWORD).send(message())
    assert len(smtp_server.messages) == 1


def test_rejected_login_does_not_leak_the_password(smtp_server):
    with pytest.raises(DeliveryError) as caught:
        mailer(smtp_server, smtp_username="alerts", smtp_password="wrong-" + PASSWORD).send(message())
    text = str(caught.value)
    assert "login" in text and "535" in text
    encoded = base64.b64encode(f"\0alerts\0wrong-{PASSWORD}".encode()).decode()
    assert PASSWORD not in text and encoded not in text
    assert smtp_server.messages == []


def test_starttls_is_required_by_default(smtp_server):
    with pytest.raises(DeliveryError, match="STARTTLS"):
        mailer(smtp_server, security=None, smtp_password=PASSWORD, smtp_username="alerts").send(message())


def test_implicit_tls_against_a_plain_server_fails(smtp_server):
    with pytest.raises(DeliveryError, match="could not send"):
        mailer(smtp_server, security=None, use_tls=False, timeout_seconds=2).send(message())


def test_refused_connection(closed_port):
    with pytest.raises(DeliveryError) as caught:
        channel("mail", "email", smtp_host="127.0.0.1", smtp_port=closed_port, from_email="a@example.com",
                to_emails="b@example.com", security="none", smtp_username="u", smtp_password=PASSWORD
                ).send(message())
    assert f"127.0.0.1:{closed_port}" in str(caught.value) and PASSWORD not in str(caught.value)


def test_unrenderable_message_is_a_delivery_error(smtp_server):
    with pytest.raises(DeliveryError, match="could not render.*Mars/Olympus"):
        mailer(smtp_server).send(failure(timezone="Mars/Olympus"))
    assert smtp_server.messages == []
