"""The metric YAML schema: detectkit 0.29 (plus 0.67 additions) and our `dagster:` block.

Deliberately stricter than detectkit: unknown keys, bad intervals and bad detector
params are rejected when definitions load, not when a run first touches them. What needs the
detectors, the query template engine or the partitioning is checked by the project loader.
"""

from __future__ import annotations

import logging
import math
import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from ..timegrid import EPOCH, parse_interval
from .alert import AlertConfig, check_timezone
from .cron import check_cron

log = logging.getLogger(__name__)
BUILTIN_SEASONALITY = ("day_of_month", "day_of_week", "hour", "is_holiday", "is_weekend", "month")
DETECTOR_TYPES = ("autoreg", "iqr", "mad", "manual_bounds", "prophet", "timesfm", "zscore")
# What `autotune.search_options` can add to the search (all of them with `true`).
SEARCH_OPTIONS = ("spread_floor", "min_change", "clamp", "non_negative", "autoreg", "recovery")
MAX_NAME_LENGTH = 100
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
_TAG = re.compile(r"^[\w-]+$")
Granularity = Literal["hourly", "daily", "weekly", "monthly"]


def check_metric_name(name: str) -> str:
    """detectkit's rule (letters, digits, '_' and '-'), plus a length that file systems and
    databases accept."""
    if not name:
        raise ValueError("metric name cannot be empty")
    bad = next((ch for ch in name if not (ch.isalnum() or ch in "_-")), None)
    if bad is not None:
        raise ValueError(f"metric name {name!r} may contain only letters, digits, '_' and '-' (found {bad!r})")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"metric name is {len(name)} characters long; at most {MAX_NAME_LENGTH} are allowed")
    return name


def metric_key(name: str) -> str:
    """The identifier a metric name maps to for asset keys, table and file names: every
    character other than an ASCII letter, digit or '_' becomes '_', and a name starting with
    a digit gets the prefix 'm_' ('orders-10min' -> 'orders_10min', '5xx' -> 'm_5xx')."""
    key = _KEY_UNSAFE.sub("_", name)
    return f"m_{key}" if key[0].isdigit() else key


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QueryColumns(_Strict):
    timestamp: str = "timestamp"
    metric: str = "value"
    seasonality: list[str] | None = None


class DetectorConfig(_Strict):
    type: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in DETECTOR_TYPES:
            raise ValueError(f"Invalid detector type: {value!r}. Allowed: {', '.join(DETECTOR_TYPES)}")
        return value

    @field_validator("params")
    @classmethod
    def _finite(cls, params: dict[str, Any]) -> dict[str, Any]:
        # YAML's .inf and .nan are numbers to Python, but no detector param means anything by them.
        for name, value in params.items():
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, float) and not math.isfinite(v) for v in values):
                hint = " (leave it out, or set it to null, for no bound)" if name.endswith("bound") else ""
                raise ValueError(f"param {name!r} must be a finite number, got {value!r}{hint}")
        return params


