"""The ``autoreg`` detector: an AR(p) model of the recent past predicts each point (detectkit 0.67).

For point i (after ``input_type``), the fit rows are the targets j in [max(p, i - W), i) whose
value and p lags are all finite: ``y_j ~ b0 + b1 y_{j-1} + ... + bp y_{j-p}``, by least squares
on values centred and scaled by the mean and population std of those targets, with a tiny
ridge (1e-8 of the mean diagonal) against collinear lags. The residual sigma of the fit
(``sqrt(RSS / (n - p - 1))``) scales the band ``prediction -/+ threshold * sigma``; severity is
the distance beyond the band in sigmas. Statuses: missing_data (the value is missing),
missing_lags (one of the previous p values is missing or infinite), insufficient_data (fewer
than ``min_samples`` fit rows). With ``stabilization: clamp`` (the default) a flagged point
enters later fits at the bound it broke, kept within the range of the window's raw values.

Every window's fit needs only the count, sums and cross products of its lag vectors
``z_j = (y_j, y_{j-1}, ..., y_{j-p})`` about a nearby level; they come from prefix sums (rows
whose centred sums would lose precision are recomputed directly). A clamp rewrites the vectors
holding the row, and the windows holding those add what changed; the clamp walk
(``stabilize.clamp_in_clusters``) refits the windows of every independent run of flags at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from detectkit_dagster.detection import options, stabilize
from detectkit_dagster.detection import params as P
from detectkit_dagster.detection.preprocess import apply_input_type
from detectkit_dagster.detection.results import (
    INSUFFICIENT, MISSING, MISSING_LAGS, OK, Field, Outcome, build_frame, integer, literal, sparse_count,
)

BATCH_ROWS = 2048     # rows sharing one reference level and one set of prefix sums
FIT_ROWS = 8192      # windows solved together (keeps the component arrays in cache)
REBAND_ROWS = 2048   # windows corrected and solved together in a clamp walk (more temporaries)
LAPACK_ROWS = 1024   # below this many systems one LAPACK call beats the vectorised Cholesky
DIRECT_CELLS = 1 << 21
ACCURACY = 1e-10     # relative error allowed on a window's centred sums of squares
EPS = float(np.finfo(float).eps)
RIDGE = 1e-8


@dataclass
class Moments:
    """Per window: the number of fit rows, and the sums of z_j - ref and of their cross products,
    about a level ``ref`` near the window's values (the centred sums follow in ``fit``)."""

    n: np.ndarray      # (m,)
    ref: np.ndarray    # (m,)
    s1: np.ndarray     # (m, p + 1)
    s2: np.ndarray     # (m, p + 1, p + 1)

    @classmethod
    def zeros(cls, m: int, k: int) -> Moments:
        return cls(np.zeros(m), np.zeros(m), np.zeros((m, k)), np.zeros((m, k, k)))

    def take(self, at) -> Moments:
        """The windows at a slice (views), or at positions or a mask (copies)."""
        if isinstance(at, slice):
            return Moments(self.n[at], self.ref[at], self.s1[at], self.s2[at])
        at = np.flatnonzero(at) if at.dtype == bool else at
        return Moments(*(np.take(values, at, axis=0) for values in (self.n, self.ref, self.s1, self.s2)))

    def put(self, at, other: Moments) -> None:
        self.n[at], self.ref[at], self.s1[at], self.s2[at] = other.n, other.ref, other.s1, other.s2

    def correct(self, changes: Changes, rows: np.ndarray, segment: np.ndarray, window: int) -> np.ndarray:
        """Apply the changes to these moments (taken for ``rows``; ``segment``: each row's segment
        of ``changes``, taken about the same level), in place, and return the rows whose centred
        sums the rounding of the change could have spoilt (a clamped spike leaving a flat window:
        recompute those directly)."""
        k = self.s1.shape[1]
        base = changes.base[segment]
        change = np.take(changes.cumulative, base + changes.changed.searchsorted(rows), axis=0)
        change -= np.take(changes.cumulative, base + changes.changed.searchsorted(rows - window), axis=0)
        # what the sums (of squares: not negative) are made of, hence their rounding, ...
        size = diagonal(self.s2) + change[:, -k:] + changes.partial[segment]
        self.n += change[:, 0]
        self.s1 += change[:, 1:k + 1]
        self.s2 += change[:, k + 1:k + 1 + k * k].reshape(-1, k, k)
        n, s1 = self.n, self.s1
        with np.errstate(invalid="ignore", divide="ignore"):  # ... against the centred sums of squares
            return np.any(size * (4 * EPS / ACCURACY) > diagonal(self.s2) - s1 * s1 / n[:, None], axis=1) & (n > 0)


