"""The Numenta Anomaly Benchmark's scoring rules, written from their description.

NAB scores a detector by the anomaly windows it detects and the false positives it raises:

* each labelled anomaly has a window around it; the first 15% of each file (at most 750 rows)
  is a probationary period that is not scored;
* a detection at relative position ``p`` of a window (-1 = its first row, 0 = just past its last)
  earns ``sigma(p) / sigma(-1)`` times the true-positive weight, with the scaled sigmoid
  ``sigma(p) = 2 / (1 + exp(5 p)) - 1`` (``-1`` beyond ``p = 3``); only the best (earliest)
  detection of a window counts, and a window with none costs the false-negative weight;
* a detection outside every window costs the false-positive weight times ``sigma`` of its
  distance past the previous window (in window widths), or the full weight before any window;
* a detector's anomaly scores become detections through ONE threshold for the whole corpus:
  the one that maximises the corpus total (points with score >= threshold are detections);
* the total is normalised: ``100 * (raw - null) / (perfect - null)``, where null is the total
  with no detection at all and perfect detects every window at its first row.

Profiles (``config/profiles.json``) weight true positives, false negatives and false positives.
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DEFAULT_ROOT = Path(os.environ.get("NAB_ROOT", "/work/shared/nab"))
PROBATIONARY_SHARE = 0.15
PROBATIONARY_CAP = 750.0   # 0.15 * 5000 rows
PROFILE_NAMES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def scaled_sigmoid(position: np.ndarray) -> np.ndarray:
    """1 at the far left of a window, 0 at its right edge, -1 far past it."""
    position = np.asarray(position, dtype=float)
    with np.errstate(over="ignore"):
        value = 2.0 / (1.0 + np.exp(5.0 * position)) - 1.0
    return np.where(position > 3.0, -1.0, value)


MAX_TP = float(scaled_sigmoid(-1.0))


@dataclass(frozen=True)
class Profile:
    name: str
    tp: float
    fp: float
    fn: float


@dataclass
class DataFile:
    """One series of the corpus with its anomaly windows as row index pairs (both inclusive)."""

    name: str                       # e.g. "realKnownCause/nyc_taxi.csv"
    timestamps: np.ndarray          # datetime64[s]
    values: np.ndarray
    windows: list[tuple[int, int]] = field(default_factory=list)

    @property
    def probationary(self) -> int:
        """Rows at the start that are never scored."""
        n = len(self.values)
        return int(min(math.floor(PROBATIONARY_SHARE * n), PROBATIONARY_CAP))


def load_profiles(root: Path = DEFAULT_ROOT) -> dict[str, Profile]:
    raw = json.loads((root / "config" / "profiles.json").read_text())
    return {name: Profile(name, c["tpWeight"], c["fpWeight"], c["fnWeight"])
            for name, c in ((n, raw[n]["CostMatrix"]) for n in PROFILE_NAMES)}


def _time(text: str) -> np.datetime64:
    return np.datetime64(text.strip().replace(" ", "T")[:19], "s")


def load_corpus(root: Path = DEFAULT_ROOT) -> list[DataFile]:
    """Every data file with its windows, in name order."""
    windows = json.loads((root / "labels" / "combined_windows.json").read_text())
    files = []
    for name in sorted(windows):
        with open(root / "data" / name, newline="") as handle:
            rows = list(csv.reader(handle))[1:]
        stamps = np.array([_time(r[0]) for r in rows])
        values = np.array([float(r[1]) for r in rows])
        pairs = []
        for start, end in windows[name]:
            lo = np.flatnonzero(stamps == _time(start))
            hi = np.flatnonzero(stamps == _time(end))
            if len(lo) != 1 or len(hi) != 1:
                raise ValueError(f"{name}: window [{start}, {end}] does not start and end on rows of the file")
            pairs.append((int(lo[0]), int(hi[0])))
        files.append(DataFile(name, stamps, values, pairs))
    return files


def row_scores(data: DataFile, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """What a detection at each row would earn, and the window of each row (-1: none)."""
    n = len(data.values)
    score = np.full(n, -profile.fp)          # before any window: a full false positive
    window = np.full(n, -1, dtype=np.int64)
    rows = np.arange(n)
    for k, (lo, hi) in enumerate(data.windows):
        width = hi - lo + 1
        inside = rows[lo:hi + 1]
        score[lo:hi + 1] = scaled_sigmoid(-(hi - inside + 1) / width) * profile.tp / MAX_TP
        window[lo:hi + 1] = k
        end = data.windows[k + 1][0] if k + 1 < len(data.windows) else n
        after = rows[hi + 1:end]
        # past a window, a false positive costs less the closer it is to the window
        score[hi + 1:end] = scaled_sigmoid(np.abs(hi - after) / (width - 1)) * profile.fp
    return score, window


@dataclass(frozen=True)
class Outcome:
    """The corpus total at the best threshold."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    detected: int       # windows with a detection
    false_alarms: int   # detections outside every window
    missed: int         # scored windows without one

    @property
    def normalized(self) -> float:
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)


