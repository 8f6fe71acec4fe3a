"""The configuration recommended for a new metric, as a function of its interval only.

One detector and one alert rule, chosen on the Numenta Anomaly Benchmark with one configuration
for all 58 series (benchmarks/bench_nab.py; the README tells what each part gains):

* a z-score over a week of history, compared with the same hour of the day (``hour``
  seasonality; for daily metrics the same weekday over eight weeks), so a daily rhythm is
  normal and a spike at 3 a.m. is judged against other nights;
* a high threshold (6.5 sigma) with a small spread floor (1% of the level), so a flat or
  integer series does not turn every small move into an infinitely severe anomaly;
* one alert per incident: alert at the first anomalous point, then stay quiet until the metric
  has been calm for half a day (``recovery_consecutive``: the recovery is sent and the cooldown
  ends); an incident that never calms down is repeated weekly.
"""

from __future__ import annotations

import math

from ..timegrid import format_interval, parse_interval

DAY = 86400
MAX_WINDOW = 10_080   # a week of minutes; longer windows only cost time
MIN_WINDOW = 30       # the detector's min_samples


def recommended_config(interval_seconds: int | str) -> dict:
    """``{"detectors": [{"type", "params"}], "alerting": {...}, "seasonality_columns": [...]}``:
    the fields to put in a metric YAML (the alerting block still needs its ``channels``)."""
    interval = parse_interval(interval_seconds)
    if interval < DAY:
        feature, history = "hour", 7 * DAY
    elif interval < 7 * DAY:
        feature, history = "day_of_week", 8 * 7 * DAY
    else:
        feature, history = None, 52 * interval
    params = {
        "window_size": max(MIN_WINDOW, min(MAX_WINDOW, history // interval)),
        "threshold": 6.5,
        "min_relative_spread": 0.01,
    }
    if feature:
        params["seasonality_components"] = [feature]
    return {
        "detectors": [{"type": "zscore", "params": params}],
        "alerting": {
            "consecutive_anomalies": 1,
            "alert_cooldown": format_interval(max(7 * DAY, 3 * interval)),
            "cooldown_reset_on_recovery": True,
            "recovery_consecutive": max(2, math.ceil(DAY / 2 / interval)),
            "notify_on_recovery": True,
        },
        "seasonality_columns": [feature] if feature else [],
    }
