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

Every window's fit needs only the mean and centred cross products of its lag vectors
``z_j = (y_j, y_{j-1}, ..., y_{j-p})``; they come from prefix sums (around a local reference
level, rows whose sums would lose precision are recomputed directly), and a clamp updates
them in closed form for the rows it reaches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from detectkit_dagster.detection import options, stabilize
from detectkit_dagster.detection import params as P
from detectkit_dagster.detection.preprocess import apply_input_type
from detectkit_dagster.detection.results import (
    INSUFFICIENT, MISSING, MISSING_LAGS, OK, Field, Outcome, build_frame, integer, literal,
)

BATCH_ROWS = 2048     # rows sharing one reference level and one set of prefix sums
FIT_ROWS = 8192      # windows solved together (keeps the component arrays in cache)
LAPACK_ROWS = 1024   # below this many systems one LAPACK call beats the vectorised Cholesky
DIRECT_CELLS = 1 << 21
ACCURACY = 1e-10     # relative error allowed on a window's centred sums of squares
EPS = float(np.finfo(float).eps)
RIDGE = 1e-8


@dataclass
class Moments:
    """Per window: the number of fit rows, the mean and the centred cross products of z_j."""

    n: np.ndarray      # (m,)
    mean: np.ndarray   # (m, p + 1)
    cov: np.ndarray    # (m, p + 1, p + 1), sums (not divided by n)

    def take(self, at) -> Moments:
        return Moments(self.n[at], self.mean[at], self.cov[at])

    def swapped(self, rows: np.ndarray, targets: np.ndarray, old: np.ndarray, new: np.ndarray,
                window: int) -> tuple[Moments, np.ndarray]:
        """The moments of the windows of ``rows`` (these moments) after fit rows ``targets``
        changed from vectors ``old`` to ``new`` (a vector with a NaN is not a fit row), and the
        rows whose centred sums the rounding of the change could have spoilt (a clamped spike
        leaving a flat window: recompute those directly).

        Each window's change in count, sum and cross products, taken about a nearby level, is
        one product of which targets it holds with what each target changed."""
        k = old.shape[1]
        ref = self.mean[0] if np.isfinite(self.mean[0]).all() else np.zeros(k)
        came, gone = np.isfinite(new).all(axis=1), np.isfinite(old).all(axis=1)
        dev_new = np.where(came[:, None], new - ref, 0.0)
        dev_old = np.where(gone[:, None], old - ref, 0.0)
        squares = dev_new[:, :, None] * dev_new[:, None, :] - dev_old[:, :, None] * dev_old[:, None, :]
        per = np.concatenate(((came.astype(float) - gone)[:, None], dev_new - dev_old, squares.reshape(len(old), -1),
                              dev_new ** 2 + dev_old ** 2), axis=1)
        held = (targets >= (rows - window)[:, None]) & (targets < rows[:, None])
        change = held.astype(float) @ per
        offset = self.mean - ref
        first = self.n[:, None] * offset + change[:, 1:k + 1]                  # sums about ref
        spread = self.n[:, None] * offset ** 2
        second = self.cov + np.einsum("ra,rb->rab", self.n[:, None] * offset, offset)
        second += change[:, k + 1:k + 1 + k * k].reshape(-1, k, k)
        n = self.n + change[:, 0]
        diagonal = np.arange(k)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = first / n[:, None]
            cov = second - np.einsum("ra,rb->rab", first, mean)
            # what the sums above were made of, hence their rounding, against what is left
            size = np.abs(self.cov[:, diagonal, diagonal]) + spread + (len(targets) + 1) * change[:, -k:] + first * mean
            risky = np.any(4 * EPS * size > ACCURACY * cov[:, diagonal, diagonal], axis=1) & (n > 0)
        return Moments(n, mean + ref, cov), risky


def lag_vectors(work: np.ndarray, lags: int) -> tuple[np.ndarray, np.ndarray]:
    """z_j for every j (NaN before j = lags) and whether each is a usable fit row."""
    z = np.full((len(work), lags + 1), np.nan)
    for a in range(lags + 1):
        z[lags:, a] = work[lags - a:len(work) - a]
    return z, np.isfinite(z).all(axis=1)


def window_moments(z: np.ndarray, valid: np.ndarray, rows: np.ndarray, window: int) -> Moments:
    """Moments of the fit rows [max(0, r - window), r) of every row r."""
    m, k = len(rows), z.shape[1]
    upper = np.triu_indices(k)
    out = Moments(np.zeros(m), np.zeros((m, k)), np.zeros((m, k, k)))
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
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / n[:, None]
            centred = second[hi - a] - second[lo - a] - s1[:, upper[0]] * s1[:, upper[1]] / n[:, None]
        cov = np.zeros((len(n), k, k))
        cov[:, upper[0], upper[1]] = centred
        cov[:, upper[1], upper[0]] = centred
        out.n[part], out.mean[part], out.cov[part] = n, mean + ref, cov
        # a prefix sum carries rounding of its largest partial sums: recompute rows where that
        # could matter against the window's own spread
        error = 2 * EPS * (b - a + 1) * np.abs(second).max(axis=0)
        diagonal = np.flatnonzero(upper[0] == upper[1])
        risky = np.any(error[diagonal] > ACCURACY * centred[:, diagonal], axis=1) & (n > 0)
        if risky.any():
            idx = np.flatnonzero(risky) + s
            exact = direct_moments(z, valid, rows[idx], window)
            out.n[idx], out.mean[idx], out.cov[idx] = exact.n, exact.mean, exact.cov
    return out


