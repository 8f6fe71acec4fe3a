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
from functools import lru_cache

import numpy as np
import polars as pl

from detectkit_dagster.detection import options, stabilize
from detectkit_dagster.detection import params as P
from detectkit_dagster.detection.preprocess import apply_input_type
from detectkit_dagster.detection.results import (
    INSUFFICIENT, MISSING, MISSING_LAGS, OK, Field, Outcome, build_frame, integer, literal, sparse_count,
)

BATCH_ROWS = 2048    # rows sharing one reference level and one set of prefix sums
FIT_ROWS = 4096      # windows corrected and solved together (keeps the component arrays in cache)
LAPACK_ROWS = 128    # below this many systems one LAPACK call beats the vectorised Cholesky
DIRECT_CELLS = 1 << 21
ACCURACY = 1e-10     # relative error allowed on a window's centred sums of squares
EPS = float(np.finfo(float).eps)
RIDGE = 1e-8


@dataclass(frozen=True)
class Layout:
    """Where each sum of a window sits in its row of moments, for lag vectors of k components
    (the target, then k - 1 lags): the count, the sums of the components, then the products
    target x lag, target squared, each lag squared, lag x lag (i < j). So the squares are
    contiguous, and so are the products of lags: the fit's system, packed by ``lag_cell``."""

    k: int
    a: np.ndarray          # the components of each product
    b: np.ndarray
    lag_a: np.ndarray      # the lags (0-based) of each product of lags
    lag_b: np.ndarray
    lag_cell: np.ndarray   # (k - 1, k - 1): the product of lags i and j, among them

    @property
    def width(self) -> int:
        return 1 + self.k + len(self.a)

    @property
    def target_lag(self) -> slice:
        return slice(1 + self.k, 2 * self.k)

    @property
    def squares(self) -> slice:
        return slice(2 * self.k, 3 * self.k)

    @property
    def lags(self) -> slice:
        return slice(2 * self.k + 1, self.width)


@lru_cache(maxsize=None)
def layout(k: int) -> Layout:
    p = k - 1
    upper_a, upper_b = np.triu_indices(p, 1)
    lag_a, lag_b = np.r_[np.arange(p), upper_a], np.r_[np.arange(p), upper_b]
    lag_cell = np.empty((p, p), dtype=np.intp)
    lag_cell[lag_a, lag_b] = lag_cell[lag_b, lag_a] = np.arange(len(lag_a))
    a = np.r_[np.zeros(k, dtype=np.intp), lag_a + 1]
    b = np.r_[np.arange(1, k), 0, lag_b + 1]
    return Layout(k, a, b, lag_a, lag_b, lag_cell)


@dataclass
class Moments:
    """Per window (one row each): the number of fit rows, and the sums of z_j - ref and of their
    products, about a level ``ref`` near the window's values (the centred sums follow in ``fit``).
    Window-major, so that taking windows reads contiguous rows; ``fit`` turns a chunk at a time."""

    layout: Layout
    ref: np.ndarray    # (m,)
    sums: np.ndarray   # (m, layout.width)

    @classmethod
    def zeros(cls, m: int, layout: Layout) -> Moments:
        return cls(layout, np.zeros(m), np.zeros((m, layout.width)))

    def put(self, at, other: Moments) -> None:
        self.ref[at], self.sums[at] = other.ref, other.sums

    def columns(self, at, change: np.ndarray | None = None) -> np.ndarray:
        """The sums of the windows at a slice or positions, component-major ((width, m)), plus
        ``change`` (the same shape) if given."""
        taken = (self.sums[at] if isinstance(at, slice) else np.take(self.sums, at, axis=0)).T
        if change is None:
            return np.ascontiguousarray(taken)
        return np.add(taken, change, out=np.empty_like(change))


