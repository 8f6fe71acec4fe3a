"""The asset checks' verdicts for one partition (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from ..config.metric import MetricConfig


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    severity: str  # WARN | ERROR
    description: str
    metadata: dict
    table: str | None = None  # a markdown table of what failed
    failed_at: list = field(default_factory=list)  # timestamps to mark on a chart


def alert_check(metric: "MetricConfig", events: pl.DataFrame) -> CheckOutcome:
    """Fails when an anomaly alert of an enabled block fired; ERROR if the metric or a firing
    block asks for it. A block without channels still counts: the check is an alert surface."""
    enabled = [i for i, alert in enumerate(metric.alerts) if alert.enabled]
    fired = events.filter((pl.col("kind") == "anomaly") & pl.col("alert_index").is_in(enabled))
    rules = [alert.rule_text() for alert in metric.alerts]
    if fired.height == 0:
        # A pass carries the severity a failure could have, so the UI colours the check the same way.
        could_error = metric.dagster.check_severity == "ERROR" or any(
            metric.alerts[i].check_severity == "ERROR" for i in enabled)
        return CheckOutcome(True, "ERROR" if could_error else "WARN", "no anomaly alert fired",
                            {"rules": rules, "anomaly_alerts": 0})
    blocks = {int(i) for i in fired["alert_index"]}
    error = metric.dagster.check_severity == "ERROR" or any(
        metric.alerts[i].check_severity == "ERROR" for i in blocks)
    worst = fired.sort("severity", descending=True, nulls_last=True).row(0, named=True)
    description = (f"{fired.height} anomaly alert(s); worst at {worst['timestamp']} "
                   f"({worst['direction'] or 'n/a'}, severity {_num(worst['severity'])}, {worst['detector']})")
    metadata = {"anomaly_alerts": fired.height, "worst_severity": _num(worst["severity"]), "rules": rules}
    return CheckOutcome(False, "ERROR" if error else "WARN", description, metadata,
                        table=_event_table(fired), failed_at=fired["timestamp"].to_list())


def completeness_check(datapoints: pl.DataFrame) -> CheckOutcome:
    """Fails when loaded grid points of the partition have no value (no data)."""
    total = datapoints.height
    missing = int(datapoints["value"].is_nan().sum()) if total else 0
    meta = {"points": total, "missing_points": missing,
            "completeness": round(1 - missing / total, 4) if total else 1.0}
    if missing:
        gaps = datapoints.filter(pl.col("value").is_nan())["timestamp"]
        return CheckOutcome(False, "WARN", f"{missing} of {total} points have no data (first at {gaps.min()})",
                            meta, failed_at=gaps.to_list())
    text = f"all {total} loaded points have data" if total else "no complete interval loaded yet"
    return CheckOutcome(True, "WARN", text, meta)


def _num(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(f"{value:.4g}")


def _cell(value) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def _event_table(events: pl.DataFrame, limit: int = 50) -> str:
    lines = ["| time (UTC) | direction | severity | value | streak | detector | sent |",
             "|---|---|---|---|---|---|---|"]
    for e in events.head(limit).iter_rows(named=True):
        sent = "yes" if e["sendable"] else f"held: {e['hold_reason']}"
        cells = (e["timestamp"], e["direction"], _num(e["severity"]), _num(e["value"]), e["consecutive"],
                 e["detector"], sent)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if events.height > limit:
        lines.append(f"\n{events.height - limit} more not shown.")
    return "\n".join(lines)
