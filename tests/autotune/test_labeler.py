"""The labeler in a real headless Chromium: drag, click, edit, remove, save; and its server's guards."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml
from playwright.sync_api import sync_playwright

from detectkit_dagster.autotune import parse_labels
from detectkit_dagster.cli import main
from detectkit_dagster.cli.labeler import build_labeler, serve
from detectkit_dagster.project import load_project

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
STEP_MS = 600_000


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: the labeler test needs Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("profile")), executable_path=str(CHROMIUM), args=ARGS, headless=True,
            viewport={"width": 1300, "height": 900}, accept_downloads=True)
        yield context
        context.close()


@pytest.fixture
def labeler(tuning_project):
    project = load_project(tuning_project.root)
    server, url = serve(build_labeler(project, project.metric("orders")))
    yield tuning_project, url
    server.shutdown()
    server.server_close()


def open_page(browser, url):
    page = browser.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_selector("#chart[data-ready='1']", timeout=15_000)
    return page, requests, errors


def drag(page, x0: float, x1: float) -> tuple[int, int]:
    """Drag across the plot area between two fractions of its width; the times under the ends."""
    box = page.locator("#chart .nsewdrag").bounding_box()
    y = box["y"] + box["height"] / 2
    a, b = round(box["x"] + x0 * box["width"]), round(box["x"] + x1 * box["width"])  # whole pixels, as events carry
    times = page.evaluate(f"[{a}, {b}].map(x => document.getElementById('chart')._fullLayout.xaxis.p2l(x - {box['x']}))")
    page.mouse.move(a, y)
    page.mouse.down()
    page.mouse.move((a + b) / 2, y, steps=4)
    page.mouse.move(b, y, steps=4)
    page.mouse.up()
    return times


def grid_ms(text: str) -> int:
    return int(np.datetime64(text.replace(" ", "T"), "ms").astype(np.int64))


def test_existing_labels_show_first_then_drag_click_edit_remove_and_save(browser, labeler):
    project, url = labeler
    preloaded = yaml.safe_load((project.root / "incidents/orders/labels.yml").read_text())["incidents"]
    page, requests, errors = open_page(browser, url)
    rows = page.locator("#incidents tbody tr")
    assert rows.count() == 5  # incidents/orders/labels.yml
    assert page.locator("#summary").inner_text().startswith("5 incidents")

    start, end = drag(page, 0.20, 0.30)
    assert rows.count() == 6
    page.mouse.click(*_point(page, 0.55))  # a click marks one point
    assert rows.count() == 7
    marked = page.locator("#incidents tbody tr.selected")
    marked.locator("input[aria-label=label]").fill("one odd point")
    rows.nth(6).locator("button", has_text="remove").click()  # the latest preloaded incident (rows go by time)
    assert rows.count() == 6

    page.click("#save")
    page.locator("#status.ok", has_text="Saved").wait_for()
    assert "Saved 6 incident(s) to incidents/orders/labels.yml" in page.inner_text("#status")
    saved = yaml.safe_load((project.root / "incidents/orders/labels.yml").read_text())
    assert saved["metric"] == "orders" and saved["timezone"] == "UTC"
    labels = parse_labels(saved, metric="orders")
    dragged = [i for i in labels.incidents if not i.point and grid_ms(str(i.start)) >= start - STEP_MS
               and grid_ms(str(i.end)) <= end]
    [interval] = dragged
    first, last = grid_ms(str(interval.start)), grid_ms(str(interval.end))
    assert first % STEP_MS == 0 and last % STEP_MS == 0           # on the grid
    assert start <= first < start + STEP_MS and end - STEP_MS < last <= end  # the grid points inside the drag
    [point] = [i for i in labels.incidents if i.point]
    assert point.label == "one odd point"
    assert len(labels.incidents) == 6 and errors == []
    kept = {(str(i.start), str(i.end)) for i in labels.incidents}
    assert [(i["start"], i["end"]) in kept for i in preloaded] == [True, True, True, True, False]
    assert all(r.startswith(url) for r in requests)  # offline: nothing but the labeler's own server


def _point(page, fraction):
    box = page.locator("#chart .nsewdrag").bounding_box()
    return box["x"] + fraction * box["width"], box["y"] + box["height"] / 2


def test_an_edited_time_must_be_valid(browser, labeler):
    page, _, _ = open_page(browser, labeler[1])
    start = page.locator("#incidents tbody tr").nth(0).locator("input[aria-label=start]")
    start.fill("2025-13-01 00:00:00")
    start.dispatch_event("change")
    assert "invalid" in start.get_attribute("class") and "Not a valid start" in page.inner_text("#status")
    start.fill("2025-01-06 00:10:00")
    start.dispatch_event("change")
    first = page.locator("#incidents tbody tr").nth(0).locator("input[aria-label=start]")
    assert first.input_value() == "2025-01-06 00:10:00"


def test_the_server_guards_its_save_endpoint(labeler):
    project, url = labeler
    good = json.dumps({"yaml": "metric: orders\nincidents: []\n"}).encode()

    def post(path, body):
        request = urllib.request.Request(url.rstrip("/") + path, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    assert post("/save?token=wrong", good)[0] == 403
    page_token = urllib.request.urlopen(url, timeout=10).read().decode().split("token=")[1].split('"')[0]
    status, answer = post(f"/save?token={page_token}", json.dumps({"yaml": "metric: signups\nincidents: []"}).encode())
    assert status == 400 and "labels are for metric 'signups', not 'orders'" in answer["error"]
    before = (project.root / "incidents/orders/labels.yml").read_text()
    assert post(f"/save?token={page_token}", b"")[0] == 413
    assert (project.root / "incidents/orders/labels.yml").read_text() == before  # nothing written on errors
    assert post(f"/save?token={page_token}", good) == (200, {"saved": "incidents/orders/labels.yml", "incidents": 0})


def test_the_static_page_downloads_the_file(browser, tuning_project, tmp_path, capsys):
    out = tmp_path / "labeler.html"
    assert main(["label", "orders", "--project-dir", str(tuning_project.root), "--no-serve",
                 "--output", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    page, requests, _ = open_page(browser, out.as_uri())
    drag(page, 0.6, 0.7)
    with page.expect_download() as download:
        page.click("#save")
    assert download.value.suggested_filename == "labels.yml"
    labels = parse_labels(yaml.safe_load(Path(download.value.path()).read_text()), metric="orders")
    assert len(labels.incidents) == 6
    assert all(r.startswith("file:") or r.startswith("blob:") for r in requests)
