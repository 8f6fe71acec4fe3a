"""Sample alert events and messages, built the way the dispatch sensor builds them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from detectkit_dagster.channels import AlertMessage, build_channel, error_message, message_for_event
from detectkit_dagster.config.alert import AlertConfig
from detectkit_dagster.config.profiles import ChannelConfig

HELP = "https://dtk.pipelab.dev/guides/reading-alerts/"
MENTIONS = ["here", "U12345678", "bob", "12345"]
PARAMS = 'mad: {"threshold":3.0}; zscore: {"threshold":3.0}'

# The rendered example of spec §8.4 (Email plain part), byte for byte.
SPEC_ANOMALY = (
    "\U0001F534 [payments] Alert: api_errors\n"
    "API 5xx rate\n"
    "Anomalous for 2h 30m \u2014 15 consecutive 10min intervals.\n"
    "Rule: min_detectors=2 \u00b7 direction=same \u00b7 consecutive=3\n"
    "\n"
    "Value: 115 | Expected: >= 90\n"
    "Quorum: 2 detectors flagged (2 required) \u00b7 up\n"
    "Severity: 4.00\n"
    "Started: 2024-01-01 03:10:00 (Europe/Moscow) | Latest: 2024-01-01 05:30:00 (Europe/Moscow)\n"
    "Detectors: 2 detectors\n"
    'Parameters: mad: {"threshold":3.0}; zscore: {"threshold":3.0}\n'
    "Dashboard: https://grafana.example/d/x\n"
    "How to read this alert: https://dtk.pipelab.dev/guides/reading-alerts/\n"
    "\n"
    "CC: U12345678, bob, 12345"
)


def alert(**fields: Any) -> AlertConfig:
    """A block; templates skip load-time validation so the runtime fallback can be exercised."""
    base = {"channels": ["ops"], "min_detectors": 2, "timezone": "Europe/Moscow", "mentions": MENTIONS,
            "dashboard_url": "https://grafana.example/d/x"}
    templates = {k: fields.pop(k) for k in list(fields) if k.startswith("template_")}
    return AlertConfig(**(base | fields)).model_copy(update=templates)


def anomaly_event(**fields: Any) -> dict[str, Any]:
    """Spec §8.4's example: 15 points on a 10-minute grid, upper bound NaN, as the sensor passes it."""
    return {
        "kind": "anomaly", "timestamp": "2024-01-01 02:30:00", "event_id": "3f2a9c1d0e4b5a6f",
        "config_id": "95d72fa1172adadd", "onset": "2024-01-01 00:10:00", "consecutive": 15,
        "direction": "up", "severity": 4.0, "value": 115.0, "confidence_lower": 90.0,
        "confidence_upper": float("nan"), "detector": "2 detectors", "detectors": "a1,b2", "detector_count": 2,
        "rule": "", "fired_by_share": False, "window_points": None, "window_matched": None,
        "window_share": None, "alert_index": 0, "sendable": True, "hold_reason": None,
        "detector_params": PARAMS,
    } | fields


def recovery_event(**fields: Any) -> dict[str, Any]:
    return {
        "kind": "recovery", "timestamp": datetime(2024, 1, 1, 1, 40), "event_id": "77aa77aa77aa77aa",
        "onset": datetime(2024, 1, 1, 1, 0), "consecutive": 4, "direction": None, "severity": 0.0,
        "value": 100.0, "confidence_lower": 80.0, "confidence_upper": 120.0, "detector": "mad",
        "detectors": "a1", "detector_count": 1,
    } | fields


def no_data_event(**fields: Any) -> dict[str, Any]:
    return {
        "kind": "no_data", "timestamp": datetime(2024, 1, 1, 2, 30), "event_id": "00dd00dd00dd00dd",
        "onset": None, "consecutive": 0, "direction": None, "severity": 0.0, "value": None,
        "confidence_lower": None, "confidence_upper": None, "detector": "no_data", "detector_count": 1,
    } | fields


def message(event: dict[str, Any] | None = None, block: AlertConfig | None = None, *,
            description: str | None = "API 5xx rate", project: str | None = "payments",
            help_url: str | None = HELP) -> AlertMessage:
    return message_for_event(event or anomaly_event(), project=project, metric="api_errors",
                             description=description, interval_seconds=600, alert=block or alert(),
                             help_url=help_url)


def failure(**fields: Any) -> AlertMessage:
    args = {"project": "payments", "metric": "api_errors", "error_type": "ConnectionError",
            "error_text": "source down", "at": datetime(2024, 1, 1, 2, 30), "mentions": [], "template": None,
            "timezone": None, "help_url": None}
    return error_message(**(args | fields))


def channel(name: str, type: str, tmp: Path | None = None, **params: Any):
    return build_channel(name, ChannelConfig(type=type, **params), tmp or Path("."))
