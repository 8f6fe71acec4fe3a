"""Values from data or errors are escaped for each channel's markup, in the built-in messages and
in custom templates alike: a source value or an error text can never become a link, a
mention, a tag or close a code span. Checked on what reaches a real local server."""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

import pytest

from channel_samples import alert, anomaly_event, channel, failure, message
from detectkit_dagster.channels import CHANNEL_TYPES
from detectkit_dagster.channels.markup import HTML, MARKDOWN, PLAIN, SLACK, TEAMS, TELEGRAM_HTML, TELEGRAM_MARKDOWN

# The issue's example, and the other ways of smuggling a link, a mention or a tag.
HOSTILE = ("x` <!channel> <https://evil.example|Reset your password> `y "
           "[click](https://evil.example) [ref]: https://evil.example "
           '<a href="https://evil.example">tap</a> <b>loud</b> @channel @here entity:&lt;b&gt;')

# What would be live markup in each language if the value went through unescaped.
# Code spans and blocks are left out for the Markdown flavours: nothing inside them is markup there.
LIVE = {
    "slack": [r"<https://evil", r"<!channel>", r"<a href", r"<b>", r"entity:&lt;"],
    "markdown": [r"(?<!\\)\[click(?<!\\)\]\(", r"(?<!\\)\[ref(?<!\\)\]:", r"(?<!\\)<https://evil", r"(?<!\\)<a href",
                 r"(?<!\\)<b>", r"@channel", r"@here", r"entity:&lt;"],
    "teams": [r"\]\(https://evil", r"\]: https://evil"],
    "html": [r'<a href="https://evil', r"<b>loud", r"<!channel>", r"<https://evil", r"entity:&lt;"],
    "telegram_markdown": [r"(?<!\\)\[click\]\(https://evil", r"(?<!\\)\[ref\]"],
}
CODE = re.compile(r"```.*?```|`[^`]*`", re.DOTALL)
HOSTILE_TEMPLATE = "{error_type}: {error_message} (detector {detector_name})"


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def rendered_markup(kind: str, body: dict) -> tuple[str, list[str]]:
    """(markup language, the texts a client renders in it) of one payload."""
    if kind == "slack":
        card = body["attachments"][0]
        return "slack", [card.get("fallback", ""), card["text"], *[f["value"] for f in card.get("fields", [])]]
    if kind in ("mattermost", "webhook"):
        card = body["attachments"][0]
        return "markdown", [card["text"], *[f["value"] for f in card.get("fields", [])]]
    if kind == "discord":
        embed = body["embeds"][0]
        return "markdown", [embed["description"], *[f["value"] for f in embed["fields"]]]
    if kind == "teams":
        return "teams", list(strings(body["attachments"][0]["content"]["body"]))
    if kind == "googlechat":
        return "html", list(strings(body["cardsV2"][0]["card"]["sections"]))
    if kind == "telegram":
        return "html", [body["text"]]
    raise AssertionError(f"no markup check for channel type {kind!r}: add one here")


def live_markup(language: str, texts: list[str]) -> list[str]:
    if language in ("markdown", "telegram_markdown"):
        texts = [CODE.sub("", text) for text in texts]
    return [f"{pattern!r} in {text!r}" for text in texts for pattern in LIVE[language] if re.search(pattern, text)]


MARKUP_CHANNELS = ["slack", "mattermost", "webhook", "discord", "teams", "googlechat", "telegram"]
SLACK_PATH = "/hooks.slack.com/services/T0/B0/XXXX"


def test_every_channel_that_renders_markup_is_checked():
    plain = {"ntfy", "outbox", "email"}  # plain text, a JSON file, and email (checked below)
    assert set(CHANNEL_TYPES) == set(MARKUP_CHANNELS) | plain


def hostile_messages(template: str | None):
    return [
        failure(error_type="ValueError", error_text=HOSTILE, template=template),
        message(anomaly_event(detector=HOSTILE, detector_params=HOSTILE),
                alert(template_consecutive=template) if template else None),
    ]


@pytest.mark.parametrize("template", [None, HOSTILE_TEMPLATE], ids=["built-in", "custom template"])
@pytest.mark.parametrize("kind", MARKUP_CHANNELS)
def test_hostile_values_stay_text_in_every_channel(http_server, kind, template):
    params = ({"bot_token": "1:t", "chat_id": "1", "api_url": http_server.url} if kind == "telegram"
              else {"webhook_url": http_server.url + (SLACK_PATH if kind == "slack" else "/hook")})
    sender = channel("c", kind, **params)
    for msg in hostile_messages(template):
        sender.send(msg)
        language, texts = rendered_markup(kind, http_server.last.json())
        assert any("evil.example" in text for text in texts), "the hostile value is not shown at all"
        assert live_markup(language, texts) == []


