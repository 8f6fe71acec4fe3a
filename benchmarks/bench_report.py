"""Report size and render time against the targets (400 KB without plotly.js, 2 s to draw).

Builds the sample report (1,500 ten-minute points, 3 detectors, alert events), writes it
with the shared plotly.js, then opens it in headless Chromium (Debian's /usr/bin/chromium)
and times navigation until the plot is drawn (the plot element exists and plotly's
newPlot has resolved). The first load in a fresh browser profile is the cold case
(plotly.js read and compiled for the first time); later loads are warm (from cache).

    python benchmarks/bench_report.py [--points 1500] [--runs 5] [--screenshot PATH | --no-screenshot]

Also saves a screenshot of the report (default test-artifacts/report.png).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from detectkit_dagster.reporting import render_report, write_report
from detectkit_dagster.reporting.sample import sample_report_input

SIZE_TARGET_KB = 400
RENDER_TARGET_S = 2.0
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
REPO = Path(__file__).resolve().parent.parent


def time_python(report, runs: int) -> float:
    """Median seconds to render the page in Python (plotly.js referenced, not inlined)."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        render_report(report, plotly_src="plotly.min.js")
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def time_browser(url: str, runs: int, screenshot: Path | None) -> tuple[float, list[float]]:
    """Seconds from navigation until the plot is drawn: the cold load, then warm loads."""
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": 1400, "height": 1000},
        )
        page = context.new_page()
        page.goto("about:blank")  # start the renderer: time the report, not the browser start
        samples = []
        for _ in range(runs + 1):
            start = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("#chart.js-plotly-plot[data-rendered-at]", state="attached", timeout=30_000)
            samples.append(time.perf_counter() - start)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
        context.close()
    return samples[0], samples[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1500)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--screenshot", type=Path, default=REPO / "test-artifacts" / "report.png")
    parser.add_argument("--no-screenshot", dest="screenshot", action="store_const", const=None)
    args = parser.parse_args()

    report = sample_report_input(points=args.points)
    with tempfile.TemporaryDirectory() as folder:
        result = write_report(report, folder, "bench")
        size_kb = result.size_bytes / 1024
        python_s = time_python(report, args.runs)
        cold, warm = time_browser(result.path.as_uri(), args.runs, args.screenshot)

    detectors = len(result.summary["detectors"])
    print(f"report: {args.points} points x {detectors} detectors, {result.summary['alerts']} alerts")
    print(f"html size without plotly.js: {size_kb:7.1f} KB   target {SIZE_TARGET_KB} KB   "
          f"ratio {size_kb / SIZE_TARGET_KB:.2f}")
    print(f"render in Python (median):   {python_s * 1000:7.1f} ms")
    print(f"browser render, cold:        {cold:7.2f} s    target {RENDER_TARGET_S} s    "
          f"ratio {cold / RENDER_TARGET_S:.2f}")
    print(f"browser render, warm median: {statistics.median(warm):7.2f} s    target {RENDER_TARGET_S} s    "
          f"ratio {statistics.median(warm) / RENDER_TARGET_S:.2f}")
    if args.screenshot:
        print(f"screenshot: {args.screenshot}")


if __name__ == "__main__":
    main()