@dataclass
class Changes:
    """What the fit rows ``changed`` (ascending) changed, as prefix sums per segment of windows:
    segment s holds ``changed[lo[s]:hi[s]]`` and takes its sums about the level ``ref[s]`` of its windows.
    Each window holds a contiguous run of them, so two rows of the prefix sums give its change
    in count, sum and cross products (and the sizes of its squared deviations, for their rounding)."""

    changed: np.ndarray
    cumulative: np.ndarray   # per segment: a row cancelling the sums before it, then its targets
    base: np.ndarray         # per segment: where its prefix sums start, less lo
    partial: np.ndarray      # per segment: a bound of the rounding of its prefix sums
    ref: np.ndarray

    @classmethod
    def of(cls, changed: np.ndarray, lo: np.ndarray, hi: np.ndarray, ref: np.ndarray,
           original: np.ndarray, z: np.ndarray) -> Changes:
        k = z.shape[1]
        counts = hi - lo
        reset = np.r_[0, np.cumsum(counts + 1)][:-1]
        before = np.r_[0, np.cumsum(counts)][:-1]
        place = np.arange(counts.sum()) + np.repeat(reset + 1 - before, counts)
        targets = changed[np.arange(len(place)) + np.repeat(lo - before, counts)]
        level = np.repeat(ref, counts)[:, None]
        old, new = original[targets], z[targets]
        came, gone = np.isfinite(new).all(axis=1), np.isfinite(old).all(axis=1)
        dev_new = np.where(came[:, None], new - level, 0.0)
        dev_old = np.where(gone[:, None], old - level, 0.0)
        squares = np.einsum("ta,tb->tab", dev_new, dev_new) - np.einsum("ta,tb->tab", dev_old, dev_old)
        per = np.zeros((len(reset) + len(place), 1 + k + k * k + k))
        per[place] = np.concatenate(((came.astype(float) - gone)[:, None], dev_new - dev_old,
                                     squares.reshape(len(old), -1), dev_new ** 2 + dev_old ** 2), axis=1)
        # the segments' own sums stay about their own magnitudes, however large the others are
        per[reset[1:]] = -np.add.reduceat(per, reset, axis=0)[:-1]
        cumulative = np.cumsum(per, axis=0)
        partial = (counts + 1)[:, None] * np.maximum.reduceat(np.abs(cumulative[:, -k:]), reset)
        return cls(changed, cumulative, reset - lo, partial, ref)


def diagonal(matrices: np.ndarray) -> np.ndarray:
    """The diagonals of a stack of contiguous square matrices, as a writable view."""
    k = matrices.shape[-1]
    return matrices.reshape(len(matrices), k * k)[:, ::k + 1]


def lag_vectors(work: np.ndarray, lags: int) -> tuple[np.ndarray, np.ndarray]:
    """z_j for every j (NaN before j = lags) and whether each is a usable fit row."""
    z = np.full((len(work), lags + 1), np.nan)
    for a in range(lags + 1):
        z[lags:, a] = work[lags - a:len(work) - a]
    return z, np.isfinite(z).all(axis=1)


