"""One `alerting` block of a metric YAML: the detectkit 0.29 fields plus the 0.67 fraction rule.

Everything the reference only checks when an alert is about to be sent (cooldown grammar,
`suppress_until` format, time zone name) is checked here, when the file loads.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..timegrid import format_interval, parse_interval

# Accepted spellings of `suppress_until` (detectkit 0.67); the date-only form means midnight UTC.
SUPPRESS_UNTIL_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")

_DIRECTION_TEXT = {"same": "same direction", "any": "any direction", "up": "up only", "down": "down only"}


def parse_suppress_until(text: str) -> datetime:
    """Naive-UTC deadline from one of SUPPRESS_UNTIL_FORMATS, or ValueError naming the value."""
    for fmt in SUPPRESS_UNTIL_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
    raise ValueError(
        f"suppress_until {text!r} is not a UTC time; use 'YYYY-MM-DD HH:MM:SS', "
        "'YYYY-MM-DDTHH:MM:SS', 'YYYY-MM-DD HH:MM' or 'YYYY-MM-DD'"
    )


def check_timezone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(
            f"timezone {value!r} is not an IANA time zone name (e.g. 'UTC', 'Europe/Berlin')"
        ) from None
    return value


def _interval_seconds(field: str, value: str | int) -> int:
    try:
        return parse_interval(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{field} {value!r} is not a duration ({exc}); use whole seconds as a number "
            "(1800) or <number><unit> such as '30min', '1h', '1d'"
        ) from None


def _is_http_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


class AlertConfig(BaseModel):
    """An alert rule and where its messages go. Field names and defaults are detectkit's."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    suppress_until: str | None = None
    timezone: str | None = None
    channels: list[str] = Field(default_factory=list)
    min_detectors: int = Field(default=1, ge=1)
    direction: Literal["same", "any", "up", "down"] = "same"
    consecutive_anomalies: int = Field(default=3, ge=1)
    no_data_alert: bool = False
    template_single: str | None = None  # message templates are checked by the project loader
    template_consecutive: str | None = None
    alert_cooldown: str | int | None = None
    cooldown_reset_on_recovery: bool = True
    notify_on_recovery: bool = False
    template_recovery: str | None = None
    template_no_data: str | None = None
    mentions: list[str] = Field(default_factory=list)
    dashboard_url: str | None = None
    links: dict[str, str] = Field(default_factory=dict)
    # detectkit 0.67 fraction rule; both or neither.
    anomaly_window: str | int | None = None
    min_anomaly_share: float | None = None
    # Recovery hysteresis: this many consecutive calm points before the metric counts as
    # recovered (and the cooldown is lifted); 1 = the first calm point, as detectkit.
    recovery_consecutive: int = Field(default=1, ge=1)
    # Severity of the Dagster asset check that reports this block's anomalies.
    check_severity: Literal["WARN", "ERROR"] = "WARN"

    # -- validation -------------------------------------------------------------------------

    @field_validator("suppress_until", mode="before")
    @classmethod
    def _suppress_until(cls, value: Any) -> Any:
        # YAML turns an unquoted 2026-12-01 into a date: accept it, store the canonical text.
        if isinstance(value, datetime):
            if value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            return value.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, date):
            return value.strftime("%Y-%m-%d")
        if isinstance(value, str):
            if not value.strip():
                return None
            parse_suppress_until(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        return check_timezone(value)

    @field_validator("alert_cooldown", mode="before")
    @classmethod
    def _alert_cooldown(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"alert_cooldown must be a duration such as '30min', got {value!r}")
        if not value:  # null, 0 and "" all mean "no cooldown" in detectkit
            return None
        if isinstance(value, (str, int)):
            _interval_seconds("alert_cooldown", value)
        return value

    @field_validator("anomaly_window", mode="before")
    @classmethod
    def _anomaly_window(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"anomaly_window must be a duration such as '6h', got {value!r}")
        if isinstance(value, (str, int)):
            _interval_seconds("anomaly_window", value)
        return value

    @field_validator("check_severity", mode="before")
    @classmethod
    def _check_severity(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("dashboard_url")
    @classmethod
    def _dashboard_url(cls, value: str | None) -> str | None:
        if value and not _is_http_url(value):
            raise ValueError(f"dashboard_url must start with http:// or https://, got {value!r}")
        return value

    @field_validator("links")
    @classmethod
    def _links(cls, value: dict[str, str]) -> dict[str, str]:
        for label, url in value.items():
            if not _is_http_url(url):
                raise ValueError(f"links[{label!r}] must start with http:// or https://, got {url!r}")
        return value

    @model_validator(mode="after")
    def _fraction_rule(self) -> AlertConfig:
        if (self.anomaly_window is None) != (self.min_anomaly_share is None):
            raise ValueError("anomaly_window and min_anomaly_share must be set together")
        share = self.min_anomaly_share
        if share is not None and not 0 < share <= 1:
            raise ValueError(f"min_anomaly_share must be in (0, 1], got {share!r}")
        return self

    def validate_against_interval(self, interval_seconds: int) -> None:
        """The fraction window must span at least two metric intervals (else it is one point)."""
        window = self.window_seconds
        if window is not None and window < 2 * interval_seconds:
            raise ValueError(
                f"anomaly_window {self.anomaly_window!r} must span at least 2 intervals of the "
                f"metric ({format_interval(2 * interval_seconds)} for a "
                f"{format_interval(interval_seconds)} interval)"
            )

    # -- derived values ----------------------------------------------------------------------

    @property
    def is_active(self) -> bool:
        """detectkit skips a block that is disabled or has nowhere to send."""
        return self.enabled and bool(self.channels)

    @property
    def cooldown_seconds(self) -> int | None:
        return None if self.alert_cooldown is None else parse_interval(self.alert_cooldown)

    @property
    def window_seconds(self) -> int | None:
        return None if self.anomaly_window is None else parse_interval(self.anomaly_window)

    def window_points(self, interval_seconds: int) -> int | None:
        """Grid slots in the fraction window (detectkit floors, with a minimum of one)."""
        window = self.window_seconds
        return None if window is None else max(1, window // interval_seconds)

    @property
    def suppress_until_utc(self) -> datetime | None:
        """The suppression deadline as a naive-UTC datetime."""
        return None if self.suppress_until is None else parse_suppress_until(self.suppress_until)

    @property
    def config_id(self) -> str:
        """detectkit's state key: md5 of the compact, key-sorted JSON of the rule fields, 16 hex."""
        fields: dict[str, Any] = {
            "channels": sorted(self.channels),
            "min_detectors": self.min_detectors,
            "direction": self.direction,
            "consecutive_anomalies": self.consecutive_anomalies,
            "alert_cooldown": str(self.alert_cooldown) if self.alert_cooldown else None,
            "cooldown_reset_on_recovery": self.cooldown_reset_on_recovery,
        }
        # The fraction pair and the recovery hysteresis join the key only when set, so older ids
        # stay unchanged.
        if self.anomaly_window is not None:
            fields["anomaly_window"] = str(self.anomaly_window)
            fields["min_anomaly_share"] = self.min_anomaly_share
        if self.recovery_consecutive != 1:
            fields["recovery_consecutive"] = self.recovery_consecutive
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.md5(text.encode("utf-8")).hexdigest()[:16]

    def rule_text(self, detector_count: int | None = None) -> str:
        """The rule in words, e.g. "≥2 of 3 detectors, same direction, 3 consecutive points,
        cooldown 30min" (the detector count only when given)."""
        quorum = f"≥{self.min_detectors}"
        quorum += f" of {detector_count} detectors" if detector_count else (
            " detectors" if self.min_detectors > 1 else " detector"
        )
        chain = (
            "1 point" if self.consecutive_anomalies == 1
            else f"{self.consecutive_anomalies} consecutive points"
        )
        if self.min_anomaly_share is not None:
            chain += f" or ≥{self.min_anomaly_share * 100:g}% of {format_interval(self.window_seconds)}"
        parts = [quorum, _DIRECTION_TEXT[self.direction], chain]
        if self.recovery_consecutive > 1:
            parts.append(f"recovered after {self.recovery_consecutive} calm points")
        if self.cooldown_seconds:
            cooldown = f"cooldown {format_interval(self.cooldown_seconds)}"
            if not self.cooldown_reset_on_recovery:
                cooldown += " (kept through recovery)"
            parts.append(cooldown)
        return ", ".join(parts)
