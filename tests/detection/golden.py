"""Loading and comparing the reference outputs in shared/golden/detection/."""

from __future__ import annotations

import csv
import gzip
import json
import math
from pathlib import Path

import numpy as np

GOLDEN_DIR = Path("/work/shared/golden/detection")
REL_TOL = 1e-9
ABS_TOL = 1e-12


def manifest() -> list[dict]:
    return json.loads((GOLDEN_DIR / "manifest.json").read_text())


def input_series():
    """(timestamps datetime64[ms], values float64, seasonality dict of object arrays)."""
    with open(GOLDEN_DIR / "input_series.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    ts = np.array([r["timestamp"] for r in rows], dtype="datetime64[ms]")
    values = np.array([float(r["value"]) if r["value"] not in ("", "nan") else np.nan for r in rows])
    payloads = [json.loads(r["seasonality_data"]) for r in rows]
    names = sorted({k for p in payloads for k in p})
    seasonality = {n: np.array([p.get(n) for p in payloads], dtype=object) for n in names}
    return ts, values, seasonality


def expected(name: str) -> list[dict]:
    with gzip.open(GOLDEN_DIR / f"{name}.csv.gz", "rt", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for r in rows:
        out.append({
            "processed": float(r["processed_value"]),
            "lower": float(r["lower"]) if r["lower"] != "" else None,
            "upper": float(r["upper"]) if r["upper"] != "" else None,
            "is_anomaly": r["is_anomaly"] == "1",
            "metadata": json.loads(r["metadata"]),
            "metadata_text": r["metadata"],
        })
    return out


def close(a, b, rel=REL_TOL, abs_tol=ABS_TOL) -> bool:
    """Float comparison used throughout the parity tests (None/NaN/inf aware)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) and math.isnan(a) or isinstance(b, float) and math.isnan(b):
        return isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), abs_tol)


def same_json(a, b, path="$", rel=REL_TOL, abs_tol=ABS_TOL) -> list[str]:
    """Recursive comparison of parsed JSON values; returns a list of differences."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(a)} != {sorted(b)}"]
        diffs = []
        for k in a:
            diffs += same_json(a[k], b[k], f"{path}.{k}", rel, abs_tol)
        return diffs
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: lengths {len(a)} != {len(b)}"]
        diffs = []
        for i, (x, y) in enumerate(zip(a, b)):
            diffs += same_json(x, y, f"{path}[{i}]", rel, abs_tol)
        return diffs
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return [] if a == b and type(a) is type(b) else [f"{path}: {a!r} != {b!r}"]
    if type(a) is not type(b):
        return [f"{path}: type {type(a).__name__} != {type(b).__name__} ({a!r} vs {b!r})"]
    return [] if close(float(a), float(b), rel, abs_tol) else [f"{path}: {a!r} != {b!r}"]


def near_bound(value, lower, upper, rel=REL_TOL, abs_tol=ABS_TOL) -> bool:
    return any(b is not None and close(value, b, rel, abs_tol) for b in (lower, upper))


def compare_frame(frame, expected_rows, rel=REL_TOL, abs_tol=ABS_TOL) -> list[str]:
    """Differences between a detection frame and expected per-point results.

    ``expected_rows`` items: processed, lower, upper, is_anomaly, metadata (parsed JSON).
    A flag may differ only for a point within tolerance of a bound; then the anomaly
    keys (direction/distance/severity) are excused too.
    """
    diffs = []
    rows = frame.to_dicts()
    if len(rows) != len(expected_rows):
        return [f"length {len(rows)} != {len(expected_rows)}"]
    for i, (got, exp) in enumerate(zip(rows, expected_rows)):
        where = f"row {i}"
        pv = got["processed_value"]
        if not close(float(pv) if pv is not None else math.nan, exp["processed"], rel, abs_tol):
            diffs.append(f"{where}: processed {pv!r} != {exp['processed']!r}")
        for col, key in (("confidence_lower", "lower"), ("confidence_upper", "upper")):
            if not close(got[col], exp[key], rel, abs_tol):
                diffs.append(f"{where}: {col} {got[col]!r} != {exp[key]!r}")
        meta = json.loads(got["detection_metadata"])
        emeta = dict(exp["metadata"])
        if got["is_anomaly"] != exp["is_anomaly"]:
            if not near_bound(exp["processed"], exp["lower"], exp["upper"], rel, abs_tol):
                diffs.append(f"{where}: is_anomaly {got['is_anomaly']} != {exp['is_anomaly']}")
            for key in ("direction", "distance", "severity"):
                meta.pop(key, None)
                emeta.pop(key, None)
        diffs += same_json(meta, emeta, where, rel, abs_tol)
        status = "ok" if "reason" not in meta else meta["reason"]
        if got["status"] != status:
            diffs.append(f"{where}: status {got['status']} != {status}")
        if got["is_anomaly"]:
            direction = {"above": "up", "below": "down"}[meta.get("direction", "above")]
            if got["direction"] != direction:
                diffs.append(f"{where}: direction column {got['direction']} vs metadata")
            if not close(got["severity"], meta.get("severity") if meta.get("severity") is not None else math.inf):
                diffs.append(f"{where}: severity column {got['severity']} vs metadata {meta.get('severity')}")
        elif got["direction"] is not None or got["severity"] is not None:
            diffs.append(f"{where}: direction/severity set on a normal point")
    return diffs
