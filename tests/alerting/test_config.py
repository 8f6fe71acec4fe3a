"""AlertConfig: detectkit 0.29 fields, config_id, and validation at load with clear messages."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pydantic import ValidationError

from detectkit_dagster.config.alert import AlertConfig


def error_of(**block) -> str:
    with pytest.raises(ValidationError) as info:
        AlertConfig(**block)
    return str(info.value)


# -- config_id (spec §1.3 self-check values) ---------------------------------------------------


def test_config_id_self_check_values():
    assert AlertConfig(channels=["slack_ops", "mm"], alert_cooldown="30min").config_id == "7418e41bb31d4a0e"
    assert AlertConfig(channels=["mm"]).config_id == "95d72fa1172adadd"
    assert AlertConfig(channels=["mm"], alert_cooldown=1800).config_id == "2448a8a94501b279"


def test_config_id_ignores_presentation_fields_and_keeps_cooldown_spelling():
    base = AlertConfig(channels=["mm"], alert_cooldown="30min")
    other = AlertConfig(
        channels=["mm"], alert_cooldown="30min", enabled=False, notify_on_recovery=True, no_data_alert=True,
        timezone="Europe/Berlin", mentions=["here"], template_single="{metric_name}", check_severity="ERROR",
    )
    assert base.config_id == other.config_id
    assert AlertConfig(channels=["mm"], alert_cooldown=1800).config_id != base.config_id  # "1800" vs "30min"
    assert AlertConfig(channels=["mm", "mm"]).config_id != AlertConfig(channels=["mm"]).config_id  # duplicates kept


def test_config_id_falsy_cooldowns_mean_none():
    none_id = AlertConfig(channels=["mm"]).config_id
    assert AlertConfig(channels=["mm"], alert_cooldown=0).config_id == none_id
    assert AlertConfig(channels=["mm"], alert_cooldown="").config_id == none_id


def test_config_id_fraction_pair_joins_only_when_set():
    plain = AlertConfig(channels=["mm"])
    pair = AlertConfig(channels=["mm"], anomaly_window="6h", min_anomaly_share=0.5)
    assert pair.config_id != plain.config_id
    assert AlertConfig(channels=["mm"], anomaly_window="21600s", min_anomaly_share=0.5).config_id != pair.config_id


# -- validation ---------------------------------------------------------------------------------


def test_bad_direction():
    message = error_of(direction="Up")
    assert "direction" in message and "'same', 'any', 'up' or 'down'" in message


@pytest.mark.parametrize("field", ["min_detectors", "consecutive_anomalies"])
def test_counts_must_be_at_least_one(field):
    assert "greater than or equal to 1" in error_of(**{field: 0})


@pytest.mark.parametrize("bad", ["1800", "30 minutes please", "1w", "-5min", True])
def test_bad_cooldown_names_the_value(bad):
    message = error_of(alert_cooldown=bad)
    assert "alert_cooldown" in message and repr(bad) in message


def test_cooldown_forms():
    assert AlertConfig(alert_cooldown="30min").cooldown_seconds == 1800
    assert AlertConfig(alert_cooldown=1800).cooldown_seconds == 1800
    assert AlertConfig(alert_cooldown=" 2H ").cooldown_seconds == 7200
    assert AlertConfig().cooldown_seconds is None


@pytest.mark.parametrize("text, expected", [
    ("2026-12-01 08:30:15", datetime(2026, 12, 1, 8, 30, 15)),
    ("2026-12-01T08:30:15", datetime(2026, 12, 1, 8, 30, 15)),
    ("2026-12-01 08:30", datetime(2026, 12, 1, 8, 30)),
    ("2026-12-01", datetime(2026, 12, 1)),
    (date(2026, 12, 1), datetime(2026, 12, 1)),            # YAML reads an unquoted date as a date
    (datetime(2026, 12, 1, 8, 30), datetime(2026, 12, 1, 8, 30)),
])
def test_suppress_until_formats(text, expected):
    assert AlertConfig(suppress_until=text).suppress_until_utc == expected


@pytest.mark.parametrize("bad", ["01.12.2026", "2026-12-01 8pm", "tomorrow", "2026-13-01"])
def test_bad_suppress_until(bad):
    message = error_of(suppress_until=bad)
    assert "suppress_until" in message and bad in message and "YYYY-MM-DD HH:MM:SS" in message


def test_timezone_must_be_iana():
    assert AlertConfig(timezone="Europe/Moscow").timezone == "Europe/Moscow"
    assert "IANA" in error_of(timezone="Mars/Olympus")
    assert "IANA" in error_of(timezone="../etc/passwd")


def test_urls_must_be_http():
    assert "dashboard_url" in error_of(dashboard_url="ftp://grafana")
    message = error_of(links={"Runbook": "https://ok", "Logs": "javascript:alert(1)"})
    assert "links['Logs']" in message and "http://" in message
    assert AlertConfig(dashboard_url="", links={"Docs": "http://x"}).links == {"Docs": "http://x"}


def test_unknown_field_is_rejected():
    message = error_of(min_detector=2)
    assert "min_detector" in message and "Extra inputs are not permitted" in message


def test_fraction_rule_pairing_and_range():
    assert "set together" in error_of(anomaly_window="6h")
    assert "set together" in error_of(min_anomaly_share=0.5)
    assert "(0, 1]" in error_of(anomaly_window="6h", min_anomaly_share=0)
    assert "(0, 1]" in error_of(anomaly_window="6h", min_anomaly_share=1.5)
    assert "anomaly_window" in error_of(anomaly_window="six hours", min_anomaly_share=0.5)


def test_window_must_span_two_intervals():
    alert = AlertConfig(anomaly_window="15min", min_anomaly_share=0.5)
    alert.validate_against_interval(450)
    with pytest.raises(ValueError, match="at least 2 intervals"):
        alert.validate_against_interval(600)
    assert alert.window_points(450) == 2
    AlertConfig().validate_against_interval(600)  # nothing to check without the pair


def test_check_severity():
    assert AlertConfig().check_severity == "WARN"
    assert AlertConfig(check_severity="error").check_severity == "ERROR"
    assert "check_severity" in error_of(check_severity="FATAL")


def test_is_active():
    assert AlertConfig(channels=["mm"]).is_active
    assert not AlertConfig(channels=[]).is_active
    assert not AlertConfig(channels=["mm"], enabled=False).is_active


def test_rule_text():
    alert = AlertConfig(min_detectors=2, alert_cooldown="30min")
    assert alert.rule_text(3) == "≥2 of 3 detectors, same direction, 3 consecutive points, cooldown 30min"
    assert AlertConfig(consecutive_anomalies=1, direction="up").rule_text() == "≥1 detector, up only, 1 point"
    fraction = AlertConfig(anomaly_window="6h", min_anomaly_share=0.3, alert_cooldown=1800,
                           cooldown_reset_on_recovery=False, direction="any")
    assert fraction.rule_text() == (
        "≥1 detector, any direction, 3 consecutive points or ≥30% of 6h, cooldown 30min (kept through recovery)"
    )
