"""The pure steps behind the assets: stored tables in, stored tables out (no dagster).

Each step takes the metric's config, its windows (one per partition of a run) and, where it
reads stored history, the metric's store.
"""

from .alerts import STATE_TABLE, AlertRun, replay_alerts, save_alerts, stale_after, state_key
from .checks import CheckOutcome, alert_check, completeness_check
from .detect import build_detectors, context_start, detect_range
from .report import report_input
from .windows import Window, span, split, window_index

__all__ = [
    "STATE_TABLE", "AlertRun", "CheckOutcome", "Window", "alert_check", "build_detectors",
    "completeness_check", "context_start", "detect_range", "replay_alerts", "report_input", "save_alerts",
    "span", "split", "stale_after", "state_key", "window_index",
]
