"""Store speed, embedded DuckDB files vs the shared PostgreSQL store on this machine.

- tick: the store calls of one metric's 10-minute tick (context read, datapoints, detections of
  3 detectors, the alert replay's reads, events and checkpoints), in milliseconds;
- bulk: a year of 10-minute detections of 3 detectors (157,680 rows) written and read back.

PostgreSQL is a private server started for the run (as in the tests), or the one named by
$DETECTKIT_BENCH_POSTGRES_DSN.

    python benchmarks/bench_store.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from detectkit_dagster.schemas import ALERT_STATE, DATAPOINTS, DETECTIONS
from detectkit_dagster.storage import DuckDBStorage
from detectkit_dagster.storage.postgres import PostgresStorage

STEP = timedelta(minutes=10)
START = datetime(2024, 1, 1)
DETECTORS = ("mad_1", "zscore_2", "iqr_3")


def detections(first: datetime, points: int) -> pl.DataFrame:
    rng = np.random.default_rng(1)
    n = points * len(DETECTORS)
    stamps = np.repeat(np.arange(points), len(DETECTORS))
    return pl.DataFrame({
        "timestamp": [first + int(i) * STEP for i in stamps],
        "detector_id": list(DETECTORS) * points,
        "detector_name": ["MADDetector"] * n,
        "detector_params": ['{"threshold":3.0,"window_size":288}'] * n,
        "value": rng.normal(100, 5, n), "processed_value": rng.normal(100, 5, n),
        "confidence_lower": rng.normal(90, 1, n), "confidence_upper": rng.normal(110, 1, n),
        "is_anomaly": rng.random(n) < 0.02, "severity": rng.random(n),
        "direction": ["up"] * n, "status": ["ok"] * n, "detection_metadata": ['{"global_mean":100.1}'] * n,
    }, schema=DETECTIONS)


def datapoints(first: datetime, points: int) -> pl.DataFrame:
    return pl.DataFrame({"timestamp": [first + i * STEP for i in range(points)],
                         "value": np.random.default_rng(2).normal(100, 5, points),
                         "seasonality_data": ['{"hour":1}'] * points}, schema=DATAPOINTS)


def tick(store, at: datetime) -> None:
    end = at + STEP
    store.read_range("datapoints", at - 288 * STEP, end, schema=DATAPOINTS)
    store.replace_range("datapoints", datapoints(at, 1), at, end)
    store.replace_range("alert_state", pl.DataFrame(schema=ALERT_STATE), at + timedelta(milliseconds=1), None)
    store.replace_range("detections", detections(at, 1), at, end, scope=("detector_id", list(DETECTORS)))
    with store.reading() as reader:
        reader.read_range("alert_state", at, at + timedelta(milliseconds=1), schema=ALERT_STATE)
        reader.read_range("datapoints", at, end, schema=DATAPOINTS)
        reader.read_range("detections", at, end, order_by=("timestamp", "detector_id"), schema=DETECTIONS)
    state = pl.DataFrame({"timestamp": [at, end], "state_key": ["a:1", "a:1"], "state": ["{}", "{}"]}, schema=ALERT_STATE)
    store.replace_range("alert_state", state, at, end + timedelta(milliseconds=1), scope=("state_key", ["a:1"]))


def measure(name: str, storage) -> dict:
    store = storage.metric("bench")
    history = 2016  # two weeks stored before the ticks
    store.replace_range("datapoints", datapoints(START, history), None, None)
    store.replace_range("detections", detections(START, history), None, None)
    times = []
    for i in range(40):
        at = START + (history + i) * STEP
        began = time.perf_counter()
        tick(store, at)
        times.append(time.perf_counter() - began)
    year = detections(START, 52_560)
    bulk = storage.metric("bulk")
    began = time.perf_counter()
    bulk.replace_range("detections", year, None, None)
    wrote = time.perf_counter() - began
    began = time.perf_counter()
    back = bulk.read_range("detections", order_by=("timestamp", "detector_id"), schema=DETECTIONS)
    read = time.perf_counter() - began
    assert back.equals(year.sort("timestamp", "detector_id")), "read back differs from what was written"
    return {"name": name, "tick_ms": 1000 * statistics.median(times), "write_rows_s": year.height / wrote,
            "read_rows_s": year.height / read, "rows": year.height}


def main() -> None:
    stop = None
    dsn = os.environ.get("DETECTKIT_BENCH_POSTGRES_DSN")
    if not dsn:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from support.postgres import start_server

        server, stop = start_server()
        dsn = server.dsn
    try:
        with tempfile.TemporaryDirectory() as folder:
            results = [measure("duckdb files", DuckDBStorage(folder)),
                       measure("postgresql", PostgresStorage(dsn, f"bench_{uuid.uuid4().hex[:8]}"))]
    finally:
        if stop:
            stop()
    print(f"{'store':<14}{'tick (median)':>15}{'bulk write':>16}{'bulk read':>16}")
    for r in results:
        print(f"{r['name']:<14}{r['tick_ms']:>12.1f} ms{r['write_rows_s']:>11,.0f} r/s{r['read_rows_s']:>11,.0f} r/s")
    duck, pg = results
    print(f"postgresql / duckdb: tick x{pg['tick_ms'] / duck['tick_ms']:.1f}, "
          f"write x{duck['write_rows_s'] / pg['write_rows_s']:.1f} slower, "
          f"read x{duck['read_rows_s'] / pg['read_rows_s']:.1f} slower ({duck['rows']:,} rows)")


if __name__ == "__main__":
    main()
