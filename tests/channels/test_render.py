"""Message model and rendering: template context, default bodies, safe templates, mentions."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channel_samples import (
    HELP, SPEC_ANOMALY, alert, anomaly_event, failure, message, no_data_event, recovery_event,
)
from detectkit_dagster.channels import AlertMessage, TemplateError, message_text, safe_format, test_message
from detectkit_dagster.channels.message import expected_range, format_duration, format_number
from detectkit_dagster.channels.render import (
    mentions_discord, mentions_email, mentions_googlechat, mentions_plain, mentions_slack, mentions_telegram,
    plain_body,
)

MOMENT = datetime(2024, 1, 1, 2, 30)


def bare(**fields) -> AlertMessage:
    return AlertMessage(**({"kind": "anomaly", "event_id": "e1", "metric": "m", "timestamp": MOMENT} | fields))


# -- default bodies (spec §8.4), byte for byte --------------------------------------------------


def test_anomaly_body_is_the_spec_example():
    msg = message()
    assert message_text(msg, mentions_email(msg.mentions)) == SPEC_ANOMALY


def test_recovery_body():
    msg = message(recovery_event(), alert(timezone=None, min_detectors=1, mentions=[], dashboard_url=None),
                  description=None, help_url=None)
    assert message_text(msg) == (
        "\U0001F7E2 [payments] Alert cleared: api_errors\n"
        "The alert condition no longer holds \u2014 the metric is back within expected bounds. "
        "Incident lasted 40m (4 consecutive 10min intervals).\n"
        "Rule: min_detectors=1 \u00b7 direction=same \u00b7 consecutive=3\n"
        "\n"
        "Value: 100 | Expected: [80, 120]\n"
        "Started: 2024-01-01 01:00:00 | Cleared: 2024-01-01 01:40:00\n"
        "Detectors: mad\n"
    )


def test_no_data_body():
    msg = message(no_data_event(), alert(timezone=None, mentions=["oncall"], dashboard_url=None))
    assert message_text(msg) == (
        "\U0001F7E1 [payments] No data for metric: api_errors\n"
        "API 5xx rate\n"
        "Time: 2024-01-01 02:30:00\n"
        "Status: query returned no datapoint for the latest interval\n"
        f"How to read this alert: {HELP}\n"
        "\n"
        "@oncall"
    )
    assert msg.min_detectors is None and msg.onset is None  # a no-data alert has no rule


def test_error_body_defaults_to_utc():
    assert message_text(failure()) == (
        "\U0001F535 [payments] Pipeline failed for metric: api_errors\n"
        "Time: 2024-01-01 02:30:00 (UTC)\n"
        "Error: ConnectionError: source down\n"
    )


def test_parameters_line_only_when_known():
    # Stored event rows carry no detector parameters; the dispatch layer may add them.
    without = message_text(message(anomaly_event(detector_params=None)))
    assert "Parameters:" not in without
    assert without.replace("Detectors: 2 detectors\n", "") == message_text(message()).replace(
        "Detectors: 2 detectors\nParameters: mad: {\"threshold\":3.0}; zscore: {\"threshold\":3.0}\n", "")


def test_body_without_project_or_title():
    msg = message(no_data_event(), alert(timezone=None, mentions=[]), project=None, description=None,
                  help_url=None)
    context = msg.context()
    assert plain_body(msg, context).startswith("\U0001F7E1 No data for metric: api_errors\nTime:")
    assert plain_body(msg, context, with_title=False) == plain_body(msg, context).split("\n", 1)[1]


# -- template context (spec §8.1) ---------------------------------------------------------------


@pytest.mark.parametrize("seconds, text", [
    (0, "0m"), (59, "59s"), (600, "10m"), (9000, "2h 30m"), (90000, "1d 1h"), (86460, "1d 1m"), (600000, "6d 22h"),
])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_capped_and_intervalless_leads():
    capped = bare(consecutive_count=1000, streak_capped=True, interval_seconds=600, onset=MOMENT)
    assert capped.context()["anomaly_lead"] == "Anomalous for over 6d 22h \u2014 1000+ consecutive 10min intervals."
    assert capped.context()["started_display"] == "2024-01-01 02:30:00 or earlier"
    single = bare(consecutive_count=1, interval_seconds=600)
    assert single.context()["anomaly_lead"] == "Anomalous for 10m \u2014 1 consecutive 10min interval."
    no_grid = bare(consecutive_count=15, consecutive_required=3)
    assert no_grid.context()["anomaly_lead"] == "Latest 15/3 consecutive points met the quorum."


def test_missing_value_and_one_sided_band():
    context = bare(value=float("nan"), confidence_upper=1.5).context()
    assert (context["value"], context["value_display"]) == ("no data", "no data")
    assert context["expected_range"] == "<= 1.5"
    assert context["confidence_interval"] == "N/A"
    assert expected_range(float("-inf"), float("inf")) == "N/A"


def test_context_names_and_fallbacks():
    context = bare(detector_count=2, direction="down", consecutive_count=4).context()
    assert (context["min_detectors"], context["direction_policy"], context["consecutive_required"]) == (2, "down", 4)
    assert context["timezone"] is None and context["timestamp"] == "2024-01-01 02:30:00"
    assert context["status"] == "ANOMALY" and context["window_line"] == "Detected at: 2024-01-01 02:30:00\n"
    assert failure().context()["status"] == "ERROR"


def test_fraction_rule_shows_in_rule_and_lead():
    block = alert(anomaly_window="1h", min_anomaly_share=0.5)
    event = anomaly_event(fired_by_share=True, consecutive=4, window_points=6, window_matched=4)
    context = message(event, block).context()
    assert context["rule_display"].endswith("consecutive=3 (or share>=50% over 1h)")
    assert context["anomaly_lead"] == "Anomalous in 4 of the last 6 10min intervals (share>=50% over 1h)."


# -- template choice (spec §5.7) and custom templates (spec §8.3) -------------------------------


def test_template_choice_by_true_streak():
    block = alert(template_single="single {value}", template_consecutive="run of {consecutive_count}")
    assert message_text(message(anomaly_event(consecutive=1), block)) == "single 115.0"
    assert message_text(message(anomaly_event(consecutive=15), block)) == "run of 15"
    only_single = alert(template_single="S")
    assert message(anomaly_event(consecutive=15), only_single).template == "S"
    assert message(recovery_event(), alert(template_recovery="R")).template == "R"
    assert message(no_data_event(), alert(template_no_data="N")).template == "N"


def test_custom_template_with_format_specs_and_no_automatic_mentions():
    block = alert(template_consecutive="{metric_name}: {value:.1f} vs {expected_range} ({severity:.2f})")
    assert message_text(message(block=block)) == "api_errors: 115.0 vs >= 90 (4.00)"


def test_failing_template_falls_back_to_the_default_body():
    failing = message(no_data_event(), alert(template_no_data="{value:.2f} {nope}"))
    assert message_text(failing) == message_text(message(no_data_event()))


@pytest.mark.parametrize("template", [
    "{metric_name.__class__}", "{metric_name.upper}", "{metric_name[0]}", "{links[x]}", "{0}", "{}",
    "{metric_name!r}", "{value:{width}}", "{value:>999999999}",
])
def test_safe_formatter_refuses_attribute_access_and_indexing(template):
    context = message().context()
    with pytest.raises(TemplateError):
        safe_format(template, context)
    text = message_text(message(block=alert(template_consecutive=template)))
    assert text == message_text(message())  # the default body, nothing evaluated
    assert "class" not in text and "built-in" not in text


def test_escaped_braces_are_text():
    assert safe_format("{{metric_name}} is {metric_name}", {"metric_name": "x"}) == "{metric_name} is x"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="{}[]().:!<>0a_zs2f ", max_size=24))
def test_safe_formatter_only_fails_the_documented_ways(template):
    """Whatever the text, rendering gives a string or a fallback error; never evaluates anything else."""
    try:
        safe_format(template, {"a": 1.5, "z": "x", "a_z": None})
    except (KeyError, ValueError, TypeError):
        pass


# -- mentions (spec §8.5, §14.1) ----------------------------------------------------------------


def test_mentions_per_channel():
    names = ["here", "U12345678", "bob", "12345"]
    assert mentions_slack(names) == "<!here> <@U12345678> @bob @12345"
    assert mentions_plain(names) == "@here @U12345678 @bob @12345"
    assert mentions_telegram(names, html=True) == '@here @U12345678 @bob <a href="tg://user?id=12345">12345</a>'
    assert mentions_telegram(names, html=False) == "@here @U12345678 @bob @12345"
    assert mentions_email(names) == "CC: U12345678, bob, 12345"
    assert mentions_email(["here", "all"]) == ""
    assert mentions_slack(["all", "channel", "everyone", "U1"]) == "<!everyone> <!channel> <!everyone> @U1"


def test_discord_and_google_chat_mentions():
    text, allowed = mentions_discord(["all", "here", "<@123>", "<@&456>", "bob"])
    assert text == "@everyone @here <@123> <@&456> @bob"
    assert allowed == {"parse": ["everyone"], "users": ["123"], "roles": ["456"]}
    assert mentions_discord(["bob"]) == ("@bob", {"parse": []})
    assert mentions_googlechat(["here", "all", "42", "bob"]) == "<users/all> <users/42> @bob"


# -- the other message builders ------------------------------------------------------------------


def test_test_alert_mock_follows_the_block():
    now = datetime(2024, 5, 1, 12, 0)
    block = alert(direction="any", min_detectors=2, consecutive_anomalies=4, timezone=None,
                  template_single="S", template_consecutive="C")
    msg = test_message(project="payments", metric="api_errors", description=None, interval_seconds=600,
                       alert=block, help_url=HELP, now=now)
    assert (msg.value, msg.confidence_lower, msg.confidence_upper, msg.severity) == (0.8532, 0.4521, 0.6234, 4.52)
    assert msg.detector_name == "MADDetector:threshold=3.0" and msg.detector_count == 2
    assert (msg.direction, msg.consecutive_count, msg.consecutive_required) == ("mixed", 4, 4)
    assert msg.onset == now - timedelta(minutes=30) and msg.timezone == "UTC" and msg.template == "C"
    assert msg.event_id.startswith("test-")
    assert "Started: 2024-05-01 11:30:00 (UTC) | Latest: 2024-05-01 12:00:00 (UTC)" in message_text(
        msg.__class__(**{**msg.__dict__, "template": None}))


def test_error_event_id_is_stable():
    assert failure().event_id == failure().event_id
    assert failure().event_id != failure(error_type="TimeoutError").event_id
    assert failure(timezone="Europe/Moscow").context()["timestamp"] == "2024-01-01 05:30:00 (Europe/Moscow)"


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        bare(kind="warning")


def test_check_template_for_load_time_validation():
    from detectkit_dagster.channels import TEMPLATE_VARIABLES, check_template
    assert {"metric_name", "mentions_line", "anomaly_lead", "rule_display", "event_id"} <= set(TEMPLATE_VARIABLES)
    assert check_template("{metric_name}: {value:.2f}") is None
    assert check_template("{metric}") == "unknown variable {metric}"
    assert "not allowed" in check_template("{metric_name.__class__}")
    assert "Single '}'" in check_template("oops }")


@pytest.mark.parametrize("value,text", [
    (0.060041407867494824, "0.06004"), (115.0, "115"), (12.5, "12.5"), (-42.123456, "-42.12"),
    (12345.678, "12,346"), (1234567.0, "1,234,567"), (0.00012345, "0.0001234"), (3e-7, "3e-07"), (0.0, "0"),
])
def test_values_are_rounded_for_reading(value, text):
    assert format_number(value) == text


def test_quorum_is_spelled_out():
    context = message(anomaly_event(), alert(min_detectors=1)).context()
    assert context["quorum_display"] == "2 detectors flagged (1 required) \u00b7 up"
    assert "Quorum: 2 detectors flagged (1 required) \u00b7 up" in message_text(message(anomaly_event(), alert(min_detectors=1)))
