"""Screenshots of the Dagster UI for the README's UI tour, taken from the real UI.

Runs the demo in a copy of the demo project in a temporary folder (its own DAGSTER_HOME), starts
`dagster dev` (webserver and daemon) on 127.0.0.1, and captures the panels with Playwright in
Debian's headless Chromium. Needs the test extra (playwright) and `apt-get install chromium`.

    .venv/bin/python scripts/screenshots.py [--out docs/ui]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from support.servers import free_port, wait_until  # noqa: E402 - the tests' helpers for local servers
from support.webserver import graphql  # noqa: E402

BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
METRIC = "orders_per_10min"  # the demo metric with an incident two days ago
REPORT_BASE_URL = "http://127.0.0.1:8000/"  # as in the README: reports_dir served by a static web server
WIDTH = 1200
NAVIGATION = 68  # the collapsed navigation bar on the left

CHECK_RANGES = """query ($path: [String!]!) { assetNodes(assetKeys: [{path: $path}]) {
  assetChecksOrError { ... on AssetChecks { checks { name partitionStatuses {
    ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } } } } } } } }"""
FRESHNESS = """query ($path: [String!]!) { assetNodes(assetKeys: [{path: $path}]) {
  freshnessStatusInfo { freshnessStatus } } }"""
OBSERVATIONS = """{ assetNodes { assetKey { path } assetObservations(limit: 1) { timestamp } } }"""
BACKFILL = """mutation ($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
BACKFILL_STATUS = """query ($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status } } }"""
TABLES = ("datapoints", "detections", "alerts", "report")


def run_demo(root: Path, env: dict) -> None:
    from detectkit_dagster.cli.demo import copy_demo

    copy_demo(root)
    with (root / "detectkit_project.yml").open("a") as config:
        config.write(f"report_base_url: {REPORT_BASE_URL}\n")
    subprocess.run([str(BIN / "detectkit-dagster"), "demo", "--project-dir", str(root)], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_dagster_dev(root: Path, env: dict, port: int) -> subprocess.Popen:
    # Its own session with default signal handlers, so SIGTERM to the group stops it.
    return subprocess.Popen(
        [str(BIN / "dagster"), "dev", "-w", str(root / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=lambda: (signal.signal(signal.SIGINT, signal.SIG_DFL), signal.signal(signal.SIGTERM, signal.SIG_DFL)))


def failed_partition(port: int) -> str:
    """The newest partition where the alert check failed."""
    (node,) = graphql(port, CHECK_RANGES, {"path": [METRIC, "alerts"]})["assetNodes"]
    (check,) = [c for c in node["assetChecksOrError"]["checks"] if c["name"] == "no_anomaly_alert"]
    return max(r["endKey"] for r in check["partitionStatuses"]["ranges"] if r["status"] == "FAILED")


def dispatch_observation(port: int) -> tuple[str, str]:
    """An alerts asset holding a dispatch observation (the demo sends one alert), and its time."""
    for node in graphql(port, OBSERVATIONS)["assetNodes"]:
        path = node["assetKey"]["path"]
        if path[-1] == "alerts" and node["assetObservations"]:
            return "/".join(path), node["assetObservations"][0]["timestamp"]
    raise SystemExit("screenshots: the demo recorded no dispatch observation")


def backfill(port: int, day: str) -> str:
    """What the Materialize button does for one partition of the metric's assets; its id once done."""
    params = {"assetSelection": [{"path": [METRIC, t]} for t in TABLES], "partitionNames": [day]}
    launched = graphql(port, BACKFILL, {"params": params})["launchPartitionBackfill"]
    if launched["__typename"] != "LaunchBackfillSuccess":
        raise SystemExit(f"screenshots: backfill not launched: {launched}")

    def status() -> str:
        return graphql(port, BACKFILL_STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"]["status"]

    wait_until(lambda: status() != "REQUESTED", "the backfill", 300)
    if status() != "COMPLETED_SUCCESS":
        raise SystemExit(f"screenshots: the backfill ended {status()}")
    return launched["backfillId"]


class Tour:
    def __init__(self, page: Page, port: int, out: Path):
        self.page, self.base, self.out = page, f"http://127.0.0.1:{port}", out

    def open(self, path: str, ready: str) -> None:
        self.page.goto(self.base + path)
        self.page.get_by_text(ready, exact=True).first.wait_for(timeout=60_000)
        self.settle()

    def settle(self, ms: int = 1500) -> None:
        self.page.wait_for_load_state("networkidle")
        self.page.wait_for_timeout(ms)

    def click(self, text: str, nth: int = 0) -> None:
        self.page.get_by_text(text, exact=True).nth(nth).click()
        self.settle()

    def partition(self, key: str) -> None:
        self.page.locator("span").filter(has_text=re.compile(f"^{key}$")).last.click()  # the list item, not an axis label
        self.settle()

    def shot(self, name: str, top: int = 0, height: int | None = None, left: int = 0) -> None:
        size = self.page.viewport_size
        clip = {"x": left, "y": top, "width": size["width"] - left, "height": (height or size["height"] - top)}
        self.page.screenshot(path=str(self.out / f"{name}.png"), clip=clip)
        print("wrote", self.out / f"{name}.png")

    def dialog(self, name: str) -> None:
        dialog = self.page.get_by_role("dialog")
        dialog.screenshot(path=str(self.out / f"{name}.png"))
        print("wrote", self.out / f"{name}.png")
        self.page.get_by_role("button", name="Close").click()
        self.settle(500)


def capture(port: int, out: Path) -> None:
    day = failed_partition(port)
    graphql(port, "mutation { setNuxSeen }")  # no community sign-up dialog over the pages
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": WIDTH, "height": 760})
        tour = Tour(context.new_page(), port, out)
        tour.open(f"/locations/definitions.py/asset-groups/{METRIC}", "datapoints")
        tour.click("Hide navigation")  # remembered for the other pages
        # Zoomed to fit a narrower canvas, the nodes show their names only.
        tour.page.set_viewport_size({"width": WIDTH + NAVIGATION, "height": 900})
        tour.page.reload()  # fits the graph to the wider canvas
        tour.page.get_by_text("Latest event").first.wait_for()
        tour.settle()
        tour.shot("asset_graph", left=NAVIGATION, height=700)
        tour.page.set_viewport_size({"width": WIDTH, "height": 760})

        tour.open(f"/assets/{METRIC}/alerts?view=partitions", day)
        tour.partition(day)
        tour.shot("alerts_partitions", height=720)

        tour.open(f"/assets/{METRIC}/alerts?view=checks", "no_anomaly_alert")
        tour.click("Partitions", nth=-1)
        tour.partition(day)
        tour.shot("check_partitions", top=100)
        tour.click("[Show Markdown]", nth=0)
        tour.dialog("check_chart")
        tour.click("[Show Markdown]", nth=1)
        tour.dialog("check_events")

        tour.open(f"/assets/{METRIC}/alerts", "Freshness policy")
        tour.page.get_by_text("Fails if more than").scroll_into_view_if_needed()
        tour.settle(500)
        tour.shot("freshness", height=700)

        asset, at = dispatch_observation(port)
        tour.open(f"/assets/{asset}?view=events&time={at}", "detectkit/dispatch")
        tour.shot("dispatch_observation", height=640)

        backfill_id = backfill(port, day)
        tour.open(f"/runs/b/{backfill_id}", f"{METRIC} / report")
        tour.shot("backfill", height=500)

        tour.open(f"/assets/{METRIC}/report?view=partitions", day)
        tour.partition(day)
        tour.shot("report_metadata")
        context.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "ui"), help="folder for the PNG files")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="detectkit-ui-") as tmp:
        root = Path(tmp) / "demo"
        env = {**os.environ, "DAGSTER_HOME": str(root / ".dagster_home")}
        env.pop("DETECTKIT_PROJECT_DIR", None)
        run_demo(root, env)
        port = free_port()
        server = start_dagster_dev(root, env, port)
        try:
            wait_until(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2),
                       "the webserver", 120)
            # The daemon evaluates freshness policies every 30 s.
            wait_until(lambda: graphql(port, FRESHNESS, {"path": [METRIC, "alerts"]})["assetNodes"][0]
                       ["freshnessStatusInfo"]["freshnessStatus"] not in ("UNKNOWN", "NOT_APPLICABLE"),
                       "freshness", 180)
            capture(port, out)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