class AutotuneConfig(_Strict):
    """The `autotune:` block: how `detectkit-dagster autotune` searches (not used by detection)."""

    enabled: bool = True
    detector_types: list[Literal["mad", "zscore", "iqr"]] | None = Field(default=None, min_length=1)
    scoring_metric: Literal["mcc", "f1", "f_beta", "balanced_accuracy", "roc_auc", "pr_auc", "event_f1"] = "mcc"
    beta: float = Field(default=1.0, gt=0)
    labels_file: str | None = None
    incidents: list[Any] | None = None
    incidents_timezone: str | None = None
    seasonality_candidates: list[Literal[BUILTIN_SEASONALITY]] | None = None  # type: ignore[valid-type]
    force_seasonality: list[Literal[BUILTIN_SEASONALITY] | list[Literal[BUILTIN_SEASONALITY]]] | None = Field(  # type: ignore[valid-type]
        default=None, min_length=1)
    fixed_params: dict[str, Any] | None = None
    folds: int = Field(default=5, ge=2)
    stability_lambda: float = Field(default=0.5, ge=0)
    max_history: int | None = Field(default=None, ge=1)
    # opt-in: also search the detector options beyond detectkit 0.29 (true = all of them)
    search_options: list[Literal[SEARCH_OPTIONS]] = Field(default_factory=list)  # type: ignore[valid-type]

    @field_validator("search_options", mode="before")
    @classmethod
    def _options(cls, value: Any) -> Any:
        if value is None or value is False:
            return []
        if value is True:
            return list(SEARCH_OPTIONS)
        return [value] if isinstance(value, str) else value  # `search_options: autoreg`

    @field_validator("search_options")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("force_seasonality", mode="before")
    @classmethod
    def _one_column(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value  # `force_seasonality: hour`

    @field_validator("incidents_timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return check_timezone(value)

    @model_validator(mode="after")
    def _labels_xor_incidents(self) -> "AutotuneConfig":
        if self.labels_file and self.incidents:
            raise ValueError("labels_file and incidents are mutually exclusive; set only one")
        if self.incidents_timezone and not self.incidents:
            raise ValueError("incidents_timezone only applies together with incidents")
        return self


class DagsterOptions(_Strict):
    """How the metric appears and runs in Dagster (not part of the detectkit schema)."""

    partitions: Granularity | None = None
    cron: str | None = None
    owners: list[str] = Field(default_factory=list)
    check_severity: Literal["WARN", "ERROR"] = "WARN"
    report_window: int = Field(default=1500, ge=10, le=200_000)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        return None if value is None else check_cron(value)


class TablesConfig(_Strict):
    datapoints: str | None = None
    detections: str | None = None


class MetricConfig(_Strict):
    name: str
    description: str | None = None
    tags: list[str] | None = None
    profile: str | None = None
    source_profile: str | None = None
    query: str | None = None
    query_file: str | None = None
    query_columns: QueryColumns | None = None
    interval: int | str
    loading_start_time: datetime | None = None
    loading_delay: int | str | None = None
    seasonality_columns: list[str] = Field(default_factory=list)
    loading_batch_size: int = Field(default=10000, ge=1, le=1_000_000)
    detectors: list[DetectorConfig] = Field(default_factory=list)
    alerting: list[AlertConfig] | None = None
    tables: TablesConfig | None = None
    autotune: AutotuneConfig | None = None
    enabled: bool = True
    ai_context: str | dict[str, Any] | None = None
    false_alert_budget: float | None = Field(default=None, gt=0, le=1)
    dagster: DagsterOptions = Field(default_factory=DagsterOptions)
    _path: Path | None = PrivateAttr(default=None)
    _sql: str | None = PrivateAttr(default=None)

    @field_validator("name", mode="before")
    @classmethod
    def _valid_name(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"metric name must be text, got {type(value).__name__}")
        return check_metric_name(value)

    @field_validator("tags")
    @classmethod
    def _valid_tags(cls, tags: list[str] | None) -> list[str] | None:
        if tags is None:
            return None
        if not tags:
            raise ValueError("tags list cannot be empty (use null instead)")
        if len(set(tags)) != len(tags):
            raise ValueError("Duplicate tags not allowed")
        for tag in tags:
            if not _TAG.match(tag):
                raise ValueError(f"tag {tag!r} may contain only letters, digits, '_' and '-'")
        return tags

    @field_validator("interval")
    @classmethod
    def _valid_interval(cls, value: int | str) -> int | str:
        parse_interval(value)
        return value

    @field_validator("loading_delay")
    @classmethod
    def _valid_delay(cls, value: int | str | None) -> int | str | None:
        if value in (None, 0, "0", ""):
            return None
        parse_interval(value)
        return value

    @field_validator("loading_start_time", mode="before")
    @classmethod
    def _naive_utc(cls, value: Any) -> Any:
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime(value.year, value.month, value.day)
        if isinstance(value, str):
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if isinstance(value, datetime) and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        if isinstance(value, datetime) and value < EPOCH:
            # The grid and the stored timestamps count milliseconds from the Unix epoch.
            raise ValueError(f"{value.isoformat(sep=' ')} is before the earliest supported start, "
                             f"{EPOCH.isoformat(sep=' ')} UTC")
        return value

    @field_validator("seasonality_columns")
    @classmethod
    def _builtin_columns(cls, columns: list[str]) -> list[str]:
        for column in columns:
            if column not in BUILTIN_SEASONALITY:
                raise ValueError(
                    f"Invalid seasonality column: {column!r}. Allowed: {', '.join(BUILTIN_SEASONALITY)}"
                )
        if len(set(columns)) != len(columns):
            raise ValueError("Duplicate seasonality columns not allowed")
        return columns

    @field_validator("alerting", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _query_source(self) -> "MetricConfig":
        if not self.query and not self.query_file:
            raise ValueError("Either 'query' or 'query_file' must be specified")
        if self.query and self.query_file:
            raise ValueError("Only one of 'query' or 'query_file' can be specified, not both")
        if self.loading_start_time is None:
            raise ValueError(
                "loading_start_time is required: it is where the metric's partitions start "
                "(e.g. loading_start_time: \"2024-01-01 00:00:00\")"
            )
        self._warn_unknown_seasonality()
        for index, alert in enumerate(self.alerting or []):
            try:
                alert.validate_against_interval(self.interval_seconds)
            except ValueError as exc:
                raise ValueError(f"alerting[{index}]: {exc}") from None
            detectors = len(self.detectors)
            if detectors and alert.min_detectors > detectors:
                raise ValueError(
                    f"alerting[{index}].min_detectors: {alert.min_detectors} is more than the metric's "
                    f"{detectors} detector{'s' if detectors > 1 else ''}, so this rule could never fire")
        return self

    def _warn_unknown_seasonality(self) -> None:
        """detectkit silently ignores a component naming a feature the metric does not load."""
        known = set(self.seasonality_features)
        for index, detector in enumerate(self.detectors):
            for component in detector.params.get("seasonality_components") or []:
                names = [component] if isinstance(component, str) else list(component)
                missing = [n for n in names if n not in known]
                if missing:
                    log.warning(
                        "metric %s, detectors[%d]: seasonality component %s uses %s, which the metric does not "
                        "load (seasonality_columns: %s); the component has no effect",
                        self.name, index, component, missing, sorted(known) or "none")

    def bind(self, path: Path, project_root: Path) -> "MetricConfig":
        """Remember the file and read `query_file` (relative to the project root, and inside it)."""
        self._path = path
        if self.query_file:
            root = project_root.resolve()
            query_path = (root / self.query_file).resolve()  # symlinks too: where it really is
            if not query_path.is_relative_to(root):
                raise ValueError(f"query_file: {self.query_file!r} is outside the project folder {root}")
            if not query_path.is_file():
                raise ValueError(f"query_file: file not found: {query_path}")
            self._sql = query_path.read_text()
        else:
            self._sql = self.query
        return self

    @property
    def query_field(self) -> str:
        """The field the SQL came from, for messages."""
        return "query_file" if self.query_file else "query"

    @property
    def key(self) -> str:
        """The metric's identifier in Dagster asset keys and stored table names."""
        return metric_key(self.name)

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def sql(self) -> str:
        return self._sql if self._sql is not None else (self.query or "")

    @property
    def interval_seconds(self) -> int:
        return parse_interval(self.interval)

    @property
    def loading_delay_seconds(self) -> int:
        return parse_interval(self.loading_delay) if self.loading_delay else 0

    @property
    def columns(self) -> QueryColumns:
        return self.query_columns or QueryColumns()

    @property
    def seasonality_features(self) -> list[str]:
        """Feature names stored with datapoints: query-provided ones replace the built-ins."""
        provided = self.columns.seasonality
        return list(provided) if provided else list(self.seasonality_columns)

    @property
    def query_provided_seasonality(self) -> bool:
        return bool(self.columns.seasonality)

    @property
    def source_name(self) -> str | None:
        return self.source_profile or self.profile

    @property
    def alerts(self) -> list[AlertConfig]:
        return list(self.alerting or [])
