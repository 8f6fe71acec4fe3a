"""What the report is made from, and what writing one produces."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import polars as pl


@dataclass(frozen=True, kw_only=True)
class ReportInput:
    """Everything one metric report shows; the caller has already chosen the window.

    Frames use the project's stored column names: ``datapoints`` (timestamp, value),
    ``detections`` (one row per detector and grid point, bounds in processed units)
    and ``events`` (replayed alert events). Datetimes are naive UTC.
    """

    project: str
    metric: str
    interval_seconds: int
    window_start: datetime
    window_end: datetime
    generated_at: datetime
    datapoints: pl.DataFrame
    detections: pl.DataFrame | None = None
    events: pl.DataFrame | None = None
    description: str | None = None
    rules: Sequence[str] = ()
    detector_labels: Mapping[str, str] | None = None


@dataclass(frozen=True)
class ReportFile:
    """A written report: the partition page, the metric's current page, and its numbers."""

    path: Path
    latest_path: Path
    size_bytes: int
    summary: dict = field(default_factory=dict)
