"""`profiles.yml`: where metric SQL runs (sources) and where alerts go (channels)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from .errors import near_miss, shown

CHANNEL_TYPES = (
    "slack", "mattermost", "telegram", "email", "webhook",
    "discord", "teams", "googlechat", "ntfy", "outbox",
)

# A channel name names its folder in the outbox and appears in messages: an identifier only.
CHANNEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,99}")


def check_channel_name(name: Any) -> str:
    if not isinstance(name, str) or not CHANNEL_NAME.fullmatch(name):
        raise ValueError(f"channel name {shown(name)} must start with a letter or '_' and contain only "
                         "letters, digits, '_' and '-' (at most 100 characters)")
    return name


class DuckDBProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["duckdb"]
    path: str = "data/source.duckdb"


class PostgresProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    type: Literal["postgres", "postgresql"]
    dsn: SecretStr | None = None
    host: str = "localhost"
    port: int = 5432
    user: str | None = None
    password: SecretStr | None = None
    database: str | None = Field(default=None, alias="dbname")
    connect_timeout: int = Field(default=10, ge=1)
    statement_timeout_seconds: int = Field(default=300, ge=1)


Profile = Annotated[Union[DuckDBProfile, PostgresProfile], Field(discriminator="type")]


class ChannelConfig(BaseModel):
    """One entry of `alert_channels`; the channel type checks its own parameters."""

    model_config = ConfigDict(extra="allow")
    type: str

    @field_validator("type")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in CHANNEL_TYPES:
            raise ValueError(f"unknown channel type {shown(value)}{near_miss(value, CHANNEL_TYPES)}. "
                             f"Allowed: {', '.join(CHANNEL_TYPES)}")
        return value

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ProfilesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default_profile: str | None = None
    profiles: dict[str, Profile] = Field(default_factory=dict)
    alert_channels: dict[str, ChannelConfig] = Field(default_factory=dict)

    @field_validator("alert_channels")
    @classmethod
    def _channel_names(cls, channels: dict[str, ChannelConfig]) -> dict[str, ChannelConfig]:
        for name in channels:
            check_channel_name(name)
        return channels


DEFAULT_PROFILES = ProfilesConfig(profiles={"default": DuckDBProfile(type="duckdb")})