def score_corpus(files: list[DataFile], anomaly_scores: dict[str, np.ndarray], profile: Profile) -> Outcome:
    """Sweep one threshold over the whole corpus and keep the best total."""
    scores, gains, windows = [], [], []
    n_windows, next_uid = 0, 0
    for data in files:
        values = np.asarray(anomaly_scores[data.name], dtype=float)
        if values.shape != data.values.shape:
            raise ValueError(f"{data.name}: {values.shape[0]} anomaly scores for {len(data.values)} rows")
        gain, window = row_scores(data, profile)
        keep = slice(data.probationary, None)
        w = window[keep]
        scores.append(values[keep])
        gains.append(gain[keep])
        windows.append(np.where(w >= 0, w + next_uid, -1))
        next_uid += len(data.windows)
        n_windows += len(data.windows)
    score, gain, window = np.concatenate(scores), np.concatenate(gains), np.concatenate(windows)
    scored_windows = np.unique(window[window >= 0])
    null = -profile.fn * len(scored_windows)

    order = np.argsort(-score, kind="stable")
    score, gain, window = score[order], gain[order], window[order]
    # Adding the points one by one, highest score first: a false positive adds its (negative)
    # gain; a window point adds what it raises its window's best above the previous best.
    delta = np.where(window < 0, gain, 0.0)
    in_window = np.flatnonzero(window >= 0)
    by_window = in_window[np.argsort(window[in_window], kind="stable")]
    ids = window[by_window]
    starts = np.r_[True, ids[1:] != ids[:-1]]
    best = gain[by_window].copy()
    for s, e in zip(np.flatnonzero(starts), np.r_[np.flatnonzero(starts)[1:], len(ids)]):
        best[s:e] = np.maximum.accumulate(best[s:e])
    previous = np.where(starts, -profile.fn, np.r_[-profile.fn, best[:-1]])
    delta[by_window] = best - previous
    totals = null + np.cumsum(delta)
    # a threshold admits every point with a score >= it: evaluate at the end of each tie group
    ends = np.r_[np.flatnonzero(score[1:] != score[:-1]), len(score) - 1] if len(score) else np.zeros(0, int)
    candidates = np.r_[null, totals[ends]]
    pick = int(np.argmax(candidates))  # the first maximum: the highest such threshold
    if pick == 0:
        threshold, chosen = math.inf, np.zeros(len(score), dtype=bool)
    else:
        threshold = float(score[ends[pick - 1]])
        chosen = score >= threshold
    hits = window[chosen]
    return Outcome(
        profile=profile.name, threshold=threshold, raw=float(candidates[pick]), null=null,
        perfect=profile.tp * n_windows,
        detected=int(len(np.unique(hits[hits >= 0]))), false_alarms=int(np.sum(hits < 0)),
        missed=int(len(scored_windows) - len(np.unique(hits[hits >= 0]))),
    )


def score_all(files: list[DataFile], anomaly_scores: dict[str, np.ndarray],
              profiles: dict[str, Profile]) -> dict[str, Outcome]:
    return {name: score_corpus(files, anomaly_scores, profile) for name, profile in profiles.items()}


def load_result_scores(files: list[DataFile], directory: Path, detector: str) -> dict[str, np.ndarray]:
    """The ``anomaly_score`` column of a published detector's result files."""
    out = {}
    for data in files:
        category, base = data.name.split("/")
        with open(directory / category / f"{detector}_{base}", newline="") as handle:
            reader = csv.DictReader(handle)
            out[data.name] = np.array([float(r["anomaly_score"]) for r in reader])
    return out
