"""Which stored events may be sent: events are always computed and kept; dispatch sends only
the rows marked sendable here."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from detectkit_dagster.alerting.replay import AlertLike, as_alert_config
from detectkit_dagster.timegrid import format_interval


def mark_delivery(
    events: pl.DataFrame, alert: AlertLike, now: datetime, *, max_age: timedelta | None = None
) -> pl.DataFrame:
    """Add `sendable` (bool) and `hold_reason` (null when sendable) to a block's events.

    Held, first reason wins: the block is disabled; it has no channels; it is suppressed
    (`now` or the event's time before `suppress_until`: an event of the suppressed period
    stays unsent after the deadline); with `max_age`, the event fired longer ago than that
    (a backfill of last year must not page anyone today).
    """
    config = as_alert_config(alert)
    ts = pl.col("timestamp")
    reason = pl.lit(None, pl.String)
    if max_age is not None:
        stale = f"older than {format_interval(int(max_age.total_seconds()))}"
        reason = pl.when(ts < now - max_age).then(pl.lit(stale)).otherwise(reason)
    deadline = config.suppress_until_utc
    if deadline is not None:
        suppressed = f"suppressed until {deadline:%Y-%m-%d %H:%M:%S}"
        reason = pl.when((ts < deadline) | pl.lit(now < deadline)).then(pl.lit(suppressed)).otherwise(reason)
    if not config.channels:
        reason = pl.lit("no channels")
    if not config.enabled:
        reason = pl.lit("alert block disabled")
    return events.with_columns(hold_reason=reason.cast(pl.String)).select(
        pl.exclude("hold_reason"), sendable=pl.col("hold_reason").is_null(), hold_reason=pl.col("hold_reason")
    )
