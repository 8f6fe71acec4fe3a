"""How a candidate's flags are scored: point-level metrics, event-level F1, the unsupervised
objective, and the fold aggregate (mean minus a penalty for weak folds).

Point-level metrics compare each valid point's flag (or band distance, for the two AUCs)
with the labels. Event-level F1 counts incidents instead: an incident is caught when an
alert onset falls inside it or up to ``EVENT_SLACK`` points after it; an onset that catches
no incident is a false alarm; F1 = 2 TP / (2 TP + FP + FN) over incidents and false alarms.
"""

from __future__ import annotations

import math

import numpy as np

POINT_METRICS = ("mcc", "f1", "f_beta", "balanced_accuracy", "roc_auc", "pr_auc")
METRICS = POINT_METRICS + ("event_f1",)
# The longest streak rule the alert sweep tries (5 points) fires 4 points after an anomaly starts.
EVENT_SLACK = 4


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[int, int, int, int]:
    tp = int(np.sum(y_true & y_pred))
    fp = int(np.sum(~y_true & y_pred))
    fn = int(np.sum(y_true & ~y_pred))
    return tp, fp, len(y_true) - tp - fp - fn, fn


def mcc(y_true, y_pred) -> float:
    tp, fp, tn, fn = confusion(y_true, y_pred)
    denominator = math.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (tp * tn - fp * fn) / denominator if denominator else 0.0


def f_beta(y_true, y_pred, beta: float = 1.0) -> float:
    tp, fp, _, fn = confusion(y_true, y_pred)
    b2 = beta * beta
    denominator = (1 + b2) * tp + b2 * fn + fp
    return (1 + b2) * tp / denominator if denominator else 0.0


def balanced_accuracy(y_true, y_pred) -> float:
    tp, fp, tn, fn = confusion(y_true, y_pred)
    tpr = tp / (tp + fn) if tp + fn else 0.0
    tnr = tn / (tn + fp) if tn + fp else 0.0
    return 0.5 * (tpr + tnr)


def roc_auc(y_true, y_score) -> float:
    """Mann-Whitney U with average ranks for ties; 0.5 when a class is absent."""
    positives, negatives = int(y_true.sum()), int((~y_true).sum())
    if not positives or not negatives:
        return 0.5
    order = np.argsort(y_score, kind="stable")
    ranks = np.empty(len(y_score))
    _, first, counts = np.unique(y_score[order], return_index=True, return_counts=True)
    mean_rank = first + (counts + 1) / 2  # average 1-based rank of each block of ties
    ranks[order] = np.repeat(mean_rank, counts)
    return float((ranks[y_true].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def pr_auc(y_true, y_score) -> float:
    """Average precision, equal scores taken as one block; 0 without positives."""
    positives = int(y_true.sum())
    if not positives:
        return 0.0
    order = np.argsort(-y_score, kind="stable")
    scores, hits = y_score[order], y_true[order]
    block_end = np.r_[np.flatnonzero(np.diff(scores) != 0), len(scores) - 1]
    tp = np.cumsum(hits)[block_end]
    precision = tp / (block_end + 1)
    recall = tp / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def onsets(flags: np.ndarray) -> np.ndarray:
    """Indices where a run of flags starts."""
    return np.flatnonzero(flags & ~np.r_[False, flags[:-1]])


def event_f1(spans, alerts: np.ndarray, lo: int, hi: int, scorable: np.ndarray | None = None) -> float | None:
    """Event-level F1 of alert indices against incident spans, within points [lo, hi).

    Incidents count when they overlap the range (and, given ``scorable``, hold a scorable
    point); None when no incident counts.
    """
    alerts = np.asarray(alerts)
    alerts = alerts[(alerts >= lo) & (alerts < hi)]
    caught = np.zeros(len(alerts), dtype=bool)
    tp = fn = 0
    for start, end in spans:
        a, b = max(start, lo), min(end, hi - 1)
        if a > b or (scorable is not None and not scorable[a:b + 1].any()):
            continue
        hits = (alerts >= start) & (alerts <= end + EVENT_SLACK)
        caught |= hits
        tp, fn = (tp + 1, fn) if hits.any() else (tp, fn + 1)
    if tp + fn == 0:
        return None
    fp = int((~caught).sum())
    return 2 * tp / (2 * tp + fp + fn)


def score_points(metric: str, y_true, y_pred, y_score, beta: float) -> float:
    if metric == "mcc":
        return mcc(y_true, y_pred)
    if metric == "f1":
        return f_beta(y_true, y_pred, 1.0)
    if metric == "f_beta":
        return f_beta(y_true, y_pred, beta)
    if metric == "balanced_accuracy":
        return balanced_accuracy(y_true, y_pred)
    if metric == "roc_auc":
        return roc_auc(y_true, y_score)
    if metric == "pr_auc":
        return pr_auc(y_true, y_score)
    raise ValueError(f"unknown scoring metric {metric!r}; one of {', '.join(METRICS)}")


def unsupervised_objective(y_pred: np.ndarray, y_score: np.ndarray, target: float = 0.01) -> float:
    """0.4 budget + 0.3 sharpness + 0.3 separation: few flags, a snug band, flags well outside it."""
    if len(y_pred) == 0:
        return 0.0
    rate = float(y_pred.mean())
    if target > 0:
        budget = 1.0 / (1.0 + max(0.0, (rate - target) / target))
    else:
        budget = 1.0 if rate == 0 else 0.0
    normal, flagged = y_score[~y_pred], y_score[y_pred]
    sharpness = _clip01(float(np.median(normal))) if len(normal) else 0.0
    separation = 0.0
    if len(normal) and len(flagged):
        med_f, med_n = float(np.median(flagged)), float(np.median(normal))
        if med_f + med_n > 0:
            separation = _clip01((med_f - med_n) / (med_f + med_n))
    return 0.4 * budget + 0.3 * sharpness + 0.3 * separation


def aggregate(per_fold: list[float], stability_lambda: float) -> tuple[float, float]:
    """(mean - lambda * downside deviation, the penalty); (0, 0) without folds."""
    if not per_fold:
        return 0.0, 0.0
    scores = np.asarray(per_fold, dtype=float)
    mean = float(scores.mean())
    downside = math.sqrt(float(np.mean(np.minimum(scores - mean, 0.0) ** 2)))
    penalty = stability_lambda * downside
    return mean - penalty, penalty


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, x))
