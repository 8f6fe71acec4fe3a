"""The report in a real headless Chromium: it draws, stays offline, escapes, and reacts.

Uses Debian's chromium (playwright's own browser download is not available here).
Saves test-artifacts/report.png. Timing is measured in benchmarks/bench_report.py, not here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from detectkit_dagster.reporting import write_report
from detectkit_dagster.reporting.sample import sample_report_input

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
EVIL = '</script><img src=x onerror=alert(1)> "orders" & <b>co</b>'
ARTIFACT = Path(__file__).resolve().parents[2] / "test-artifacts" / "report.png"
# Plotly tells a legend click from a double click by waiting this long (ms).
LEGEND_TIMEOUT = 5000


class Session:
    def __init__(self, page, folder: Path, figure: dict):
        self.page, self.folder, self.figure = page, folder, figure
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.dialogs: list[str] = []

    def chart(self, expression: str):
        return self.page.evaluate(f"(() => {{ const gd = document.getElementById('chart'); return {expression}; }})()")


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found: the report browser test needs Debian's chromium. "
            "Install it with `apt-get install chromium`."
        )
    folder = tmp_path_factory.mktemp("reports")
    result = write_report(sample_report_input(description=EVIL), folder, "2024-03-11")
    figure = json.loads(
        re.search(r'id="report-figure">(.*?)</script>', result.path.read_text(), re.S).group(1)
    )
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("profile")),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        page = context.new_page()
        state = Session(page, folder, figure)
        page.on("request", lambda request: state.requests.append(request.url))
        page.on("console", lambda msg: msg.type == "error" and state.console_errors.append(msg.text))
        page.on("pageerror", lambda error: state.page_errors.append(str(error)))
        page.on("dialog", lambda dialog: (state.dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(result.path.as_uri())
        page.wait_for_selector("#chart.js-plotly-plot[data-rendered-at]", timeout=15_000)
        ARTIFACT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACT), full_page=True)
        yield state
        context.close()


def test_chart_draws_every_trace(session):
    names = session.chart("gd.data.map(t => t.name)")
    assert len(names) == len(session.figure["data"])
    assert "value" in names
    assert {"alerts", "recoveries", "no-data events"} <= set(names)
    bands = session.chart("gd.data.filter(t => t.fill === 'toself' && t.visible !== 'legendonly').length")
    assert bands == 3  # one per detector
    # The band shapes were built in the page from the edge traces.
    assert session.chart("gd.data.filter(t => t.fill === 'toself').every(t => t.x.length > 100)")
    assert session.page.locator("#chart .scatterlayer .trace").count() >= len(names)
    assert session.page.locator("#events tbody tr").count() == 15


def test_nothing_is_fetched_but_the_report_files(session):
    inside = session.folder.resolve().as_uri() + "/"
    assert session.requests, "no request recorded at all"
    assert [url for url in session.requests if not url.startswith(inside)] == []
    assert any(url.endswith(".min.js") for url in session.requests)  # the shared plotly.js


def test_malicious_description_is_shown_as_text_and_runs_nothing(session):
    assert session.page.inner_text("#description") == EVIL
    assert session.page.evaluate("document.images.length") == 0
    assert session.page.locator("#description b").count() == 0
    assert session.dialogs == []


def test_clicking_an_event_row_zooms_the_chart_to_it(session):
    before = session.chart("gd.layout.xaxis.range.slice()")
    row = session.page.locator("#events tbody tr").nth(4)
    row.click()
    session.page.wait_for_function(
        "(before) => document.getElementById('chart').layout.xaxis.range[0] !== before", arg=before[0]
    )
    after = session.chart("gd.layout.xaxis.range.slice()")
    assert [after[0][:16], after[1][:16]] == [row.get_attribute("data-from"), row.get_attribute("data-to")]
    assert before[0] < after[0] < after[1] < before[1]


def test_a_detector_legend_entry_toggles_its_band_markers_and_warmup(session):
    group = session.chart("gd.data.find(t => t.uid === 'band-1').legendgroup")
    shapes = session.chart("gd._fullLayout.shapes.length")
    session.page.locator(".legend .traces .legendtoggle").nth(2).click()  # entries: value, then detectors
    session.page.wait_for_function(
        "(g) => document.getElementById('chart').data.filter(t => t.legendgroup === g)"
        ".every(t => t.visible === 'legendonly')",
        arg=group,
        timeout=LEGEND_TIMEOUT,
    )
    assert session.chart(f"gd.data.filter(t => t.legendgroup === '{group}').length") == 3  # band, edge, markers
    assert session.chart(f"gd.layout.shapes.filter(s => s.legendgroup === '{group}')"
                         ".every(s => s.visible === 'legendonly')")
    assert session.chart("gd._fullLayout.shapes.filter(s => s.visible === true).length") < shapes


def test_processed_units_appear_on_a_right_axis_on_request(session):
    assert session.chart("gd.layout.yaxis2.visible") is False
    entry = session.page.locator(".legend .traces", has_text="(right axis)").locator(".legendtoggle")
    entry.click()
    session.page.wait_for_function("() => document.getElementById('chart').layout.yaxis2.visible === true",
                                   timeout=LEGEND_TIMEOUT)
    assert session.page.locator(".y2tick").count() > 0


def test_no_console_or_page_errors(session):
    # Last of the session's checks: it covers loading and every interaction above.
    assert session.console_errors == []
    assert session.page_errors == []
    assert session.dialogs == []


def test_the_page_policy_blocks_any_connection(session):
    requests_before = len(session.requests)
    outcome = session.page.evaluate(
        "fetch('http://127.0.0.1:9/leak').then(() => 'fetched', e => 'blocked: ' + e.name)"
    )
    assert outcome == "blocked: TypeError"
    assert session.requests[requests_before:] == []