@dataclass
class Changes:
    """What the fit rows ``changed`` (ascending) changed -- their vectors in ``z`` against those of
    the unclamped series ``processed`` --, as prefix sums per segment of windows: segment s holds
    ``changed[lo[s]:hi[s]]`` and takes its sums about the level ``ref[s]`` of its windows. Each
    window holds a contiguous run of them, so two rows of the prefix sums give its change in
    count, sums and products (and twice the squares it took out, for their rounding)."""

    changed: np.ndarray
    cumulative: np.ndarray   # per segment: a row cancelling the sums before it, then its targets
    base: np.ndarray         # per segment: where its prefix sums start, less lo
    partial: np.ndarray      # (segments, k): a bound of the rounding of its prefix sums

    @classmethod
    def of(cls, changed: np.ndarray, lo: np.ndarray, hi: np.ndarray, ref: np.ndarray,
           processed: np.ndarray, z: np.ndarray) -> Changes:
        shape = layout(len(z))
        counts = hi - lo
        reset = np.r_[0, np.cumsum(counts + 1)][:-1]
        before = np.r_[0, np.cumsum(counts)][:-1]
        place = np.arange(counts.sum()) + np.repeat(reset + 1 - before, counts)
        targets = changed[np.arange(len(place)) + np.repeat(lo - before, counts)]
        level = np.repeat(ref, counts)
        old, new = lag_columns(processed, targets, shape.k), z[:, targets]
        came, gone = np.isfinite(new).all(axis=0), np.isfinite(old).all(axis=0)
        dev_new = np.where(came, new - level, 0.0)
        dev_old = np.where(gone, old - level, 0.0)
        per = np.zeros((len(reset) + len(place), shape.width + shape.k))
        per[place] = np.concatenate((
            (came.astype(float) - gone)[None], dev_new - dev_old,
            dev_new[shape.a] * dev_new[shape.b] - dev_old[shape.a] * dev_old[shape.b],
            2 * dev_old * dev_old)).T
        # the segments' own sums stay about their own magnitudes, however large the others are
        per[reset[1:]] = -np.add.reduceat(per, reset, axis=0)[:-1]
        cumulative = np.cumsum(per, axis=0)
        # the changes of the squares are rounded in their prefix sums like any: bound them with the
        # squares taken out (|new^2 - old^2| + 2 old^2 >= new^2 + old^2, what they are made of)
        size = np.abs(cumulative[:, shape.squares]) + np.abs(cumulative[:, shape.width:])
        partial = (counts + 1)[:, None] * np.maximum.reduceat(size, reset, axis=0)
        return cls(changed, cumulative, reset - lo, partial)

    def windows(self, rows: np.ndarray, segment: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
        """For the windows of ``rows`` (``segment``: each one's segment), component-major: the change
        of their sums ((width, m)), and twice the squares it took out plus the rounding of the prefix
        sums ((k, m)), which bounds the rounding it puts in the sums of squares (see ``fit``)."""
        k = self.partial.shape[1]
        base = self.base[segment]
        last = base + self.changed.searchsorted(rows)
        first = base + self.changed.searchsorted(rows - window)
        # neighbouring windows mostly hold the same changes: each run of them is taken once
        run = np.r_[True, (last[1:] != last[:-1]) | (first[1:] != first[:-1])]
        starts = np.flatnonzero(run)
        change = np.take(self.cumulative, last[starts], axis=0) - np.take(self.cumulative, first[starts], axis=0)
        change[:, -k:] += self.partial[segment[starts]]
        change = np.take(change.T, np.cumsum(run) - 1, axis=1)
        return change[:-k], change[-k:]


def lag_vectors(work: np.ndarray, lags: int) -> tuple[np.ndarray, np.ndarray]:
    """The lag vectors as columns, z[:, j] = (y_j, ..., y_{j-lags}) for every j (NaN before
    j = lags), and whether each is a usable fit row."""
    z = np.full((lags + 1, len(work)), np.nan)
    rows = max(len(work) - lags, 0)
    for a in range(lags + 1):
        z[a, lags:] = work[lags - a:lags - a + rows]
    return z, np.isfinite(z).all(axis=0)


def lag_columns(work: np.ndarray, at: np.ndarray, k: int) -> np.ndarray:
    """The lag vectors of ``work`` at ``at`` ((k, len(at)), NaN before the series' start)."""
    index = at - np.arange(k)[:, None]
    return np.where(index >= 0, work[np.maximum(index, 0)], np.nan)


def window_moments(z: np.ndarray, valid: np.ndarray, rows: np.ndarray, window: int) -> Moments:
    """Moments of the fit rows [max(0, r - window), r) of every row r, about the median target of
    each batch of rows, by prefix sums."""
    shape = layout(len(z))
    out = Moments.zeros(len(rows), shape)
    lo_all, hi_all = np.maximum(rows - window, 0), rows
    for s in range(0, len(rows), BATCH_ROWS):
        part = slice(s, s + BATCH_ROWS)
        lo, hi = lo_all[part], hi_all[part]
        a, b = int(lo.min()), int(hi.max())
        ok = valid[a:b]
        ref = float(np.median(z[0, a:b][ok])) if ok.any() else 0.0
        terms = np.zeros((shape.width, b - a + 1))  # a leading column of zeros
        terms[0, 1:] = ok
        y = terms[1:shape.k + 1, 1:]
        np.subtract(z[:, a:b], ref, out=y, where=ok)
        np.multiply(y[shape.a], y[shape.b], out=terms[shape.k + 1:, 1:])
        prefix = np.cumsum(terms, axis=1)
        sums = np.take(prefix, hi - a, axis=1) - np.take(prefix, lo - a, axis=1)
        out.ref[part], out.sums[part] = ref, sums.T
        # a prefix sum carries rounding of its largest partial sums: recompute rows where that
        # could matter against the window's own spread
        error = 2 * EPS * (b - a + 1) * np.abs(prefix[shape.squares]).max(axis=1)
        n = sums[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            centred = sums[shape.squares] - sums[1:shape.k + 1] ** 2 / n
        risky = np.any(error[:, None] > ACCURACY * centred, axis=0) & (n > 0)
        if risky.any():
            idx = np.flatnonzero(risky) + s
            out.put(idx, direct_moments(z, rows[idx], window))
    return out


def direct_moments(z: np.ndarray, rows: np.ndarray, window: int) -> Moments:
    """The same moments from the window's values themselves (a few rows at a time), about the
    mean target of each window."""
    shape = layout(len(z))
    out = Moments.zeros(len(rows), shape)
    per_batch = max(1, DIRECT_CELLS // (window * shape.k))
    for s in range(0, len(rows), per_batch):
        r = rows[s:s + per_batch]
        index = np.maximum(r - window, 0)[:, None] + np.arange(window)[None, :]
        inside = index < r[:, None]
        index = np.minimum(index, z.shape[1] - 1)
        values = z[:, index]  # (k, rows, window)
        use = inside & np.isfinite(values).all(axis=0)
        values = np.where(use, values, 0.0)
        n = use.sum(axis=1).astype(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            ref = values[0].sum(axis=1) / n
        ref = np.where(np.isfinite(ref), ref, 0.0)
        dev = np.where(use, values - ref[:, None], 0.0)
        part = slice(s, s + per_batch)
        out.ref[part] = ref
        out.sums[part] = np.concatenate(
            (n[None], dev.sum(axis=2), np.einsum("arw,brw->abr", dev, dev)[shape.a, shape.b])).T
    return out


def fit(moments: Moments, lag_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prediction and residual sigma of every window's AR fit at the current lag values
    (``lag_values``: (lags, m)), solved a chunk of windows at a time, component-major."""
    m = len(moments.ref)
    prediction, sigma = np.empty(m), np.empty(m)
    for s in range(0, m, FIT_ROWS):
        part = slice(s, s + FIT_ROWS)
        columns = moments.columns(part)
        prediction[part], sigma[part], _ = _fit(moments.layout, moments.ref[part], columns, lag_values[:, part])
    return prediction, sigma


def _fit(shape: Layout, ref: np.ndarray, sums: np.ndarray, lag_values: np.ndarray,
         made_of: np.ndarray | None = None):
    """The fits of windows given their sums component-major; and, given what corrected sums of
    squares were made of beyond themselves (``Changes.windows``), which windows' centred sums
    their rounding could have spoilt (a clamped spike leaving a flat window: compute those again
    directly), else None.

    The standardised ridge fit, solved in the window's own units: with c the target mean, s
    the scale and l = (lag means - c) / s, the intercept is -n l'beta / (n + ridge) and the lag
    coefficients solve (C_ll + rho I + w d d') beta = C_l0, d = s l, rho = ridge s^2,
    w = n ridge / (n + ridge): a system of the lags only, without the cancellation of eliminating
    the intercept from the full normal equations."""
    k, i, j = shape.k, shape.lag_a, shape.lag_b
    n, s1 = sums[0], sums[1:k + 1]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean = s1 / n  # about ref
        centre = ref + mean[0]
        d = mean[1:] - mean[0]
        # the centred sums C = s2 - s1 mean' that the fit reads
        squares = sums[shape.squares] - s1 * mean
        c00 = squares[0]
        c_l0 = sums[shape.target_lag] - s1[1:] * mean[0]
        scale2 = c00 / n
        scale2 = np.where(np.isfinite(scale2) & (scale2 > 0), scale2, 1.0)
        spread = squares[1:].sum(axis=0) + n * _dot(d, d)
        rho = (RIDGE / k) * (n * scale2 + spread)
        ridge = rho / scale2
        shrink = n / (n + ridge)
        system = sums[shape.lags] - s1[i + 1] * mean[j + 1] + (shrink * ridge) * d[i] * d[j]
        system[:k - 1] += rho  # the squares come first
        beta = _solve(system, shape.lag_cell, c_l0)
        lead = shrink * _dot(d, beta)  # -s * intercept
        rss = c00 - _dot(beta, c_l0) - rho * (_dot(beta, beta) + lead * lead / scale2)
        sigma = np.sqrt(np.maximum(rss, 0.0) / np.maximum(n - k, 1))
        prediction = centre + _dot(beta, lag_values - centre) - lead
        unsure = None
        if made_of is not None:  # what the sums of squares were made of (the squares now + 2 old^2 =
            # the squares before + new^2 + old^2, and the rounding of the changes' sums), against them
            unsure = np.any((sums[shape.squares] + made_of) * (4 * EPS / ACCURACY) > squares, axis=0) & (n > 0)
    return prediction, sigma, unsure


def _dot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per column: the dot product of x and y."""
    return np.einsum("am,am->m", x, y)


def _solve(system: np.ndarray, cell: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``system x = b`` per column (``system``: symmetric matrices packed by ``cell``, one row per
    entry; ``b``: (k, m)): one LAPACK call for a few systems, the vectorised Cholesky for many."""
    if b.shape[1] < LAPACK_ROWS:
        try:
            return np.linalg.solve(system[cell].transpose(2, 0, 1), b.T[:, :, None])[:, :, 0].T
        except np.linalg.LinAlgError:
            pass
    return spd_solve(system, cell, b)


def spd_solve(a: np.ndarray, cell: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``a x = b`` for many small symmetric positive definite systems at once (``a``: one
    row per entry of the upper triangle, ``cell[i, j]`` its row; ``b``: (k, m)) by Cholesky, one
    entry of all the factors at a time -- far faster than one LAPACK call per 5x5 matrix. A
    system that is not positive definite (non-finite sums) comes out NaN."""
    k = len(b)
    low = [[None] * k for _ in range(k)]
    inverse = [None] * k
    product = np.empty(b.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(k):
            for i in range(j, k):
                entry = a[cell[i, j]].copy()
                for m in range(j):
                    entry -= np.multiply(low[i][m], low[j][m], out=product)
                if i == j:
                    low[j][j] = np.sqrt(entry, out=entry)
                    inverse[j] = 1.0 / entry
                else:
                    low[i][j] = np.multiply(entry, inverse[j], out=entry)
        x = b.copy()
        for i in range(k):  # L y = b, then L' x = y, in place
            for m in range(i):
                x[i] -= np.multiply(low[i][m], x[m], out=product)
            x[i] *= inverse[i]
        for i in reversed(range(k)):
            for m in range(i + 1, k):
                x[i] -= np.multiply(low[m][i], x[m], out=product)
            x[i] *= inverse[i]
    return x


@dataclass(frozen=True)
class Fits:
    """The threshold-free part of one detect() pass: every evaluated row's fit."""

    ts: np.ndarray
    raw: np.ndarray
    processed: np.ndarray
    z: np.ndarray            # lag vectors (as columns)
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
        has_lags = np.isfinite(z[1:]).all(axis=0)
        candidates = np.flatnonzero(~np.isnan(processed) & has_lags)
        # the fit rows of each window, counted first: only windows with enough of them are summed
        counted = np.r_[0, np.cumsum(valid)]
        sizes = np.zeros(len(processed), dtype=np.int64)
        sizes[candidates] = counted[candidates] - counted[np.maximum(candidates - p["window_size"], 0)]
        status = np.where(np.isnan(processed), MISSING, np.where(~has_lags, MISSING_LAGS, OK))
        status[candidates[sizes[candidates] < p["min_samples"]]] = INSUFFICIENT
        q = np.flatnonzero(status == OK)
        moments = window_moments(z, valid, q, p["window_size"])
        prediction, sigma = fit(moments, z[1:, q])
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
        self.q, self.moments, self.bands = q, moments, bands
        self.prediction, self.sigma = prediction, sigma  # updated in place
        self.first = prediction.copy(), sigma.copy()
        self.lags, self.window = detector.params["lags"], detector.params["window_size"]
        span = self.window + self.lags
        self.seen = np.lib.stride_tricks.sliding_window_view(np.r_[processed, np.full(span, np.nan)], span)
        self.changed = np.zeros(z.shape[1], dtype=bool)

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
        self.changed[targets] = True
        self.z[columns, targets] = values

    def undo(self, rows: np.ndarray, before: np.ndarray) -> None:
        targets, columns, values = self._entries(rows, before)
        self.z[columns, targets] = values

    def _entries(self, rows: np.ndarray, values: np.ndarray):
        targets = (rows[:, None] + np.arange(self.lags + 1)).ravel()
        keep = targets < self.z.shape[1]
        return targets[keep], (targets - np.repeat(rows, self.lags + 1))[keep], np.repeat(values, self.lags + 1)[keep]

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
                             ref[starts], self.processed, self.z)
        for s in range(0, len(positions), FIT_ROWS):
            at, segment = positions[s:s + FIT_ROWS], segments[s:s + FIT_ROWS]
            rows = self.q[at]
            change, made_of = changes.windows(rows, segment, self.window)
            columns = self.moments.columns(at, change)
            prediction, sigma, unsure = _fit(self.moments.layout, self.moments.ref[at], columns, self.z[1:, rows],
                                             made_of)
            if unsure.any():
                redo = rows[unsure]
                prediction[unsure], sigma[unsure] = fit(direct_moments(self.z, redo, self.window),
                                                        self.z[1:, redo])
            self.bands.assign(at, self.detector._bands(prediction, sigma))
            self.prediction[at], self.sigma[at] = prediction, sigma