def window_moments(z: np.ndarray, valid: np.ndarray, rows: np.ndarray, window: int) -> Moments:
    """Moments of the fit rows [max(0, r - window), r) of every row r, about the median target of
    each batch of rows, by prefix sums."""
    m, k = len(rows), z.shape[1]
    upper = np.triu_indices(k)
    out = Moments.zeros(m, k)
    lo_all, hi_all = np.maximum(rows - window, 0), rows
    for s in range(0, m, BATCH_ROWS):
        part = slice(s, s + BATCH_ROWS)
        lo, hi = lo_all[part], hi_all[part]
        a, b = int(lo.min()), int(hi.max())
        ok = valid[a:b]
        ref = float(np.median(z[a:b][ok, 0])) if ok.any() else 0.0
        y = np.where(ok[:, None], z[a:b] - ref, 0.0)
        cross = y[:, upper[0]] * y[:, upper[1]]
        first = np.vstack((np.zeros(k), np.cumsum(y, axis=0)))
        second = np.vstack((np.zeros(len(upper[0])), np.cumsum(cross, axis=0)))
        count = np.concatenate(([0], np.cumsum(ok)))
        n = (count[hi - a] - count[lo - a]).astype(float)
        s1 = first[hi - a] - first[lo - a]
        s2 = second[hi - a] - second[lo - a]
        out.n[part], out.ref[part], out.s1[part] = n, ref, s1
        out.s2[part, upper[0], upper[1]] = s2
        out.s2[part, upper[1], upper[0]] = s2
        # a prefix sum carries rounding of its largest partial sums: recompute rows where that
        # could matter against the window's own spread
        error = 2 * EPS * (b - a + 1) * np.abs(second).max(axis=0)
        diagonal_at = np.flatnonzero(upper[0] == upper[1])
        with np.errstate(invalid="ignore", divide="ignore"):
            centred = s2[:, diagonal_at] - s1 * s1 / n[:, None]
        risky = np.any(error[diagonal_at] > ACCURACY * centred, axis=1) & (n > 0)
        if risky.any():
            idx = np.flatnonzero(risky) + s
            out.put(idx, direct_moments(z, valid, rows[idx], window))
    return out