@pytest.mark.parametrize("template", [None, HOSTILE_TEMPLATE], ids=["built-in", "custom template"])
def test_telegram_markdown_mode_escapes_values(http_server, template):
    sender = channel("tg", "telegram", bot_token="1:t", chat_id="1", api_url=http_server.url, parse_mode="Markdown")
    for msg in hostile_messages(template):
        sender.send(msg)
        text = http_server.last.json()["text"]
        assert "evil.example" in text and live_markup("telegram_markdown", [text]) == []


@pytest.mark.parametrize("template", [None, HOSTILE_TEMPLATE], ids=["built-in", "custom template"])
def test_email_html_part_escapes_values(smtp_server, template):
    sender = channel("mail", "email", smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                     from_email="a@example.com", to_emails=["b@example.com"], security="none")
    for msg in hostile_messages(template):
        sender.send(msg)
        card = smtp_server.messages[-1].message.get_body(("html",)).get_content()
        assert "evil.example" in card and live_markup("html", [card]) == []


def test_slack_code_span_is_not_closed_by_a_backtick_in_the_value(http_server):
    channel("c", "slack", webhook_url=http_server.url + SLACK_PATH).send(failure(error_text=HOSTILE))
    fields = {f["title"]: f["value"] for f in http_server.last.json()["attachments"][0]["fields"]}
    error = fields["Error"]
    assert error.startswith("`") and error.endswith("`") and "`" not in error[1:-1]


# -- the renderers themselves ----------------------------------------------------------------------

ISSUE_VALUE = "x` <!channel> <https://evil.example|Reset your password> `y"


@pytest.mark.parametrize("markup, expected", [
    (SLACK, "`xˋ &lt;!channel&gt; &lt;https://evil.example|Reset your password&gt; ˋy`"),
    (MARKDOWN, "`xˋ <!channel> <https://evil.example|Reset your password> ˋy`"),
    (TELEGRAM_HTML, "<code>x` &lt;!channel&gt; &lt;https://evil.example|Reset your password&gt; `y</code>"),
    (HTML, "<code>x` &lt;!channel&gt; &lt;https://evil.example|Reset your password&gt; `y</code>"),
])
def test_code_spans_hold_the_value_literally(markup, expected):
    assert markup.code(ISSUE_VALUE) == expected


@pytest.mark.parametrize("markup, value, expected", [
    (SLACK, "a & b <!here>", "a &amp; b &lt;!here&gt;"),
    (MARKDOWN, "[x](y) *b* _i_ @all", "\\[x\\](y) \\*b\\* \\_i\\_ @\u2060all"),
    (TEAMS, "[x](y)", "]\u200b(".join(["[x", "y)"])),
    (TELEGRAM_HTML, '<a href="y">x</a> & co', '&lt;a href="y"&gt;x&lt;/a&gt; &amp; co'),
    (TELEGRAM_MARKDOWN, "[x](y) a_b *c* `d`", "\\[x](y) a\\_b \\*c\\* \\`d\\`"),
    (PLAIN, "<b>[x](y)</b>", "<b>[x](y)</b>"),
])
def test_text_escapes(markup, value, expected):
    assert markup.text(value) == expected


def test_template_context_escapes_text_but_keeps_numbers_and_mentions():
    context = {"error_message": "<b>", "value": 1.5, "mentions": "<!here>", "mentions_line": "\n<!here>"}
    assert SLACK.context(context) == {"error_message": "&lt;b&gt;", "value": 1.5, "mentions": "<!here>",
                                      "mentions_line": "\n<!here>"}


def test_ntfy_and_outbox_carry_the_value_as_plain_text(http_server, tmp_path):
    channel("n", "ntfy", server=http_server.url, topic="t0pic").send(failure(error_text=HOSTILE))
    assert HOSTILE in http_server.last.json()["message"]
    channel("o", "outbox", tmp_path).send(failure(error_text=HOSTILE))
    (written,) = (tmp_path / "o").glob("*.json")
    assert HOSTILE in json.loads(written.read_text())["text"]
