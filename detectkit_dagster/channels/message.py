"""What one alert says, whatever the channel: `AlertMessage` and its template context (spec §7-8.2).

Timestamps are naive UTC throughout; they are converted only for display.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Mapping, Sequence
from zoneinfo import ZoneInfo

import numpy as np

from detectkit_dagster.config.alert import AlertConfig
from detectkit_dagster.timegrid import format_interval

HELP_LABEL = "How to read this alert"
KINDS = ("anomaly", "recovery", "no_data", "error")


@dataclass(frozen=True)
class Status:
    """How a kind of message presents itself (spec §8.2)."""

    label: str     # the `{status}` template variable
    word: str      # short status word (Telegram title, email pill)
    heading: str   # title after the dot: "<heading>: <metric>"
    color: str
    emoji: str

    @property
    def color_int(self) -> int:
        return int(self.color[1:], 16)


STATUS = {
    "anomaly": Status("ANOMALY", "Anomaly", "Alert", "#D63232", "\U0001F534"),
    "recovery": Status("RECOVERED", "Recovered", "Alert cleared", "#36A64F", "\U0001F7E2"),
    "no_data": Status("NO_DATA", "No data", "No data", "#F0AD4E", "\U0001F7E1"),
    "error": Status("ERROR", "Pipeline error", "Pipeline error", "#5A7A8C", "\U0001F535"),
}


@dataclass(frozen=True)
class AlertMessage:
    """Everything a channel needs to render and deliver one alert.

    Holds the raw facts; `context()` derives the template variables of spec §8.1 from them.
    `template` is the custom body chosen for this message (spec §5.7), None for the default.
    """

    kind: str                                  # anomaly / recovery / no_data / error
    event_id: str                              # stable: receivers de-duplicate with it
    metric: str
    timestamp: datetime                        # naive UTC
    project: str | None = None
    timezone: str | None = None                # display zone; None = naive UTC, no suffix
    value: float | None = None
    confidence_lower: float | None = None
    confidence_upper: float | None = None
    detector_name: str = ""
    detector_params: str = ""
    detector_count: int = 1
    direction: str = "none"
    severity: float = 0.0
    consecutive_count: int = 1
    onset: datetime | None = None
    streak_capped: bool = False
    min_detectors: int | None = None
    direction_policy: str | None = None
    consecutive_required: int | None = None
    interval_seconds: int | None = None
    description: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    mentions: tuple[str, ...] = ()
    dashboard_url: str | None = None
    links: tuple[tuple[str, str], ...] = ()    # (label, url) in configured order
    help_url: str | None = None
    template: str | None = None
    # detectkit 0.67 fraction rule
    fired_by_share: bool = False
    window_points: int | None = None
    window_matched: int | None = None
    min_anomaly_share: float | None = None
    window_seconds: int | None = None
    test: bool = False                         # a `test-alert` mock: every title says so

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"message kind must be one of {', '.join(KINDS)}, got {self.kind!r}")

    @property
    def status(self) -> Status:
        return STATUS[self.kind]

    @property
    def title(self) -> str:
        """`🔴 [payments] Alert: api_errors` (spec §8.2)."""
        return f"{self.status.emoji} {self.project_prefix}{self.status.heading}: {self.metric}"

    @property
    def project_prefix(self) -> str:
        return ("[TEST] " if self.test else "") + (f"[{self.project}] " if self.project else "")

    @property
    def has_value(self) -> bool:
        return not _missing(self.value)

    @property
    def value_display(self) -> str:
        return format_number(self.value) if self.has_value else "no data"

    @property
    def quorum_display(self) -> str:
        """`2 detectors flagged (1 required) · up`: how many agreed, how many the rule needs."""
        count = self.detector_count
        required = _first(self.min_detectors, count)
        return (f"{count} {'detector' if count == 1 else 'detectors'} flagged ({required} required) "
                f"\u00b7 {self.direction}")

    @property
    def expected_range(self) -> str:
        return expected_range(self.confidence_lower, self.confidence_upper)

    @property
    def rule_display(self) -> str:
        """`min_detectors=M · direction=P · consecutive=C`, plus the fraction rule when set."""
        text = (f"min_detectors={_first(self.min_detectors, self.detector_count)} · "
                f"direction={_first(self.direction_policy, self.direction)} · "
                f"consecutive={_first(self.consecutive_required, self.consecutive_count)}")
        return text + self._share_rule(" (or {})")

    def _share_rule(self, wrap: str) -> str:
        if self.min_anomaly_share is None or not self.window_seconds:
            return ""
        return wrap.format(f"share>={self.min_anomaly_share * 100:g}% over {format_interval(self.window_seconds)}")

    def link_list(self, dashboard_label: str = "Dashboard", *, with_help: bool = True) -> list[tuple[str, str]]:
        """Dashboard, the extra links in order, then the help link."""
        found = [(dashboard_label, self.dashboard_url)] if self.dashboard_url else []
        found += list(self.links)
        if with_help and self.help_url:
            found.append((HELP_LABEL, self.help_url))
        return found

    def display_time(self, moment: datetime | None) -> str:
        return display_time(moment, self.timezone)

    def context(self, mentions: str | None = None) -> dict[str, Any]:
        """Template variables (spec §8.1, 14.7). `mentions` is already formatted for the channel;
        None formats them the base way (`@name`)."""
        if mentions is None:
            mentions = " ".join(f"@{name}" for name in self.mentions)
        timestamp = self.display_time(self.timestamp)
        timing = self._timing()
        return {
            "event_id": self.event_id,
            "kind": self.kind,
            "metric_name": self.metric,
            "project_name": self.project or "",
            "project_name_prefix": self.project_prefix,
            "timestamp": timestamp,
            "timezone": self.timezone,
            "value": float(self.value) if self.has_value else "no data",
            "value_display": self.value_display,
            "confidence_lower": self.confidence_lower,
            "confidence_upper": self.confidence_upper,
            "confidence_interval": confidence_interval(self.confidence_lower, self.confidence_upper),
            "expected_range": self.expected_range,
            "detector_name": self.detector_name,
            "detector_params": self.detector_params,
            "detector_count": self.detector_count,
            "min_detectors": _first(self.min_detectors, self.detector_count),
            "quorum_display": self.quorum_display,
            "consecutive_required": _first(self.consecutive_required, self.consecutive_count),
            "direction": self.direction,
            "direction_policy": _first(self.direction_policy, self.direction),
            "severity": self.severity,
            "consecutive_count": self.consecutive_count,
            "interval_display": self._interval_display,
            **timing,
            "streak_capped": self.streak_capped,
            "onset_display": self.display_time(self.onset),
            "window_line": self._window_line(timestamp, timing["started_display"]),
            "rule_display": self.rule_display,
            "window_points": self.window_points,
            "window_matched": self.window_matched,
            "status": self.status.label,
            "error_type": self.error_type or "",
            "error_message": self.error_message or "",
            "description": self.description or "",
            "description_line": f"{self.description}\n" if self.description else "",
            "dashboard_url": self.dashboard_url or "",
            "dashboard_line": f"Dashboard: {self.dashboard_url}\n" if self.dashboard_url else "",
            "help_url": self.help_url or "",
            "help_line": f"{HELP_LABEL}: {self.help_url}\n" if self.help_url else "",
            "help_label": HELP_LABEL,
            "mentions": mentions,
            "mentions_line": f"\n{mentions}" if mentions else "",
        }

    @property
    def _interval_display(self) -> str:
        return format_interval(self.interval_seconds) if self.interval_seconds else ""

    def _timing(self) -> dict[str, str]:
        streak = self.consecutive_count or 0
        onset = self.display_time(self.onset)
        if not (self.interval_seconds and streak >= 1):
            required = _first(self.consecutive_required, self.consecutive_count)
            return {
                "duration_display": "",
                "streak_display": str(streak) if streak else "",
                "started_display": onset,
                "anomaly_lead": f"Latest {self.consecutive_count}/{required} consecutive points met the quorum.",
                "recovery_lead": "The alert condition no longer holds \u2014 the metric is back within expected bounds.",
            }
        capped = self.streak_capped
        duration = ("over " if capped else "") + format_duration(streak * self.interval_seconds)
        count = f"{streak}+" if capped else str(streak)
        run = f"{count} consecutive {self._interval_display} {'interval' if streak == 1 else 'intervals'}"
        anomaly_lead = f"Anomalous for {duration} \u2014 {run}."
        if self.fired_by_share and self.window_points:
            # A share-fired alert is not a consecutive run: lead with the share rule instead.
            anomaly_lead = (f"Anomalous in {self.window_matched} of the last {self.window_points} "
                            f"{self._interval_display} intervals{self._share_rule(' ({})')}.")
        return {
            "duration_display": duration,
            "streak_display": count,
            "started_display": onset + (" or earlier" if capped and onset else ""),
            "anomaly_lead": anomaly_lead,
            "recovery_lead": ("The alert condition no longer holds \u2014 the metric is back within "
                              f"expected bounds. Incident lasted {duration} ({run})."),
        }

    def _window_line(self, timestamp: str, started: str) -> str:
        if self.onset is not None and self.kind == "anomaly":
            return f"Started: {started} | Latest: {timestamp}\n"
        if self.onset is not None and self.kind == "recovery":
            return f"Started: {started} | Cleared: {timestamp}\n"
        label = {"recovery": "Cleared at", "no_data": "Expected at"}.get(self.kind, "Detected at")
        return f"{label}: {timestamp}\n"


# -- display helpers -------------------------------------------------------------------------


def _first(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _bounded(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def format_number(value: float) -> str:
    """A number for people: 4 significant digits below 1,000 (`0.06004`, `12.5`, `115`), whole
    numbers with thousands separators above (`12,346`), scientific notation when tiny."""
    value = float(value)
    if not math.isfinite(value) or value == 0:
        return "0" if value == 0 else str(value)
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude < -4:
        return f"{value:.3g}"
    text = f"{value:,.{max(0, 3 - magnitude)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def expected_range(lower: float | None, upper: float | None) -> str:
    """`[lo, hi]`, `>= lo`, `<= hi` or `N/A`; NaN and ±inf count as unbounded."""
    if _bounded(lower) and _bounded(upper):
        return f"[{format_number(lower)}, {format_number(upper)}]"
    if _bounded(lower):
        return f">= {format_number(lower)}"
    if _bounded(upper):
        return f"<= {format_number(upper)}"
    return "N/A"


def confidence_interval(lower: float | None, upper: float | None) -> str:
    return "N/A" if lower is None or upper is None else f"[{lower:.2f}, {upper:.2f}]"


def format_duration(seconds: float) -> str:
    """600 -> `10m`, 9000 -> `2h 30m`, 86460 -> `1d 1m`: at most two parts, seconds dropped."""
    total = round(seconds)
    if total <= 0:
        return "0m"
    if total < 60:
        return f"{total}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if total >= size and len(parts) < 2:
            parts.append(f"{total // size}{unit}")
            total %= size
    return " ".join(parts)


def display_time(moment: datetime | None, zone: str | None) -> str:
    """`YYYY-MM-DD HH:MM:SS`, converted from UTC and suffixed `(Zone)` when a zone is set."""
    if moment is None:
        return ""
    if not zone:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    try:
        local = moment.replace(tzinfo=UTC).astimezone(ZoneInfo(zone))
    except (KeyError, ValueError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"timezone {zone!r} is not an IANA time zone name") from None
    return f"{local:%Y-%m-%d %H:%M:%S} ({zone})"


def naive_utc(value: Any) -> datetime | None:
    """A timestamp from an event row (datetime, numpy/pandas time, epoch ms, ISO text) as naive UTC."""
    if value is None:
        return None
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            return None
        value = value.astype("datetime64[ms]").astype(datetime)
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = datetime(1970, 1, 1) + timedelta(milliseconds=int(value))
    elif isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


# -- builders ----------------------------------------------------------------------------------


def _template_for(kind: str, streak: int, alert: AlertConfig) -> str | None:
    """Spec §5.7: single vs consecutive by the true streak, each falling back to the other."""
    if kind == "anomaly":
        pair = (alert.template_single, alert.template_consecutive)
        first, second = pair if streak <= 1 else pair[::-1]
        return first if first is not None else second
    return alert.template_recovery if kind == "recovery" else alert.template_no_data


def _block_fields(alert: AlertConfig, interval_seconds: int, project: str | None,
                  help_url: str | None, description: str | None) -> dict[str, Any]:
    """The parts of a message that come from the alert block and the metric, not the event."""
    return {
        "project": project or None,
        "timezone": alert.timezone,
        "interval_seconds": interval_seconds,
        "description": description or None,
        "mentions": tuple(alert.mentions),
        "dashboard_url": alert.dashboard_url or None,
        "links": tuple(alert.links.items()),
        "help_url": help_url or None,
        "min_anomaly_share": alert.min_anomaly_share,
        "window_seconds": alert.window_seconds,
    }


def message_for_event(event: Mapping[str, Any], *, project: str | None, metric: str,
                      description: str | None, interval_seconds: int, alert: AlertConfig,
                      help_url: str | None) -> AlertMessage:
    """The message for one stored alert event row (columns of alerting.events.EVENT_SCHEMA).

    An optional `detector_params` key is shown as the Parameters line; event rows do not store it.
    """
    kind = event["kind"]
    streak = int(event.get("consecutive") or 0)
    rule = {} if kind == "no_data" else {  # a no-data alert has no rule (spec §5.4)
        "min_detectors": alert.min_detectors,
        "direction_policy": alert.direction,
        "consecutive_required": alert.consecutive_anomalies,
    }
    return AlertMessage(
        kind=kind,
        event_id=str(event["event_id"]),
        metric=metric,
        timestamp=naive_utc(event["timestamp"]),
        value=_float(event.get("value")),
        confidence_lower=_float(event.get("confidence_lower")),
        confidence_upper=_float(event.get("confidence_upper")),
        # a recovery names the detectors that fired during the incident, when the replay kept them
        detector_name=(kind == "recovery" and event.get("incident_detectors")) or event.get("detector") or "",
        detector_params=event.get("detector_params") or "",
        detector_count=int(event.get("detector_count") or 1),
        direction=event.get("direction") or "none",
        severity=float(event.get("severity") or 0.0),
        consecutive_count=streak,
        onset=naive_utc(event.get("onset")),
        fired_by_share=bool(event.get("fired_by_share")),
        window_points=event.get("window_points"),
        window_matched=event.get("window_matched"),
        template=_template_for(kind, streak, alert),
        **rule,
        **_block_fields(alert, interval_seconds, project, help_url, description),
    )


def error_message(*, project: str | None, metric: str, error_type: str, error_text: str, at: datetime,
                  mentions: Sequence[str] = (), template: str | None = None, timezone: str | None = None,
                  help_url: str | None = None) -> AlertMessage:
    """A pipeline-failure alert (spec §10); shown in UTC unless a zone is given."""
    at = naive_utc(at)
    return AlertMessage(
        kind="error",
        event_id=_digest("error", project, metric, error_type, at.isoformat(timespec="seconds")),
        metric=metric,
        timestamp=at,
        project=project or None,
        timezone=timezone or "UTC",
        detector_name="pipeline",
        consecutive_count=0,
        error_type=error_type,
        error_message=error_text,
        mentions=tuple(mentions),
        help_url=help_url or None,
        template=template,
    )


def _mock_direction(alert: AlertConfig) -> str:
    if alert.direction in ("up", "down"):
        return alert.direction
    return "mixed" if alert.direction == "any" and alert.min_detectors >= 2 else "up"


def test_message(*, project: str | None, metric: str, description: str | None, interval_seconds: int,
                 alert: AlertConfig, help_url: str | None, now: datetime) -> AlertMessage:
    """The `test-alert` mock (spec §7.5): fixed numbers, the block's rule, shown in UTC by default."""
    now = naive_utc(now)
    required = alert.consecutive_anomalies
    fields = _block_fields(alert, interval_seconds, project, help_url, description)
    return AlertMessage(
        kind="anomaly",
        event_id="test-" + _digest("test", project, metric, alert.config_id, now.isoformat()),
        metric=metric,
        timestamp=now,
        value=0.8532,
        confidence_lower=0.4521,
        confidence_upper=0.6234,
        detector_name="MADDetector:threshold=3.0",
        detector_params='{"threshold": 3.0, "window_size": 8640}',
        detector_count=alert.min_detectors,
        direction=_mock_direction(alert),
        severity=4.52,
        consecutive_count=required,
        onset=now - timedelta(seconds=(required - 1) * interval_seconds),
        min_detectors=alert.min_detectors,
        direction_policy=alert.direction,
        consecutive_required=required,
        template=alert.template_consecutive,
        test=True,
        **(fields | {"timezone": alert.timezone or "UTC"}),
    )


# pytest would otherwise try to collect the public `test_message` where it is imported.
test_message.__test__ = False  # type: ignore[attr-defined]
