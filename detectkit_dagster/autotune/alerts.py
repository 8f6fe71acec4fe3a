"""The alert rule for the winner (supervised only): how many consecutive anomalies, and
whether a window/share rule on top of it catches the incidents better; with the `recovery`
search option, also how many calm points end an incident (``recovery_consecutive``).

Each rule is replayed by the alert engine over the winner's detections, so cooldowns,
direction and the fraction rule's hysteresis count exactly as they will in production.
A point is "alerting" from an anomaly alert until the metric recovers; event-level F1
uses the alerts themselves. Only the points cross-validation scores are scored (the
warm-up before the first fold is not).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl

from ..alerting import replay
from ..config.alert import AlertConfig
from ..detection import create_detector
from ..timegrid import format_interval
from .decisions import Decision
from .evaluate import Candidate, Evaluator, Series
from .labels import GroundTruth
from .scoring import event_f1, score_points
from .settings import TuneSettings

CONSECUTIVE = (1, 2, 3, 4, 5)
SHARE_WINDOWS = (4, 6, 12)  # points
SHARES = (0.5, 0.67)
RECOVERY = (1, 2, 3, 6, 12)  # calm points that end an incident (search option `recovery`)
_EPOCH = np.datetime64(0, "ms")


def reach(base: AlertConfig, settings: TuneSettings) -> int:
    """Points around an anomaly the replay must see: the longest streak and fraction window,
    then the calm points a recovery waits for."""
    calm = max(RECOVERY) if "recovery" in settings.options else 1
    return max(CONSECUTIVE) + max(SHARE_WINDOWS) + max(calm, base.recovery_consecutive)


class AlertSweep:
    """Scores alert rules for one detector over the cross-validated part of the series."""

    def __init__(self, series: Series, winner: Candidate, evaluate: Evaluator, truth: GroundTruth,
                 scored_from: int, settings: TuneSettings, base: AlertConfig | None = None):
        self.truth, self.settings, self.interval = truth, settings, series.interval_seconds
        detector = create_detector(winner.detector_type, winner.params)
        outcome = evaluate.outcome(winner.detector_type, winner.params, detector)
        # the replay wants the epoch-aligned grid: shift a series that starts off it
        ms = series.timestamps.astype("datetime64[ms]")
        step = np.timedelta64(self.interval * 1000, "ms")
        self.stamps = ms - (ms[0] - _EPOCH) % step
        flagged = outcome.anomalous
        # Rows far from every anomaly cannot start, hold or end an alert (streaks and windows
        # only count anomalies; a recovery comes within a window of the last one; cooldowns are
        # clock time): the replay skips them, with identical events.
        around = reach(base or AlertConfig(), settings)
        near = np.convolve(flagged, np.ones(2 * around + 1, dtype=bool), mode="same") > 0
        self.detections = pl.DataFrame({
            "timestamp": self.stamps, "is_anomaly": flagged,
            "direction": pl.Series(np.where(outcome.below, "down", "up"), dtype=pl.String).set(
                pl.Series(~flagged), None),
            "severity": np.where(flagged, outcome.severity, np.nan),
            "value": series.values, "confidence_lower": outcome.lower, "confidence_upper": outcome.upper,
        }).with_columns(detector_id=pl.lit(detector.detector_id), detector_name=pl.lit(detector.detector_name),
                        detector_params=pl.lit(detector.detector_params)).filter(near)
        self.datapoints = pl.DataFrame({"timestamp": self.stamps, "value": series.values}).filter(near)
        evaluated = outcome.has_lower & outcome.has_upper
        self.scorable = evaluated & (np.arange(len(self.stamps)) >= scored_from)
        self.scored_from = scored_from

    def alerts(self, rule: AlertConfig) -> tuple[np.ndarray, np.ndarray]:
        """(indices of anomaly alerts, per-point flag: an alert is open)."""
        events = replay(self.detections, self.datapoints, rule, self.interval,
                        _datetime(self.stamps[0]), _datetime(self.stamps[-1]))
        at = np.searchsorted(self.stamps, events["timestamp"].to_numpy().astype("datetime64[ms]"))
        kinds = events["kind"].to_list()
        open_ = np.zeros(len(self.stamps), dtype=bool)
        opened = None
        for index, kind in zip(at.tolist(), kinds):
            if kind == "anomaly" and opened is None:
                opened = index
            elif kind == "recovery" and opened is not None:
                open_[opened:index] = True
                opened = None
        if opened is not None:
            open_[opened:] = True
        return at[np.array([k == "anomaly" for k in kinds], dtype=bool)], open_

    def score(self, rule: AlertConfig) -> float:
        alerts, flags = self.alerts(rule)
        keep = self.scorable
        if self.settings.metric == "event_f1":
            found = event_f1(self.truth.spans, alerts, self.scored_from, len(keep), keep)
            return 0.0 if found is None else found
        return score_points(self.settings.metric, self.truth.y_true[keep], flags[keep],
                            flags[keep].astype(float), self.settings.beta)


def sweep_alerting(sweep: AlertSweep, base: AlertConfig) -> tuple[dict, list[Decision]]:
    """The alert fields chosen (consecutive_anomalies, and the window/share pair when it helps)."""
    rule = base.model_copy(update={"notify_on_recovery": True, "no_data_alert": False, "enabled": True,
                                   "suppress_until": None, "anomaly_window": None, "min_anomaly_share": None})
    metric = sweep.settings.metric
    by_k = {k: sweep.score(rule.model_copy(update={"consecutive_anomalies": k})) for k in CONSECUTIVE}
    best_k = max(CONSECUTIVE, key=lambda k: (by_k[k], -k))  # ties: the fewest points
    best = by_k[best_k]
    log = [Decision("window", f"consecutive_anomalies={best_k} (max {metric}={best:.3f} on labeled incidents)",
                    {"scores": {str(k): round(v, 4) for k, v in by_k.items()}})]
    chosen: dict = {"consecutive_anomalies": best_k}
    interval = sweep.interval
    pairs = {}
    for points in SHARE_WINDOWS:
        for share in SHARES:
            window = format_interval(points * interval)
            pairs[(window, share)] = sweep.score(rule.model_copy(update={
                "consecutive_anomalies": best_k, "anomaly_window": window, "min_anomaly_share": share}))
    (window, share), top = max(pairs.items(), key=lambda item: item[1])  # ties: the first tried
    fields = {"scores": {f"{w}@{s}": round(v, 4) for (w, s), v in pairs.items()}}
    if top > best:
        chosen |= {"anomaly_window": window, "min_anomaly_share": share}
        log.append(Decision("window", f"anomaly_window={window} with min_anomaly_share={share} "
                                      f"({metric}={top:.3f}, up from {best:.3f})", fields))
        best = top
    else:
        log.append(Decision("window", f"no anomaly_window/min_anomaly_share pair beats consecutive_anomalies="
                                      f"{best_k} alone (best pair {metric}={top:.3f})", fields))
    if "recovery" in sweep.settings.options:
        chosen, entry = _sweep_recovery(sweep, rule.model_copy(update=chosen), chosen, best)
        log.append(entry)
    return chosen, log


def _sweep_recovery(sweep: AlertSweep, rule: AlertConfig, chosen: dict, best: float) -> tuple[dict, Decision]:
    """recovery_consecutive: adopted when a longer wait for calm scores strictly better."""
    metric = sweep.settings.metric
    current = rule.recovery_consecutive
    scores = {n: best if n == current else sweep.score(rule.model_copy(update={"recovery_consecutive": n}))
              for n in sorted({current, *RECOVERY})}
    top = max(scores, key=lambda n: (scores[n], -n))  # ties: the shortest wait
    fields = {"scores": {str(n): round(v, 4) for n, v in scores.items()}}
    if scores[top] > best:
        return chosen | {"recovery_consecutive": top}, Decision(
            "window", f"recovery_consecutive={top} ({metric}={scores[top]:.3f}, up from {best:.3f})", fields)
    return chosen, Decision("window", f"recovery_consecutive={current} kept (no longer wait for calm scores "
                                      f"better; best {metric}={scores[top]:.3f})", fields)


def _datetime(stamp: np.datetime64) -> datetime:
    return stamp.astype("datetime64[ms]").item()
