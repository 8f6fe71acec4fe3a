"""`profiles.yml`: where metric SQL runs (sources) and where alerts go (channels).

Server profiles take detectkit 0.29's field names, so a detectkit `profiles.yml` loads
unchanged: `host`, `port`, `user`, `password`, `database`, `data_database` / `data_schema`
(where the metric tables live), `internal_database` / `internal_schema` (where detectkit
keeps its own tables: here state lives in the project's store, so they are accepted and
reported as unused) and `settings` (driver or server settings). Every server profile also
has two client-side deadlines: `connect_timeout` and `query_timeout` (seconds, the total of
connecting, running the query and reading its rows).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator

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


# Keyword arguments of PyMySQL's connect() a profile may set under `settings` (detectkit
# passes `settings` there); ours own the connection, the deadlines and the time zone.
MYSQL_SETTINGS = (
    "charset", "collation", "sql_mode", "init_command", "ssl", "ssl_ca", "ssl_cert", "ssl_key",
    "ssl_key_password", "ssl_disabled", "ssl_verify_cert", "ssl_verify_identity", "unix_socket",
    "program_name", "local_infile", "max_allowed_packet", "auth_plugin_map", "server_public_key",
    "bind_address", "autocommit",
)


class DuckDBProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["duckdb"]
    path: str = "data/source.duckdb"


class ServerProfile(BaseModel):
    """The fields every database server profile shares (detectkit's names, plus deadlines)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    host: str = "localhost"
    user: str | None = None
    password: SecretStr | None = None
    database: str | None = None
    internal_database: str | None = None
    internal_schema: str | None = None
    data_database: str | None = None
    data_schema: str | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    connect_timeout: int = Field(default=10, ge=1, le=3600)
    query_timeout: int = Field(default=300, ge=1, le=86_400)

    UNUSED: ClassVar[dict[str, str]] = {
        "internal_database": "state lives in the project's store, storage_dir",
        "internal_schema": "state lives in the project's store, storage_dir",
    }

    @property
    def connect_seconds(self) -> int:
        """Connecting is part of the query's total time, so it never gets longer than that."""
        return min(self.connect_timeout, self.query_timeout)

    def unused_fields(self) -> list[str]:
        """'field: why' for each field that is set but has no effect on this profile type."""
        return [f"{name}: not used ({why})" for name, why in self.UNUSED.items() if getattr(self, name)]

    @field_validator("port", check_fields=False)
    @classmethod
    def _port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            raise ValueError(f"port must be between 1 and 65535, got {value}")
        return value

    @field_validator("password", mode="before")
    @classmethod
    def _digits_are_text(cls, value: Any) -> Any:
        # An unquoted numeric password is a YAML int: take its digits, never echo it.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("settings")
    @classmethod
    def _scalar_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key)):
                raise ValueError(f"settings: {key!r} is not a setting name")
            if not isinstance(item, (str, int, float, bool)) and not (key == "ssl" and isinstance(item, dict)):
                raise ValueError(f"settings.{key}: expected a number, text or true/false")
        return value


class PostgresProfile(ServerProfile):
    """`settings` are libpq connection parameters (sslmode, application_name, ...);
    `data_schema` becomes the search path, so unqualified table names resolve there."""

    type: Literal["postgres", "postgresql"]
    dsn: SecretStr | None = None
    port: int = 5432
    database: str | None = Field(default=None, validation_alias=AliasChoices("database", "dbname"))
    query_timeout: int = Field(default=300, ge=1, le=86_400,
                               validation_alias=AliasChoices("query_timeout", "statement_timeout_seconds"))
    UNUSED: ClassVar[dict[str, str]] = {
        **ServerProfile.UNUSED,
        "internal_database": "PostgreSQL profiles use internal_schema in detectkit",
        "data_database": "PostgreSQL profiles name the database with `database`",
    }


class ClickHouseProfile(ServerProfile):
    """The native protocol (port 9000), as detectkit's clickhouse-driver. `settings` are
    ClickHouse settings sent with every query; `data_database` is the default database."""

    type: Literal["clickhouse"]
    port: int = 9000
    secure: bool = False
    UNUSED: ClassVar[dict[str, str]] = {
        **ServerProfile.UNUSED,
        "internal_schema": "ClickHouse has no schemas",
        "data_schema": "ClickHouse has no schemas; use data_database",
    }


class MySQLProfile(ServerProfile):
    """MySQL and MariaDB. `settings` are PyMySQL connect() options (charset, ssl, ...);
    `database` (else `data_database`) is the default database."""

    type: Literal["mysql", "mariadb"]
    port: int = 3306
    UNUSED: ClassVar[dict[str, str]] = {
        **ServerProfile.UNUSED,
        "internal_schema": "MySQL has no schemas",
        "data_schema": "MySQL has no schemas; use data_database",
    }

    @field_validator("settings")
    @classmethod
    def _known_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if key not in MYSQL_SETTINGS:
                raise ValueError(f"settings.{key}: not a MySQL connection option{near_miss(key, MYSQL_SETTINGS)}. "
                                 f"Allowed: {', '.join(MYSQL_SETTINGS)}")
        return value


Profile = Annotated[
    Union[DuckDBProfile, PostgresProfile, ClickHouseProfile, MySQLProfile], Field(discriminator="type")]


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
