"""From a `profiles.yml` channel entry to a channel object: parameter checks and construction.

Every channel comes wrapped: whatever fails inside `send` leaves it as one DeliveryError whose
text holds none of the channel's secrets, so logs, cursors and run metadata never do either.
"""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from detectkit_dagster.channels import discord, googlechat, mail, ntfy, outbox, teams, telegram, webhook
from detectkit_dagster.channels.message import AlertMessage
from detectkit_dagster.channels.params import MAX_TIMEOUT, Param, resolve, timeout_of
from detectkit_dagster.channels.scrub import scrub, secrets_of
from detectkit_dagster.channels.transport import DEFAULT_TIMEOUT
from detectkit_dagster.config.profiles import ChannelConfig, check_channel_name
from detectkit_dagster.errors import DeliveryError

log = logging.getLogger(__name__)


class Channel(Protocol):
    name: str

    def send(self, message: AlertMessage) -> None:
        """Deliver the message or raise DeliveryError."""


@dataclass(frozen=True)
class Guarded:
    """A channel whose failures are all DeliveryError, scrubbed of the channel's secrets.

    Other attributes are the wrapped channel's."""

    channel: Channel
    secrets: tuple[str, ...] = field(repr=False)

    def __getattr__(self, name: str):
        return getattr(self.channel, name)

    def send(self, message: AlertMessage) -> None:
        try:
            self.channel.send(message)
        except DeliveryError as exc:
            raise DeliveryError(scrub(str(exc), self.secrets), retryable=exc.retryable) from None
        except Exception as exc:  # noqa: BLE001 - a failure of ours must not leak a secret either
            label = f"{self.channel.type} channel {self.channel.name!r}"
            text = f"{label}: {type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
            raise DeliveryError(scrub(text, self.secrets), retryable=isinstance(exc, OSError)) from None


Values = Mapping[str, Any]


def _webhook_family(kind: str) -> Callable[[str, Values, Path], Channel]:
    def build(name: str, v: Values, _: Path) -> Channel:
        extra = {key: v[key] for key in ("extra_headers", "template", "format", "secret") if key in v}
        return webhook.WebhookChannel(
            name=name, type=kind, webhook_url=v["webhook_url"].strip(), username=v["username"],
            icon_url=v["icon_url"], icon_emoji=v["icon_emoji"], channel=v["channel"],
            timeout=timeout_of(name, kind, v, DEFAULT_TIMEOUT), **extra)
    return build


def _telegram(name: str, v: Values, _: Path) -> Channel:
    return telegram.TelegramChannel(
        name=name, bot_token=v["bot_token"], chat_id=v["chat_id"], parse_mode=v["parse_mode"],
        disable_notification=v["disable_notification"], template=v["template"], api_url=v["api_url"],
        timeout=timeout_of(name, "telegram", v, DEFAULT_TIMEOUT))


def _email(name: str, v: Values, _: Path) -> Channel:
    security = v["security"] or ("starttls" if v["use_tls"] else "ssl")
    return mail.EmailChannel(
        name=name, smtp_host=v["smtp_host"], smtp_port=v["smtp_port"], from_email=v["from_email"],
        to_emails=tuple(mail.recipients(v["to_emails"])), smtp_username=v["smtp_username"],
        smtp_password=v["smtp_password"], security=security, subject_template=v["subject_template"],
        from_name=v["from_name"], template=v["template"], timeout=timeout_of(name, "email", v, DEFAULT_TIMEOUT))


def _discord(name: str, v: Values, _: Path) -> Channel:
    return discord.DiscordChannel(name=name, webhook_url=v["webhook_url"].strip(), username=v["username"],
                                  avatar_url=v["avatar_url"], timeout=timeout_of(name, "discord", v, DEFAULT_TIMEOUT))


def _teams(name: str, v: Values, _: Path) -> Channel:
    return teams.TeamsChannel(name=name, webhook_url=v["webhook_url"].strip(),
                              timeout=timeout_of(name, "teams", v, DEFAULT_TIMEOUT))


def _googlechat(name: str, v: Values, _: Path) -> Channel:
    return googlechat.GoogleChatChannel(name=name, webhook_url=v["webhook_url"].strip(), icon_url=v["icon_url"],
                                        timeout=timeout_of(name, "googlechat", v, DEFAULT_TIMEOUT))


def _ntfy(name: str, v: Values, _: Path) -> Channel:
    if v["password"] is not None and v["user"] is None:
        raise ValueError(f"alert channel {name!r} (type ntfy): param 'password' needs 'user'")
    return ntfy.NtfyChannel(name=name, topic=v["topic"], server=v["server"], token=v["token"], user=v["user"],
                            password=v["password"], priority=v["priority"],
                            timeout=timeout_of(name, "ntfy", v, DEFAULT_TIMEOUT))


def _outbox(name: str, v: Values, outbox_dir: Path) -> Channel:
    return outbox.OutboxChannel(name=name, directory=Path(outbox_dir) / name)


# type -> (parameter schema, constructor)
REGISTRY: dict[str, tuple[Mapping[str, Param], Callable[[str, Values, Path], Channel]]] = {
    "slack": (webhook.COMMON_PARAMS, _webhook_family("slack")),
    "mattermost": (webhook.COMMON_PARAMS, _webhook_family("mattermost")),
    "telegram": (telegram.PARAMS, _telegram),
    "email": (mail.PARAMS, _email),
    "webhook": (webhook.WEBHOOK_PARAMS, _webhook_family("webhook")),
    "discord": (discord.PARAMS, _discord),
    "teams": (teams.PARAMS, _teams),
    "googlechat": (googlechat.PARAMS, _googlechat),
    "ntfy": (ntfy.PARAMS, _ntfy),
    "outbox": (outbox.PARAMS, _outbox),
}
CHANNEL_TYPES = tuple(REGISTRY)


def _checked(name: str, config: ChannelConfig) -> tuple[str, dict[str, Any]]:
    kind = config.type.lower()
    if kind not in REGISTRY:
        match = difflib.get_close_matches(kind, list(REGISTRY), n=1, cutoff=0.6)
        hint = f" (did you mean {match[0]!r}?)" if match else ""
        raise ValueError(f"alert channel {name!r}: unknown type {config.type!r}{hint}. "
                         f"Allowed types: {', '.join(CHANNEL_TYPES)}")
    schema, _ = REGISTRY[kind]
    values = resolve(name, kind, config.params, schema)
    timeout_of(name, kind, values, DEFAULT_TIMEOUT)  # both spellings given is an error too
    return kind, values


def build_channel(name: str, config: ChannelConfig, outbox_dir: Path) -> Channel:
    """The channel object for one `alert_channels` entry; ValueError names the bad parameter."""
    check_channel_name(name)
    kind, values = _checked(name, config)
    schema, build = REGISTRY[kind]
    secret = [key for key, param in schema.items() if param.secret]
    return Guarded(build(name, values, outbox_dir), secrets_of(values, secret))


def validate_channel(name: str, config: ChannelConfig) -> None:
    """The checks of build_channel, for when profiles.yml loads."""
    build_channel(name, config, Path("."))
    asked = [v for k, v in config.params.items() if k in ("timeout_seconds", "timeout")]
    if asked and asked[0] > MAX_TIMEOUT:
        log.warning("alert channel %r: timeout %gs is above the %gs a send may take in one dispatch tick; "
                    "%gs is used", name, asked[0], MAX_TIMEOUT, MAX_TIMEOUT)
