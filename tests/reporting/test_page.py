"""The rendered page: numbers, figure contents, escaping, offline-ness, empty input."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest
from detectkit_dagster.reporting import render_report
from detectkit_dagster.reporting.sample import sample_report_input
from detectkit_dagster.reporting.figure import compact_number
from detectkit_dagster.reporting.page import prepare_page, script_json
from detectkit_dagster.reporting.timeline import build_timeline, to_ms

EVIL = "</script><img src=x onerror=alert(1)>"
START = datetime(2024, 1, 1)  # of the conftest sample, 10-minute points
JS_SRC = "../plotly-test.min.js"


def figure_of(page: str) -> dict:
    block = re.search(r'<script type="application/json" id="report-figure">(.*?)</script>', page, re.S)
    return json.loads(block.group(1))


def csp_of(page: str) -> str:
    return html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1))


def trace(figure: dict, **match) -> dict:
    found = [t for t in figure["data"] if all(t.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, len(found))
    return found[0]


def test_summary_counts(report_input):
    summary = prepare_page(report_input).summary
    assert summary == {
        "points": 12,
        "missing": 2,  # one NaN, one null
        "anomalies": 2,  # distinct timestamps: both detectors flag 5, one also flags 6
        "alerts": 1,
        "recoveries": 1,
        "no_data": 1,
        "detectors": [
            {"detector_id": "aaaa1111bbbb2222", "detector_name": "MADDetector",
             "label": "MADDetector · aaaa1111", "input_type": "values", "anomalies": 1},
            {"detector_id": "cccc3333dddd4444", "detector_name": "ZScoreDetector",
             "label": "ZScoreDetector · cccc3333", "input_type": "changes", "anomalies": 2},
        ],
    }


def test_header_shows_context_numbers_and_rule(report_input):
    page = render_report(report_input, plotly_src=JS_SRC)
    assert "<h1>proj · orders</h1>" in page
    assert "2024-01-01 00:00 – 2024-01-01 01:50 UTC · interval 10min · generated 2024-01-01 02:00 UTC" in page
    assert "Orders per 10 minutes." in page
    assert "<b>12</b>points" in page and "<b>2</b>missing" in page
    assert "<code>min_detectors=1 · direction=any · consecutive=1</code>" in page


def test_value_line_keeps_gaps_on_a_compact_grid(report_input):
    value = trace(figure_of(render_report(report_input, plotly_src=JS_SRC)), name="value")
    assert value["x0"] == to_ms(START) and value["dx"] == 600_000 and "x" not in value
    assert value["connectgaps"] is False
    assert value["y"][3] is None and value["y"][7] is None and value["y"][5] == 150


def test_change_band_is_drawn_around_the_value_line(report_input):
    figure = figure_of(render_report(report_input, plotly_src=JS_SRC))
    edge = trace(figure, uid="band-1")  # ZScoreDetector, input_type changes: bounds ±10 %
    upper, lower = edge["y"], edge["customdata"]
    assert lower[4] is None and upper[4] is None  # previous point missing: no band
    assert (lower[5], upper[5]) == pytest.approx((0.9 * 103, 1.1 * 103))
    assert (lower[6], upper[6]) == pytest.approx((0.9 * 150, 1.1 * 150))
    fill = trace(figure, meta={"band_of": "band-1"})
    assert fill["fill"] == "toself" and fill["legendgroup"] == edge["legendgroup"]


def test_stored_change_bounds_stay_available_on_a_hidden_right_axis(report_input):
    figure = figure_of(render_report(report_input, plotly_src=JS_SRC))
    edge = trace(figure, uid="band-1-processed")
    assert edge["yaxis"] == "y2" and edge["visible"] == "legendonly"
    assert edge["y"][5] == 0.1 and edge["customdata"][5] == -0.1
    assert figure["layout"]["yaxis2"]["visible"] is False
    assert not any(t.get("uid") == "band-0-processed" for t in figure["data"])  # values input: nothing to add


def test_one_legend_group_per_detector_holds_band_anomalies_and_warmup(report_input):
    figure = figure_of(render_report(report_input, plotly_src=JS_SRC))
    group = trace(figure, uid="band-1")["legendgroup"]
    members = [t for t in figure["data"] if t.get("legendgroup") == group]
    assert [t.get("mode") for t in members] == ["lines", "lines", "markers"]
    assert [t.get("showlegend", True) for t in members] == [True, False, False]  # one legend entry
    markers = members[2]
    assert markers["x"] == ["2024-01-01 00:50", "2024-01-01 01:00"] and markers["y"] == [150, 104]
    warmup = [s for s in figure["layout"]["shapes"] if s["legendgroup"] == group]
    assert [(s["x0"], s["x1"]) for s in warmup] == [("2023-12-31 23:55", "2024-01-01 00:25")]


def test_events_are_markers_whose_hover_names_the_rule(report_input):
    figure = figure_of(render_report(report_input, plotly_src=JS_SRC))
    alerts = trace(figure, name="alerts")
    assert alerts["yaxis"] == "y3" and alerts["x"] == ["2024-01-01 00:50"]
    assert "rule: min_detectors=1 · direction=any · consecutive=1" in alerts["text"][0]
    assert "held: suppressed until 2024-01-02" in alerts["text"][0]
    assert trace(figure, name="recoveries")["x"] == ["2024-01-01 01:00"]
    assert trace(figure, name="no-data events")["x"] == ["2024-01-01 00:30"]


def test_events_table_is_newest_first_with_zoom_ranges(report_input):
    page = render_report(report_input, plotly_src=JS_SRC)
    rows = re.findall(r'<tr data-from="([^"]+)" data-to="([^"]+)"', page)
    assert len(rows) == 3
    times = re.findall(r"<td>(2024-01-01 \d\d:\d\d)</td><td><span class=\"kind", page)
    assert times == ["2024-01-01 01:00", "2024-01-01 00:50", "2024-01-01 00:30"]
    assert rows[1] == ("2024-01-01 00:00", "2024-01-01 01:50")  # padded, then clamped to the window
    assert "held: suppressed until 2024-01-02" in page


def test_presets_only_offer_spans_shorter_than_the_window():
    buttons = figure_of(render_report(sample_report_input(), plotly_src=JS_SRC))["layout"]["xaxis"]["rangeselector"]
    assert [b["label"] for b in buttons["buttons"]] == ["24h", "7d", "all"]


def test_user_text_is_escaped_everywhere(report_input):
    evil_events = report_input.events.with_columns(rule=pl.lit(EVIL + " %{y}"), detector=pl.lit("<b>x</b>"))
    report = dataclasses.replace(
        report_input, description=EVIL, project="<i>p</i>", rules=[EVIL], events=evil_events,
        detector_labels={"aaaa1111bbbb2222": EVIL},
    )
    page = render_report(report, plotly_src=JS_SRC)
    assert "<img" not in page and "<i>p" not in page and "<b>x" not in page
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in page
    # Only our own three script elements open and close.
    assert page.count("<script") == 3 and page.count("</script>") == 3
    figure = figure_of(page)
    assert trace(figure, uid="band-0")["name"] == "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
    # Plotly only sees rule text as data for %{text}, never as a template.
    alerts = trace(figure, name="alerts")
    assert "%{y}" in alerts["text"][0] and alerts["hovertemplate"] == "%{text}<extra></extra>"


def test_script_json_cannot_close_its_tag_or_break_a_line():
    text = script_json({"a": "</script><!-- & \u2028\u2029"})
    assert not set("<>&\u2028\u2029") & set(text)
    assert json.loads(text) == {"a": "</script><!-- & \u2028\u2029"}


def test_page_makes_no_network_reference_and_forbids_connections(report_input):
    page = render_report(report_input, plotly_src=JS_SRC)
    assert not re.search(r"https?://|//cdn|fonts\.g", page)
    assert csp_of(page).startswith("default-src 'none'; script-src 'self' file: 'sha256-")
    assert f'<script src="{JS_SRC}"></script>' in page


def test_self_contained_page_inlines_plotly_and_allows_it_by_hash(report_input):
    page = render_report(report_input)
    assert "<script src=" not in page
    assert "plotly.js v" in page and len(page) > 3_000_000
    assert len(re.findall(r"'sha256-[A-Za-z0-9+/=]+'", csp_of(page))) == 2  # bootstrap + plotly


def test_no_datapoints_gives_a_plain_no_data_page(empty_input):
    page = render_report(empty_input)
    assert "No data in this window." in page
    assert "<script" not in page and "report-figure" not in page
    assert "<b>0</b>points" in page and "No events in this window." in page
    assert prepare_page(empty_input).summary["anomalies"] == 0


def test_rows_outside_the_window_are_left_out(report_input):
    window = {"window_start": START + timedelta(minutes=20), "window_end": START + timedelta(minutes=90)}
    report = dataclasses.replace(report_input, **window)
    summary = prepare_page(report).summary
    assert summary["points"] == 8 and summary["missing"] == 2 and summary["alerts"] == 1


def test_optional_columns_may_be_absent(report_input):
    detections = report_input.detections.select(
        "detector_id", "timestamp", "value", "confidence_lower", "confidence_upper", "is_anomaly"
    )
    events = report_input.events.select("kind", "timestamp")
    page = render_report(dataclasses.replace(report_input, detections=detections, events=events), plotly_src=JS_SRC)
    assert trace(figure_of(page), uid="band-0")["name"] == "aaaa1111bbbb2222 · aaaa1111"


def test_a_missing_required_column_is_named(report_input):
    with pytest.raises(ValueError, match="confidence_upper"):
        render_report(dataclasses.replace(report_input, detections=report_input.detections.drop("confidence_upper")))


def test_off_grid_timestamps_are_listed_not_gridded():
    regular = build_timeline(np.array([0, 600_000, 1_800_000]), 600)
    assert regular.regular and len(regular) == 4  # the missing slot is filled in
    odd = build_timeline(np.array([0, 600_000, 1_000_000]), 600)
    assert not odd.regular and odd.x_fields() == {"x": ["1970-01-01 00:00", "1970-01-01 00:10", "1970-01-01 00:16:40"]}
    np.testing.assert_array_equal(odd.align(np.array([600_000]), np.array([5.0])), [np.nan, 5.0, np.nan])


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1234.56789, 1234.568), (0.000123456789, 0.0001234568), (12345678.9, 12345680), (5.0, 5), (float("nan"), None),
     (float("inf"), None)],
)
def test_numbers_are_kept_to_seven_significant_digits(value, expected):
    assert compact_number(value) == expected


def test_a_realistic_report_stays_small():
    """1,500 points and 3 detectors, plotly.js shared: well under 400 KB."""
    page = render_report(sample_report_input(points=1500), plotly_src=JS_SRC)
    assert len(page.encode()) < 400_000


def test_generated_time_and_same_input_give_the_same_page(report_input):
    first = render_report(report_input, plotly_src=JS_SRC)
    assert first == render_report(report_input, plotly_src=JS_SRC)
    later = render_report(dataclasses.replace(report_input, generated_at=datetime(2024, 1, 2)), plotly_src=JS_SRC)
    assert "generated 2024-01-02 00:00 UTC" in later
