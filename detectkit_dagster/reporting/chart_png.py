"""A small static chart as PNG bytes (numpy and zlib only): value, band, anomalies, alerts.

Made for places that show an image but run no script, such as Dagster metadata rendered as
markdown. Missing values leave gaps; the band is the widest of the detectors' bands in value
units where the detectors work on values.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
import polars as pl

WIDTH, HEIGHT, PAD = 640, 150, 6
_BACKGROUND = (255, 255, 255)
_BAND = (214, 228, 245)
_LINE = (40, 90, 160)
_ANOMALY = (214, 50, 50)
_ALERT = (240, 150, 40)
_RECOVERY = (54, 166, 79)


def chart_png(datapoints: pl.DataFrame, detections: pl.DataFrame | None = None,
              events: pl.DataFrame | None = None) -> bytes:
    """The chart of `datapoints` (timestamp, value) with the band and flags of `detections` and
    the alert events; an empty frame gives an empty chart."""
    image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    image[:] = _BACKGROUND
    if datapoints.height:
        _draw(image, datapoints.sort("timestamp"), detections, events)
    return _encode(image)


def _draw(image: np.ndarray, datapoints: pl.DataFrame, detections, events) -> None:
    t = datapoints["timestamp"].dt.epoch("ms").to_numpy().astype(float)
    v = datapoints["value"].fill_null(np.nan).to_numpy()
    lower = upper = np.full(len(t), np.nan)
    flagged = np.zeros(len(t), bool)
    if detections is not None and detections.height:
        values_based = detections.filter(pl.col("processed_value") == pl.col("value"))
        band = values_based.group_by("timestamp").agg(
            pl.col("confidence_lower").min(), pl.col("confidence_upper").max())
        joined = datapoints.select("timestamp").join(band, on="timestamp", how="left")
        lower = joined["confidence_lower"].fill_null(np.nan).to_numpy()
        upper = joined["confidence_upper"].fill_null(np.nan).to_numpy()
        anomalous = detections.filter(pl.col("is_anomaly"))["timestamp"].unique()
        flagged = datapoints["timestamp"].is_in(anomalous.implode()).to_numpy()
    finite = np.concatenate([a[np.isfinite(a)] for a in (v, lower, upper)])
    if finite.size == 0:
        return
    low, high = float(finite.min()), float(finite.max())
    span_t = max(t[-1] - t[0], 1.0)
    x = PAD + (t - t[0]) / span_t * (WIDTH - 2 * PAD - 1)
    to_y = lambda values: HEIGHT - PAD - 1 - (values - low) / max(high - low, 1e-12) * (HEIGHT - 2 * PAD - 1)
    columns = np.round(x).astype(int)
    ends = np.append(columns[1:], columns[-1] + 1)
    for first, last, lo, hi in zip(columns, ends, to_y(lower), to_y(upper)):
        if np.isfinite(lo) and np.isfinite(hi):  # each point's band reaches to the next point
            image[int(max(hi, 0)):int(min(lo, HEIGHT - 1)) + 1, first:max(last, first + 1)] = _BAND
    if events is not None and events.height:
        moments = events["timestamp"].dt.epoch("ms").to_numpy().astype(float)
        for kind, moment in zip(events["kind"].to_list(), moments):
            col = int(round(PAD + (moment - t[0]) / span_t * (WIDTH - 2 * PAD - 1)))
            if 0 <= col < WIDTH:
                image[:, col] = _RECOVERY if kind == "recovery" else _ALERT
    y = to_y(v)
    for i in range(1, len(v)):
        if np.isfinite(y[i - 1]) and np.isfinite(y[i]):
            _segment(image, columns[i - 1], y[i - 1], columns[i], y[i], _LINE)
    for col, row in zip(columns[flagged], y[flagged]):
        if np.isfinite(row):
            r = int(round(row))
            image[max(r - 2, 0):r + 3, max(col - 2, 0):col + 3] = _ANOMALY


def _segment(image: np.ndarray, x0: int, y0: float, x1: int, y1: float, color) -> None:
    steps = max(abs(x1 - x0), int(abs(y1 - y0)), 1)
    xs = np.round(np.linspace(x0, x1, steps + 1)).astype(int)
    ys = np.clip(np.round(np.linspace(y0, y1, steps + 1)).astype(int), 0, HEIGHT - 1)
    image[ys, xs] = color


def _encode(image: np.ndarray) -> bytes:
    """PNG: signature, IHDR (8-bit RGB), one zlib IDAT of filter-0 rows, IEND."""
    height, width, _ = image.shape
    raw = np.concatenate([np.zeros((height, 1), np.uint8), image.reshape(height, width * 3)], axis=1).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