def direct_moments(z: np.ndarray, valid: np.ndarray, rows: np.ndarray, window: int) -> Moments:
    """The same moments from the window's values themselves (a few rows at a time), about the
    mean target of each window."""
    m, k = len(rows), z.shape[1]
    out = Moments.zeros(m, k)
    per_batch = max(1, DIRECT_CELLS // (window * k))
    for s in range(0, m, per_batch):
        r = rows[s:s + per_batch]
        index = np.maximum(r - window, 0)[:, None] + np.arange(window)[None, :]
        inside = index < r[:, None]
        index = np.minimum(index, len(z) - 1)
        use = inside & valid[index]
        values = np.where(use[:, :, None], z[index], 0.0)
        n = use.sum(axis=1).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            ref = values[:, :, 0].sum(axis=1) / n
        ref = np.where(np.isfinite(ref), ref, 0.0)
        dev = np.where(use[:, :, None], values - ref[:, None, None], 0.0)
        part = slice(s, s + per_batch)
        out.n[part], out.ref[part], out.s1[part] = n, ref, dev.sum(axis=1)
        out.s2[part] = np.einsum("rwa,rwb->rab", dev, dev)
    return out


def fit(moments: Moments, lag_values: np.ndarray, lags: int) -> tuple[np.ndarray, np.ndarray]:
    """Prediction and residual sigma of every window's AR fit at the current lag values."""
    m = len(moments.n)
    prediction, sigma = np.empty(m), np.empty(m)
    for s in range(0, m, FIT_ROWS):
        part = slice(s, s + FIT_ROWS)
        prediction[part], sigma[part] = _fit(moments.take(part), lag_values[part], lags)
    return prediction, sigma


def _fit(moments: Moments, lag_values, lags):
    """The standardised ridge fit, solved in the window's own units: with c the target mean, s
    the scale and l = (lag means - c) / s, the intercept is -n l'beta / (n + ridge) and the lag
    coefficients solve (C_ll + rho I + w d d') beta = C_l0, d = s l, rho = ridge s^2,
    w = n ridge / (n + ridge): a system of the lags only, without the cancellation of eliminating
    the intercept from the full normal equations."""
    k = lags + 1
    n, s1, s2 = moments.n, moments.s1, moments.s2
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean = s1 / n[:, None]  # about ref
        centre = moments.ref + mean[:, 0]
        d = mean[:, 1:] - mean[:, :1]
        # the centred sums C = s2 - s1 mean' that the fit reads
        c00 = s2[:, 0, 0] - s1[:, 0] * mean[:, 0]
        c_l0 = s2[:, 1:, 0] - s1[:, 1:] * mean[:, :1]
        scale2 = c00 / n
        scale2 = np.where(np.isfinite(scale2) & (scale2 > 0), scale2, 1.0)
        dd = np.einsum("ra,ra->r", d, d)
        rho = (RIDGE / k) * (n * scale2 + (diagonal(s2)[:, 1:] - s1[:, 1:] * mean[:, 1:]).sum(axis=1) + n * dd)
        ridge = rho / scale2
        shrink = n / (n + ridge)
        # C_ll + w d d' in one product: s2_ll - [s1_l, -w d] [mean_l, d]'
        system = s2[:, 1:, 1:] - np.stack((s1[:, 1:], -(shrink * ridge)[:, None] * d), axis=2) @ \
            np.stack((mean[:, 1:], d), axis=1)
        diagonal(system)[...] += rho[:, None]
        beta = _solve(system, c_l0)
        lead = shrink * np.einsum("ra,ra->r", d, beta)  # -s * intercept
        rss = c00 - np.einsum("ra,ra->r", beta, c_l0) - rho * (np.einsum("ra,ra->r", beta, beta) + lead * lead / scale2)
        sigma = np.sqrt(np.maximum(rss, 0.0) / np.maximum(n - k, 1))
        prediction = centre + np.einsum("ra,ra->r", beta, lag_values - centre[:, None]) - lead
    return prediction, sigma


def _solve(system: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``system x = b`` per row: one LAPACK call for a few systems, the vectorised Cholesky
    for many."""
    if len(b) < LAPACK_ROWS:
        try:
            return np.linalg.solve(system, b[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            pass
    return spd_solve(np.ascontiguousarray(system.transpose(1, 2, 0)), np.ascontiguousarray(b.T)).T


def spd_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``a x = b`` for many small symmetric positive definite systems at once
    (component-major: a (k, k, m), b (k, m)) by Cholesky, one column of all the factors at a
    time -- far faster than one LAPACK call per 6x6 matrix. A system that is not positive
    definite (non-finite sums) comes out NaN."""
    k = len(b)
    low = np.zeros_like(a)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(k):
            head = low[j, :j]
            low[j, j] = np.sqrt(a[j, j] - np.sum(head * head, axis=0))
            if j + 1 < k:
                low[j + 1:, j] = (a[j + 1:, j] - np.sum(low[j + 1:, :j] * head[None], axis=1)) / low[j, j]
        y = np.empty_like(b)
        for i in range(k):
            y[i] = (b[i] - np.sum(low[i, :i] * y[:i], axis=0)) / low[i, i]
        x = np.empty_like(b)
        for i in reversed(range(k)):
            x[i] = (y[i] - np.sum(low[i + 1:, i] * x[i + 1:], axis=0)) / low[i, i]
    return x


@dataclass(frozen=True)
class Fits:
    """The threshold-free part of one detect() pass: every evaluated row's fit."""

    ts: np.ndarray
    raw: np.ndarray
    processed: np.ndarray
    z: np.ndarray            # lag vectors
    sizes: np.ndarray        # fit rows per input row
    status: np.ndarray
    q: np.ndarray            # evaluated rows
    moments: Moments         # of their windows
    prediction: np.ndarray
    sigma: np.ndarray


@dataclass
class AutoregDetector:
    params: dict
    start_time: str | None = None
    batch_size: int = P.DEFAULT_BATCH_SIZE
    _kept: dict = field(init=False, repr=False)

    detector_name = P.AUTOREG_CLASS_NAME

    def __post_init__(self):
        self.params = P.validate_autoreg(self.params)
        kept = P.non_default(self.params, P.AUTOREG_DEFAULTS)
        kept.pop("seasonality_components", None)
        self._kept = kept

    @property
    def detector_id(self) -> str:
        return P.detector_id(P.AUTOREG_CLASS_NAME, P.AUTOREG_VERSION, self._kept)

    @property
    def detector_params(self) -> str:
        return P.params_json(self._kept)

    @property
    def input_type(self) -> str:
        return self.params["input_type"]

    @property
    def context_size(self) -> int:
        p = self.params
        size = p["window_size"] + p["lags"] + (1 if p["input_type"] in P.CHANGE_INPUT_TYPES else 0)
        return size + (p["window_size"] if p["stabilization"] else 0)

    def detect(self, timestamps, values, seasonality: dict | None = None) -> pl.DataFrame:
        """One result per point, in input order (the columns of every detector)."""
        s = self.statistics(timestamps, values, seasonality)
        outcome, prediction, sigma, clamped = self._flagged(s, s.z, s.prediction, s.sigma)
        columns, floats, fields = self._metadata(len(s.processed), s.sizes, s.q, prediction, sigma, clamped)
        prefix = '{"fit_points":'
        suffix = f',"min_samples":{self.params["min_samples"]},"reason":"insufficient_data"}}'
        return build_frame(s.ts, s.raw, outcome, columns, fields, lambda n: f"{prefix}{n}{suffix}", floats)

    def statistics(self, timestamps, values, seasonality: dict | None = None) -> Fits:
        """Everything detect() computes before the threshold and the band options apply: the fits.
        A detector whose params differ only in those flags from the same fits (``flag``)."""
        p = self.params
        lags = p["lags"]
        ts = np.asarray(timestamps).astype("datetime64[ms]")
        raw = np.asarray(values, dtype=float)
        if ts.shape != raw.shape:
            raise ValueError(f"timestamps and values differ in length: {ts.shape} vs {raw.shape}")
        processed = apply_input_type(raw, p["input_type"])
        z, valid = lag_vectors(processed, lags)
        has_lags = np.isfinite(z[:, 1:]).all(axis=1)
        candidates = np.flatnonzero(~np.isnan(processed) & has_lags)
        moments = window_moments(z, valid, candidates, p["window_size"])
        sizes = np.zeros(len(processed), dtype=np.int64)
        sizes[candidates] = moments.n.astype(np.int64)
        status = np.where(np.isnan(processed), MISSING, np.where(~has_lags, MISSING_LAGS, OK))
        status[candidates[moments.n < p["min_samples"]]] = INSUFFICIENT
        keep = status[candidates] == OK
        q, moments = candidates[keep], moments.take(keep)
        prediction, sigma = fit(moments, z[q, 1:], lags)
        return Fits(ts, raw, processed, z, sizes, status, q, moments, prediction, sigma)

    def flag(self, s: Fits) -> Outcome:
        """Bounds and flags under this detector's threshold and options (does not change ``s``)."""
        clamping = self.params["stabilization"] == "clamp"
        copies = (s.z.copy(), s.prediction.copy(), s.sigma.copy()) if clamping else (s.z, s.prediction, s.sigma)
        return self._flagged(s, *copies)[0]

    def _flagged(self, s: Fits, z, prediction, sigma):
        """The bands, clamping flagged points into later fits when asked (which updates ``z``,
        ``prediction`` and ``sigma``), and the flags."""
        p = self.params
        bands = self._bands(prediction, sigma)
        clamped = None
        if p["stabilization"] == "clamp":
            state = _Clamping(self, s.processed, z, s.q, s.moments, bands, prediction, sigma)
            clamped = stabilize.clamp_in_clusters(s.processed, s.q, bands, p["window_size"] + p["lags"], state)
        return options.outcome(s.processed, s.status, s.q, bands), prediction, sigma, clamped

    def _bands(self, prediction: np.ndarray, sigma: np.ndarray) -> options.Bands:
        k = self.params["threshold"]
        bands = options.Bands(prediction - k * sigma, prediction + k * sigma, sigma.copy())
        if options.any_set(self.params):
            bands = options.apply(self.params, bands, prediction, lambda unit: (prediction - k * unit, prediction + k * unit))
        return bands

    def _metadata(self, length, sizes, q, prediction, sigma, clamped):
        columns = {"_n": sizes}
        for name, values in (("_sigma", sigma), ("_prediction", prediction)):
            column = np.full(length, np.nan)
            column[q] = values
            columns[name] = column
        fields = [Field("fit_points", integer("_n")), Field("sigma_r", pl.col("_t_sigma")),
                  Field("prediction", pl.col("_t_prediction"))]
        if self.input_type != "values":
            fields.append(Field("preprocessing", literal({"input_type": self.input_type})))
        if clamped is not None:
            columns["_stabilized"] = stabilize.in_window(clamped, q, length, self.params["window_size"])
            fields.append(sparse_count("stabilized_in_window", columns["_stabilized"], "_stabilized"))
        return columns, ("_sigma", "_prediction"), fields


class _Clamping:
    """What a clamp changes: the lag vectors holding the row, and through them the fits of the
    windows holding those. A clamp only rewrites the vectors; when the walk reaches positions,
    their windows' moments are corrected for the vectors that changed and their fits are solved,
    for the spans of every cluster at once."""

    def __init__(self, detector: AutoregDetector, processed, z, q, moments: Moments, bands,
                 prediction: np.ndarray, sigma: np.ndarray):
        self.detector, self.processed, self.z = detector, processed, z
        self.valid = np.isfinite(z).all(axis=1)  # fit rows, as the clamps leave them
        self.q, self.moments, self.bands = q, moments, bands
        self.prediction, self.sigma = prediction, sigma  # updated in place
        self.first = prediction.copy(), sigma.copy()
        self.lags, self.window = detector.params["lags"], detector.params["window_size"]
        span = self.window + self.lags
        self.seen = np.lib.stride_tricks.sliding_window_view(np.r_[processed, np.full(span, np.nan)], span)
        self.original = np.empty_like(z)               # vectors as they were before their first change
        self.changed = np.zeros(len(z), dtype=bool)

    def write_back(self, rows: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        """The bounds, kept within the raw values each row's fit could see (the window + lags
        values before it, fewer at the start of the series)."""
        first = np.maximum(rows - self.seen.shape[1], 0)
        seen = self.seen[first]
        usable = ((first[:, None] + np.arange(seen.shape[1])) < rows[:, None]) & np.isfinite(seen)
        low = np.where(usable, seen, np.inf).min(axis=1)
        high = np.where(usable, seen, -np.inf).max(axis=1)
        return np.where(usable.any(axis=1), np.clip(bounds, low, high), bounds)

    def update(self, rows: np.ndarray, after: np.ndarray) -> None:
        # each clamped value sits in lag vectors row .. row + lags
        targets, columns, values = self._entries(rows, after)
        fresh = np.unique(targets[~self.changed[targets]])
        self.original[fresh] = self.z[fresh]
        self.changed[fresh] = True
        self._put(targets, columns, values)

    def undo(self, rows: np.ndarray, before: np.ndarray) -> None:
        self._put(*self._entries(rows, before))

    def _entries(self, rows: np.ndarray, values: np.ndarray):
        targets = (rows[:, None] + np.arange(self.lags + 1)).ravel()
        keep = targets < len(self.z)
        return targets[keep], (targets - np.repeat(rows, self.lags + 1))[keep], np.repeat(values, self.lags + 1)[keep]

    def _put(self, targets: np.ndarray, columns: np.ndarray, values: np.ndarray) -> None:
        self.z[targets, columns] = values
        self.valid[targets] = np.isfinite(self.z[targets]).all(axis=1)

    def restore(self, at: slice) -> None:
        self.prediction[at], self.sigma[at] = self.first[0][at], self.first[1][at]

    def reband(self, spans: np.ndarray) -> None:
        lengths = spans[:, 1] - spans[:, 0]
        positions = np.arange(lengths.sum()) + np.repeat(spans[:, 0] - np.r_[0, np.cumsum(lengths)][:-1], lengths)
        # segments: runs of a span's positions whose sums share a level
        ref = self.moments.ref[positions]
        new = np.r_[True, ref[1:] != ref[:-1]]
        new[np.r_[0, np.cumsum(lengths)][:-1]] = True
        starts = np.flatnonzero(new)
        segments = np.cumsum(new) - 1
        changed = np.flatnonzero(self.changed)
        # a segment's windows hold the changes from its first row - window to its last row
        changes = Changes.of(changed, changed.searchsorted(np.maximum(self.q[positions[starts]] - self.window, 0)),
                             changed.searchsorted(self.q[positions[np.r_[starts[1:], len(positions)] - 1]]),
                             ref[starts], self.original, self.z)
        for s in range(0, len(positions), REBAND_ROWS):
            at, segment = positions[s:s + REBAND_ROWS], segments[s:s + REBAND_ROWS]
            rows = self.q[at]
            moments = self.moments.take(at)
            risky = moments.correct(changes, rows, segment, self.window)
            if risky.any():
                moments.put(risky, direct_moments(self.z, self.valid, rows[risky], self.window))
            prediction, sigma = fit(moments, np.take(self.z, rows, axis=0)[:, 1:], self.lags)
            self.bands.assign(at, self.detector._bands(prediction, sigma))
            self.prediction[at], self.sigma[at] = prediction, sigma