def direct_moments(z: np.ndarray, valid: np.ndarray, rows: np.ndarray, window: int) -> Moments:
    """The same moments from the window's values themselves (a few rows at a time)."""
    m, k = len(rows), z.shape[1]
    out = Moments(np.zeros(m), np.zeros((m, k)), np.zeros((m, k, k)))
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
            mean = values.sum(axis=1) / n[:, None]
        dev = np.where(use[:, :, None], values - mean[:, None, :], 0.0)
        out.n[s:s + per_batch], out.mean[s:s + per_batch] = n, mean
        out.cov[s:s + per_batch] = np.einsum("rwa,rwb->rab", dev, dev)
    return out


def fit(moments: Moments, lag_values: np.ndarray, lags: int) -> tuple[np.ndarray, np.ndarray]:
    """Prediction and residual sigma of every window's AR fit at the current lag values."""
    m = len(moments.n)
    prediction, sigma = np.empty(m), np.empty(m)
    for s in range(0, m, FIT_ROWS):
        part = slice(s, s + FIT_ROWS)
        prediction[part], sigma[part] = _fit(moments.n[part], moments.mean[part], moments.cov[part],
                                             lag_values[part], lags)
    return prediction, sigma


def _fit(n, mean, cov, lag_values, lags):
    """The standardised ridge fit, solved in the window's own units: with c the target mean, s
    the scale and l = (lag means - c) / s, the intercept is -n l'beta / (n + ridge) and the lag
    coefficients solve (C_ll + rho I + w d d') beta = C_l0, d = s l, rho = ridge s^2,
    w = n ridge / (n + ridge): a system of the lags only, without the cancellation of eliminating
    the intercept from the full normal equations."""
    k = lags + 1
    lagged = np.arange(1, k)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        centre = mean[:, 0]
        d = mean[:, 1:] - centre[:, None]
        c00, c_l0 = cov[:, 0, 0], cov[:, 1:, 0]
        s2 = c00 / n
        s2 = np.where(np.isfinite(s2) & (s2 > 0), s2, 1.0)
        dd = np.einsum("ra,ra->r", d, d)
        rho = (RIDGE / k) * (n * s2 + np.trace(cov, axis1=1, axis2=2) - c00 + n * dd)
        ridge = rho / s2
        shrink = n / (n + ridge)
        system = cov[:, 1:, 1:] + np.einsum("ra,rb->rab", (shrink * ridge)[:, None] * d, d)
        system[:, lagged - 1, lagged - 1] += rho[:, None]
        beta = _solve(system, c_l0)
        lead = shrink * np.einsum("ra,ra->r", d, beta)  # -s * intercept
        rss = c00 - np.einsum("ra,ra->r", beta, c_l0) - rho * (np.einsum("ra,ra->r", beta, beta) + lead * lead / s2)
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
            clamped = stabilize.clamp(s.processed, s.q, bands, p["window_size"] + p["lags"], state.update,
                                      state.reband, state.write_back)
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
            fields.append(Field("stabilized_in_window", pl.when(pl.col("_stabilized") > 0)
                                .then(integer("_stabilized")), optional=True))
        return columns, ("_sigma", "_prediction"), fields


class _Clamping:
    """What a clamp changes: the lag vectors holding the row, and through them the fits of the
    windows holding those. A clamp only rewrites the vectors; when the walk reaches a position,
    its window's moments are corrected for the vectors that changed and its fit is solved."""

    def __init__(self, detector: AutoregDetector, processed, z, q, moments: Moments, bands,
                 prediction: np.ndarray, sigma: np.ndarray):
        self.detector, self.processed, self.z = detector, processed, z
        self.valid = np.isfinite(z).all(axis=1)  # fit rows, as the clamps leave them
        self.q, self.moments, self.bands = q, moments, bands
        self.prediction, self.sigma = prediction, sigma  # updated in place
        self.lags, self.window = detector.params["lags"], detector.params["window_size"]
        self.original = np.empty_like(z)               # vectors as they were before their first change
        self.changed = np.zeros(len(z), dtype=bool)

    def write_back(self, row: int, bound: float) -> float:
        """The bound, kept within the raw values the row's fit could see."""
        seen = self.processed[max(self.lags, row - self.window) - self.lags:row]
        seen = seen[np.isfinite(seen)]
        return float(np.clip(bound, seen.min(), seen.max())) if seen.size else bound

    def update(self, work, row: int, before: float, after: float, span: slice) -> None:
        # the clamped value sits in lag vectors row .. row + lags
        targets = np.arange(row, min(row + self.lags + 1, len(self.z)))
        fresh = targets[~self.changed[targets]]
        self.original[fresh] = self.z[fresh]
        self.changed[fresh] = True
        self.z[targets, targets - row] = after
        self.valid[targets] = np.isfinite(self.z[targets]).all(axis=1)

    def reband(self, work, part: slice) -> None:
        rows = self.q[part]
        moments = self.moments.take(part)
        start = max(int(rows[0]) - self.window, 0)
        targets = np.flatnonzero(self.changed[start:int(rows[-1])]) + start  # changed rows some window holds
        if targets.size:
            moments, risky = moments.swapped(rows, targets, self.original[targets], self.z[targets], self.window)
            if risky.any():
                exact = direct_moments(self.z, self.valid, rows[risky], self.window)
                moments.n[risky], moments.mean[risky], moments.cov[risky] = exact.n, exact.mean, exact.cov
        prediction, sigma = fit(moments, self.z[rows, 1:], self.lags)
        self.bands.assign(part, self.detector._bands(prediction, sigma))
        self.prediction[part], self.sigma[part] = prediction, sigma
