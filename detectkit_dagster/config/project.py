"""Project-level files: `detectkit_project.yml`, `profiles.yml`, and metric discovery.

Each file is read and checked on its own terms here; checks that need a detector, a channel, a
query template or the partitioning run in `detectkit_dagster.project`, above those packages.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from .alert import check_timezone
from .envvars import from_env, interpolate
from .errors import ConfigError, describe_validation_error, near_miss, shown
from .metric import MetricConfig
from .profiles import DEFAULT_PROFILES, ProfilesConfig

log = logging.getLogger(__name__)

PROJECT_FILE = "detectkit_project.yml"
PROFILES_FILE = "profiles.yml"
DEFAULT_HELP_URL = "https://dtk.pipelab.dev/guides/reading-alerts/"


class ErrorAlerting(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    channels: list[str] = Field(default_factory=list)
    template: str | None = None
    mentions: list[str] = Field(default_factory=list)
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return check_timezone(value)


# detectkit_project.yml keys of detectkit that have no effect here, and why.
DETECTKIT_ONLY_KEYS = {
    "version": "a label only",
    "tables": "stored tables are named per metric under storage_dir",
    "timeouts": "set connect_timeout and query_timeout per profile in profiles.yml",
}

UNUSED_PATHS = {
    "sql": "query_file paths are relative to the project folder",
    "templates": "alert templates are set in the metric files",
}


class DuckDBStore(BaseModel):
    """The embedded store: one DuckDB file per metric in the folder `path`."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["duckdb"]
    path: str = "data/detectkit"


