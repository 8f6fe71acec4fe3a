"""Report files: layout, names, the shared plotly.js, atomic and forward-only writes."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detectkit_dagster.reporting import ReportFile, write_report
from detectkit_dagster.reporting.files import file_stem, key_from_stem
from detectkit_dagster.reporting.page import plotly_version


def script_src(page: Path) -> str:
    return re.search(r'<script src="([^"]+)"></script>', page.read_text()).group(1)


def test_pages_share_one_plotly_js_through_relative_paths(tmp_path, report_input):
    result = write_report(report_input, tmp_path / "reports", "2024-01-01-10:00")
    js_name = f"plotly-{plotly_version()}.min.js"

    assert isinstance(result, ReportFile)
    assert result.path == tmp_path / "reports" / "orders" / "2024-01-01-10~3A00.html"
    assert result.latest_path == tmp_path / "reports" / "orders.html"
    assert result.size_bytes == result.path.stat().st_size
    assert script_src(result.path) == f"../{js_name}"
    assert script_src(result.latest_path) == js_name
    for page in (result.path, result.latest_path):
        assert (page.parent / script_src(page)).resolve() == (tmp_path / "reports" / js_name).resolve()
    # Same page apart from where the script is.
    assert result.path.read_text().replace(f"../{js_name}", js_name) == result.latest_path.read_text()
    assert sorted(p.name for p in (tmp_path / "reports").rglob("*")) == sorted(
        ["orders", "orders.html", "2024-01-01-10~3A00.html", js_name]
    )  # no temp files left behind


def test_plotly_js_is_written_once(tmp_path, report_input):
    write_report(report_input, tmp_path, "a")
    js = next(tmp_path.glob("plotly-*.min.js"))
    before = js.stat().st_mtime_ns
    write_report(report_input, tmp_path, "b")
    assert js.stat().st_mtime_ns == before
    assert len(list(tmp_path.glob("plotly-*.min.js"))) == 1


def test_self_contained_pages_need_no_other_file(tmp_path, report_input):
    result = write_report(report_input, tmp_path, "p", self_contained=True)
    assert not list(tmp_path.glob("*.js"))
    assert "<script src=" not in result.path.read_text()
    assert result.size_bytes > 3_000_000
    assert result.path.read_bytes() == result.latest_path.read_bytes()


def test_summary_is_returned_for_metadata(tmp_path, report_input):
    summary = write_report(report_input, tmp_path, "p").summary
    assert {k: summary[k] for k in ("points", "missing", "anomalies", "alerts", "recoveries", "no_data")} == {
        "points": 12, "missing": 2, "anomalies": 2, "alerts": 1, "recoveries": 1, "no_data": 1,
    }
    assert {d["detector_id"]: d["anomalies"] for d in summary["detectors"]} == {
        "aaaa1111bbbb2222": 1, "cccc3333dddd4444": 2,
    }


def test_the_current_page_only_moves_forward(tmp_path, report_input):
    newer = write_report(report_input, tmp_path, "new")
    earlier = dataclasses.replace(report_input, window_end=report_input.window_end - timedelta(minutes=30))
    write_report(earlier, tmp_path, "old")  # e.g. a backfill after the newest partition
    assert newer.latest_path.read_text() == newer.path.read_text().replace('src="../', 'src="')
    assert (tmp_path / "orders" / "old.html").exists()


def test_empty_window_still_writes_a_valid_page(tmp_path, empty_input):
    result = write_report(empty_input, tmp_path, "p")
    assert "No data in this window." in result.path.read_text()
    assert result.summary["points"] == 0


@pytest.mark.parametrize(
    ("key", "stem"),
    [
        ("2024-01-01", "2024-01-01"),
        ("2024-01-01-10:00", "2024-01-01-10~3A00"),
        ("2024-01-01 10:00", "2024-01-01~2010~3A00"),
        ("a/../b", "a~2F..~2Fb"),
        ("..", "~2E."),
        ("x~y", "x~7Ey"),
        ("café", "caf~C3~A9"),
    ],
)
def test_file_names_are_readable_and_safe(key, stem):
    assert file_stem(key) == stem
    assert key_from_stem(stem) == key


@given(st.text(min_size=1))
def test_file_names_round_trip_and_stay_in_their_folder(key):
    stem = file_stem(key)
    assert key_from_stem(stem) == key
    assert re.fullmatch(r"[A-Za-z0-9_\-~][A-Za-z0-9_.\-~]*", stem)


def test_an_empty_key_is_refused(tmp_path, report_input):
    with pytest.raises(ValueError, match="non-empty"):
        write_report(report_input, tmp_path, "")
