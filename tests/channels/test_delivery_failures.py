"""How every channel fails: within a total deadline, saying whether a retry can help, and never
showing a secret, whatever the server does. Real servers on 127.0.0.1 throughout."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from channel_samples import channel, failure, message
from detectkit_dagster.channels import CHANNEL_TYPES, DeliveryError
from detectkit_dagster.channels.registry import Guarded
from detectkit_dagster.channels.scrub import PART, secrets_of
from slow_servers import SlowServer

TOKEN = "123456:AAH-very-secret-bot-token"
QUERY_TOKEN = "q7Hq2ZpLx0v9"
SIGNING = "hmac-signing-secret-77"
HEADER_TOKEN = "hdr-bearer-token-5521"
TOPIC = "pager-7f3k9x2m"
PASSWORD = "s3cret-pass"
DELIVERING = [kind for kind in CHANNEL_TYPES if kind != "outbox"]
WEBHOOK_LIKE = ("slack", "mattermost", "webhook", "discord", "teams", "googlechat")


def params_for(kind: str, url: str, port: int) -> dict:
    """Parameters pointing a channel of `kind` at a local server, with every secret it can hold."""
    if kind in WEBHOOK_LIKE:
        params = {"webhook_url": f"{url}/hooks/T000/{TOKEN}?token={QUERY_TOKEN}"}
        if kind == "webhook":
            params |= {"secret": SIGNING, "extra_headers": {"Authorization": f"Bearer {HEADER_TOKEN}"}}
        return params
    if kind == "telegram":
        return {"bot_token": TOKEN, "chat_id": "1", "api_url": url}
    if kind == "ntfy":
        return {"server": url, "topic": TOPIC, "token": TOKEN}
    if kind == "email":
        return {"smtp_host": "127.0.0.1", "smtp_port": port, "from_email": "alerts@example.com",
                "to_emails": ["oncall@example.com"], "security": "none", "smtp_username": "alerts",
                "smtp_password": PASSWORD}
    raise AssertionError(f"no test parameters for channel type {kind!r}: add them here")


def leaks(text: str, secrets: tuple[str, ...]) -> list[str]:
    """Every run of PART characters of a secret that shows in `text`."""
    return [s[i: i + PART] for s in secrets for i in range(len(s) - PART + 1) if s[i: i + PART] in text]


ALL_SECRETS = (TOKEN, QUERY_TOKEN, SIGNING, HEADER_TOKEN, TOPIC, PASSWORD)


# -- a total deadline ----------------------------------------------------------------------------

HTTP_REPLY = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
SMTP_GREETING = b"220 localhost ESMTP a slow but otherwise willing server\r\n"


@pytest.mark.parametrize("behaviour", ["drips", "hangs"])
@pytest.mark.parametrize("kind", DELIVERING)
def test_every_send_is_bounded_by_a_total_deadline(kind, behaviour):
    """A server dripping a valid reply (a byte per 50 ms: several seconds in all, each read well
    inside the timeout) or never answering: the send fails after `timeout_seconds` in all, and
    the deadline cuts the connection in the middle of the reply."""
    full = SMTP_GREETING if kind == "email" else HTTP_REPLY
    server = SlowServer(full if behaviour == "drips" else b"", interval=0.05, read_request=kind != "email")
    try:
        sender = channel("slow", kind, **params_for(kind, server.url, server.port), timeout_seconds=0.3)
        with pytest.raises(DeliveryError) as caught:
            sender.send(message())
        assert "timed out" in str(caught.value) and "0.3 s" in str(caught.value)
        assert caught.value.retryable
        assert server.gone.wait(10), "the connection was left open after the deadline"
        assert server.sent < len(full)
    finally:
        server.close()


def test_a_prompt_reply_is_unaffected_by_the_deadline(http_server):
    channel("hook", "webhook", webhook_url=http_server.url + "/x", timeout_seconds=0.3).send(message())
    assert http_server.last.json()["event_id"] == "3f2a9c1d0e4b5a6f"


# -- retryable or not ------------------------------------------------------------------------------

@pytest.mark.parametrize("status, retryable", [
    (500, True), (502, True), (503, True), (504, True), (429, True), (408, True),
    (400, False), (401, False), (403, False), (404, False), (410, False), (413, False), (302, False),
])
def test_http_status_says_whether_a_retry_can_help(http_server, status, retryable):
    http_server.status = status
    with pytest.raises(DeliveryError) as caught:
        channel("hook", "webhook", webhook_url=http_server.url + "/x").send(message())
    assert f"HTTP {status}" in str(caught.value) and caught.value.retryable is retryable


@pytest.mark.parametrize("kind", [k for k in DELIVERING if k != "email"])
@pytest.mark.parametrize("status, retryable", [(503, True), (429, True), (404, False)])
def test_every_http_channel_flags_retryable_failures(http_server, kind, status, retryable):
    http_server.status = status
    with pytest.raises(DeliveryError) as caught:
        channel("c", kind, **params_for(kind, http_server.url, 0)).send(message())
    assert caught.value.retryable is retryable


@pytest.mark.parametrize("kind", DELIVERING)
def test_network_failures_are_retryable_for_every_channel(kind, closed_port):
    url = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(DeliveryError) as caught:
        channel("c", kind, **params_for(kind, url, closed_port)).send(message())
    assert caught.value.retryable and "127.0.0.1" in str(caught.value)


@pytest.mark.parametrize("kind", CHANNEL_TYPES)
def test_a_message_that_cannot_render_is_not_retryable(kind, http_server, tmp_path):
    with pytest.raises(DeliveryError, match="could not render") as caught:
        channel("c", kind, tmp_path, **({} if kind == "outbox" else params_for(kind, http_server.url, 1))
                ).send(failure(timezone="Mars/Olympus"))
    assert not caught.value.retryable and http_server.requests == []


@pytest.mark.parametrize("verb, reply, retryable", [
    ("MAIL", "421 4.3.2 service not available, closing channel", True),
    ("RCPT", "450 4.2.1 mailbox busy", True),
    ("RCPT", "550 5.1.1 no such user", False),
    ("DATA", "554 5.7.1 message refused", False),
    ("AUTH", "454 4.7.0 temporary authentication failure", True),
    ("AUTH", "535 5.7.8 authentication credentials invalid", False),
])
def test_smtp_replies_say_whether_a_retry_can_help(smtp_server, verb, reply, retryable):
    smtp_server.replies[verb] = reply
    with pytest.raises(DeliveryError) as caught:
        channel("mail", "email", **params_for("email", "", smtp_server.port)).send(message())
    assert reply[:3] in str(caught.value) and caught.value.retryable is retryable


def test_outbox_write_failure_is_retryable(tmp_path):
    (tmp_path / "ops").write_text("a file where the channel folder should be")
    with pytest.raises(DeliveryError) as caught:
        channel("ops", "outbox", tmp_path).send(message())
    assert caught.value.retryable


def test_outbox_channel_folder_symlinked_elsewhere_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "outbox").mkdir()
    (tmp_path / "outbox" / "ops").symlink_to(elsewhere)
    with pytest.raises(DeliveryError, match="outside the outbox") as caught:
        channel("ops", "outbox", tmp_path / "outbox").send(message())
    assert not caught.value.retryable and list(elsewhere.iterdir()) == []


# -- no secret in any error ------------------------------------------------------------------------

def echo_everything(request) -> bytes:
    """A hostile or careless server: the token in its error, the request echoed, in parts too."""
    return json.dumps({
        "error": f"invalid token {TOKEN}", "hint": f"token starts {TOKEN[:12]}... and ends ...{TOKEN[-9:]}",
        "path": request.path, "quoted_path": quote(request.path, safe=""),
        "headers": request.headers, "body": request.body.decode("utf-8", "replace")[:300],
    }).encode()


@pytest.mark.parametrize("kind", [k for k in DELIVERING if k != "email"])
@pytest.mark.parametrize("status", [403, 500])
def test_no_http_channel_error_shows_a_secret(http_server, kind, status):
    http_server.status, http_server.respond = status, echo_everything
    with pytest.raises(DeliveryError) as caught:
        channel("c", kind, **params_for(kind, http_server.url, 0)).send(message())
    text = str(caught.value)
    assert f"HTTP {status}" in text and "invalid token" in text  # the reply is still shown, scrubbed
    assert leaks(text, ALL_SECRETS) == [], text


def test_ntfy_basic_auth_password_is_scrubbed(http_server):
    http_server.status, http_server.respond = 401, lambda r: f"bad user alerts with password {PASSWORD}".encode()
    with pytest.raises(DeliveryError) as caught:
        channel("c", "ntfy", server=http_server.url, topic=TOPIC, user="alerts", password=PASSWORD).send(message())
    assert "bad user alerts" in str(caught.value) and leaks(str(caught.value), ALL_SECRETS) == []


@pytest.mark.parametrize("verb", ["MAIL", "RCPT", "DATA", "AUTH"])
def test_no_email_error_shows_the_password(smtp_server, verb):
    smtp_server.replies[verb] = f"554 5.7.1 refused for alerts:{PASSWORD} (password {PASSWORD[:7]}...)"
    with pytest.raises(DeliveryError) as caught:
        channel("mail", "email", **params_for("email", "", smtp_server.port)).send(message())
    assert "554" in str(caught.value) and leaks(str(caught.value), ALL_SECRETS) == []


class _Broken:
    """A channel whose own code fails with a secret in the exception (a bug, say)."""

    name, type = "broken", "webhook"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def send(self, message) -> None:
        raise self.error


@pytest.mark.parametrize("error, retryable", [
    (RuntimeError(f"unexpected state near {TOKEN}"), False),
    (OSError(f"[Errno 28] No space left writing {TOKEN}"), True),
    (DeliveryError(f"webhook channel 'broken': HTTP 418 from x: teapot {TOKEN[4:20]}", retryable=False), False),
])
def test_whatever_a_channel_raises_leaves_it_scrubbed(error, retryable):
    guarded = Guarded(_Broken(error), secrets_of({"bot_token": TOKEN}, ["bot_token"]))
    with pytest.raises(DeliveryError) as caught:
        guarded.send(message())
    assert leaks(str(caught.value), (TOKEN,)) == [] and "broken" in str(caught.value)
    assert caught.value.retryable is retryable


def test_scrubbing_keeps_the_host_and_ordinary_words(http_server):
    http_server.status, http_server.respond = 403, lambda r: b"forbidden: the hook was revoked"
    with pytest.raises(DeliveryError) as caught:
        channel("c", "slack", **params_for("slack", http_server.url, 0)).send(message())
    assert str(caught.value) == f"slack channel 'c': HTTP 403 from {http_server.url}: forbidden: the hook was revoked"