class PostgresStore(BaseModel):
    """The shared store: every metric's tables in one PostgreSQL schema."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    type: Literal["postgres", "postgresql"]
    dsn: SecretStr
    schema_name: str = Field(default="detectkit", alias="schema")
    connect_timeout: int = Field(default=10, ge=1, le=300)
    statement_timeout_seconds: int = Field(default=300, ge=1)

    @field_validator("dsn", mode="before")
    @classmethod
    def _dsn(cls, value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("expected a connection string, e.g. dsn: ${DETECTKIT_STORE_DSN}")
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict  # libpq's own parser

        try:
            params = conninfo_to_dict(value)
        except ProgrammingError:
            raise ValueError("not a PostgreSQL connection string (postgresql://user@host:5432/db or "
                             "'host=... dbname=...')") from None
        if params.get("password") and not from_env(value):
            raise ValueError("a password written in the file: put the connection string in an environment "
                             "variable, dsn: ${DETECTKIT_STORE_DSN}")
        return value

    @field_validator("schema_name")
    @classmethod
    def _schema(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", value):
            raise ValueError("schema must be a plain identifier (letters, digits, '_'; at most 63 characters)")
        if value.lower().startswith("pg_"):
            raise ValueError("schema names starting with pg_ are reserved by PostgreSQL")
        return value


Store = Annotated[Union[DuckDBStore, PostgresStore], Field(discriminator="type")]
STORE_TYPES = ("duckdb", "postgres", "postgresql")


class ProjectConfig(BaseModel):
    """`detectkit_project.yml`. Keys of detectkit we have no use for are accepted with a warning."""

    model_config = ConfigDict(extra="ignore")
    name: str = "detectkit"
    default_profile: str | None = None    # used when profiles.yml names none
    source_profile: str | None = None     # detectkit 0.67: where metric SQL runs by default
    paths: dict[str, str] = Field(default_factory=dict)  # only `metrics` is used
    alert_help_url: str | bool | None = None
    error_alerting: ErrorAlerting = Field(default_factory=ErrorAlerting)
    storage_dir: str = "data/detectkit"  # shorthand of storage: {type: duckdb, path: ...}
    storage: Store | None = None
    reports_dir: str = "reports"
    outbox_dir: str = "outbox"
    report_self_contained: bool = False
    report_base_url: str | None = None  # where reports_dir is served (a web server or bucket)
    executor: Literal["in_process", "multiprocess"] = "in_process"

    @field_validator("storage", mode="before")
    @classmethod
    def _store_type(cls, value: Any) -> Any:
        if isinstance(value, dict) and value.get("type") not in STORE_TYPES:
            got = f", got {shown(value['type'])}" if "type" in value else ""
            raise ValueError("type must be duckdb (one file per metric, on this machine) or postgres "
                             f"(one schema shared by every machine that runs the project){got}")
        return value

    @model_validator(mode="after")
    def _one_storage(self) -> "ProjectConfig":
        if self.storage is not None and "storage_dir" in self.model_fields_set:
            raise ValueError("give storage or its shorthand storage_dir, not both")
        return self

    @property
    def store(self) -> DuckDBStore | PostgresStore:
        """Where the tables live: `storage`, else DuckDB files under `storage_dir`."""
        return self.storage or DuckDBStore(type="duckdb", path=self.storage_dir)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not re.fullmatch(r"[\w\- ]+", value):
            raise ValueError("project name may contain letters, digits, '_', '-' and spaces")
        return value

    @field_validator("report_base_url")
    @classmethod
    def _report_url(cls, value: str | None) -> str | None:
        if value is not None and not value.strip().startswith(("http://", "https://")):
            raise ValueError(f"report_base_url must start with http:// or https://, got {value!r}")
        return value.strip() if value else None

    @field_validator("alert_help_url")
    @classmethod
    def _http_url(cls, value: str | bool | None) -> str | bool | None:
        if isinstance(value, str) and value.strip() and not value.strip().startswith(("http://", "https://")):
            raise ValueError(f"alert_help_url must start with http:// or https://, got {value!r}")
        return value

    @property
    def help_url(self) -> str | None:
        if self.alert_help_url is False:
            return None
        if isinstance(self.alert_help_url, str) and self.alert_help_url.strip():
            return self.alert_help_url.strip()
        return DEFAULT_HELP_URL


@dataclass(frozen=True)
class Project:
    """Everything a code location needs, loaded and validated."""

    root: Path
    config: ProjectConfig
    profiles: ProfilesConfig
    metrics: tuple[MetricConfig, ...]
    disabled: tuple[str, ...] = field(default=())

    def profile_for(self, metric: MetricConfig):
        """Where the metric's SQL runs: its `source_profile`, the project's `source_profile`
        (detectkit 0.67), its `profile`, the default profile, else the first profile."""
        name = (metric.source_profile or self.config.source_profile or metric.profile
                or self.profiles.default_profile or self.config.default_profile
                or next(iter(self.profiles.profiles)))
        return name, self.profiles.profiles[name]

    def path(self, relative: str) -> Path:
        path = Path(relative)
        return path if path.is_absolute() else self.root / path

    @property
    def storage_dir(self) -> Path:
        """The folder of the DuckDB files (the embedded store)."""
        store = self.config.store
        return self.path(store.path if isinstance(store, DuckDBStore) else self.config.storage_dir)

    @property
    def reports_dir(self) -> Path:
        return self.path(self.config.reports_dir)

    @property
    def outbox_dir(self) -> Path:
        return self.path(self.config.outbox_dir)

    def metric(self, name: str) -> MetricConfig:
        for metric in self.metrics:
            if name in (metric.name, metric.key):
                return metric
        raise KeyError(name)


def default_project_dir() -> Path:
    """$DETECTKIT_PROJECT_DIR, else the working directory (never a fallback elsewhere)."""
    return Path(os.environ.get("DETECTKIT_PROJECT_DIR") or Path.cwd())


class _Loader(yaml.SafeLoader):
    """YAML's safe subset, refusing a key given twice in one mapping (YAML keeps the last one,
    so a second `detectors: []` would silently win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults` then overriding a key is the point of a merge
            key = self.construct_object(key_node, deep=True)
            try:
                seen = key in first_line
            except TypeError:
                continue  # an unhashable key: the base class reports it
            if seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first given at line {first_line[key] + 1})",
                    key_node.start_mark)
            first_line[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


def read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(path, f"invalid YAML{where}: {problem}") from None


def _validate(model: type[BaseModel], data: Any, path: Path):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(path, describe_validation_error(exc, model)) from None


def _load_interpolated(path: Path) -> dict:
    data = read_yaml(path) or {}
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a mapping of fields, got {type(data).__name__}")
    try:
        return interpolate(data)
    except ValueError as exc:  # an unset variable, or a template that is not env_var()
        raise ConfigError(path, str(exc)) from None


def load_project_config(root: Path) -> ProjectConfig:
    path = root / PROJECT_FILE
    if not path.exists():
        return ProjectConfig()
    data = _load_interpolated(path)
    unknown = sorted(str(key) for key in set(data) - set(ProjectConfig.model_fields))
    for key in unknown:
        if key in DETECTKIT_ONLY_KEYS:
            log.warning("%s: %s: accepted for detectkit compatibility, not used (%s)",
                        path, key, DETECTKIT_ONLY_KEYS[key])
            continue
        hint = near_miss(key, ProjectConfig.model_fields)
        if hint:
            raise ConfigError(path, f"{key}: unknown field{hint}")
        log.info("%s: ignoring key %r (not used by detectkit-dagster)", path, key)
    config = _validate(ProjectConfig, data, path)
    outbox = (root / config.outbox_dir).resolve()
    if not outbox.is_relative_to(root.resolve()):
        raise ConfigError(path, f"outbox_dir: {shown(config.outbox_dir)} is outside the project folder {root}")
    for key in sorted(set(config.paths) - {"metrics"}):
        log.warning("%s: paths.%s: accepted for detectkit compatibility, not used (%s)", path, key,
                    UNUSED_PATHS.get(key, "only paths.metrics is read"))
    return config


def load_profiles(root: Path) -> ProfilesConfig:
    path = root / PROFILES_FILE
    if not path.exists():
        return DEFAULT_PROFILES
    profiles = _validate(ProfilesConfig, _load_interpolated(path), path)
    if not profiles.profiles:
        profiles = profiles.model_copy(update={"profiles": DEFAULT_PROFILES.profiles})
    for name, profile in profiles.profiles.items():
        for note in getattr(profile, "unused_fields", list)():
            log.warning("%s: profiles.%s.%s", path, name, note)
    if profiles.default_profile and profiles.default_profile not in profiles.profiles:
        raise ConfigError(path, f"default_profile: no profile named {shown(profiles.default_profile)}"
                                f"{near_miss(profiles.default_profile, profiles.profiles)}")
    return profiles


def load_metric(path: Path, root: Path) -> MetricConfig:
    data = read_yaml(path)
    if data is None:
        raise ConfigError(path, "empty metric config file")
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a mapping of metric fields, got {type(data).__name__}")
    if isinstance(data.get("metric"), dict):
        data = data["metric"]
    metric = _validate(MetricConfig, data, path)
    try:
        return metric.bind(path, root)
    except ValueError as exc:
        raise ConfigError(path, str(exc)) from None


def discover_metric_files(root: Path, folder: str = "metrics") -> list[Path]:
    metrics_dir = root / folder
    if not metrics_dir.is_dir():
        raise ConfigError(metrics_dir, "metrics folder not found: put one YAML file per metric there")
    files = [
        p for p in sorted(metrics_dir.rglob("*"))
        if p.suffix in (".yml", ".yaml") and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(metrics_dir).parts)
    ]
    if not files:
        raise ConfigError(metrics_dir, "no metric files (*.yml, *.yaml) found")
    return files


def assemble(root: Path, config: ProjectConfig, profiles: ProfilesConfig,
             loaded: list[MetricConfig]) -> Project:
    """The project from its loaded files: metric names unique, references resolved, disabled
    metrics set aside."""
    metrics: dict[str, MetricConfig] = {}
    disabled = []
    for metric in loaded:
        path = metric.path
        twin = metrics.get(metric.key)
        if twin is not None and twin.name == metric.name:
            raise ConfigError(path, f"duplicate metric name {metric.name!r}: already defined in {twin.path}")
        if twin is not None:
            raise ConfigError(path, f"metric name {metric.name!r} and {twin.name!r} (in {twin.path}) map to the "
                                    f"same asset key {metric.key!r} ('-' and other characters become '_'); "
                                    "rename one of them")
        metrics[metric.key] = metric
    for metric in list(metrics.values()):
        _check_references(metric, profiles)
        if not metric.enabled:
            disabled.append(metric.name)
            del metrics[metric.key]
    _check_error_channels(config, profiles, root)
    _check_project_profiles(config, profiles, root)
    return Project(root, config, profiles, tuple(metrics.values()), tuple(disabled))


def _check_references(metric: MetricConfig, profiles: ProfilesConfig) -> None:
    name = metric.source_name
    if name is not None and name not in profiles.profiles:
        field_name = "source_profile" if metric.source_profile else "profile"
        raise ConfigError(metric.path, f"{field_name}: no profile named {name!r} in {PROFILES_FILE}"
                                       f"{near_miss(name, profiles.profiles)}")
    for index, alert in enumerate(metric.alerts):
        for channel in alert.channels:
            if channel not in profiles.alert_channels:
                raise ConfigError(
                    metric.path,
                    f"alerting[{index}].channels: no channel named {channel!r} under alert_channels "
                    f"in {PROFILES_FILE}{near_miss(channel, profiles.alert_channels)}",
                )


def _check_project_profiles(config: ProjectConfig, profiles: ProfilesConfig, root: Path) -> None:
    for field_name in ("source_profile", "default_profile"):
        name = getattr(config, field_name)
        if name is not None and name not in profiles.profiles:
            raise ConfigError(root / PROJECT_FILE, f"{field_name}: no profile named {name!r} in {PROFILES_FILE}"
                                                   f"{near_miss(name, profiles.profiles)}")


def _check_error_channels(config: ProjectConfig, profiles: ProfilesConfig, root: Path) -> None:
    for channel in config.error_alerting.channels:
        if channel not in profiles.alert_channels:
            raise ConfigError(root / PROJECT_FILE, f"error_alerting.channels: no channel named {shown(channel)}"
                                                   f"{near_miss(channel, profiles.alert_channels)}")
