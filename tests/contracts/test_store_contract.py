"""The store protocol, the same tests for every backend: embedded DuckDB files and a real
PostgreSQL server (one per test session, a fresh schema per test)."""

from __future__ import annotations

import multiprocessing
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta

import polars as pl
import pytest

from detectkit_dagster.storage import Write
from detectkit_dagster.errors import StorageError
from detectkit_dagster.schemas import DATAPOINTS, DETECTIONS
from support.stores import DAY, day_rows, open_spec, write_rounds

START = datetime(2024, 1, 1)
HOUR = timedelta(hours=1)


@pytest.fixture(params=["duckdb", "postgres"])
def spec(request, tmp_path) -> tuple:
    if request.param == "duckdb":
        return ("duckdb", str(tmp_path / "store"))
    server = request.getfixturevalue("postgres")
    return ("postgres", server.dsn, f"contract_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def storage(spec):
    return open_spec(spec)


@pytest.fixture
def store(storage):
    return storage.metric("orders")


def hourly(first: datetime, hours: int, offset: float = 0.0) -> pl.DataFrame:
    return pl.DataFrame({
        "timestamp": [first + i * HOUR for i in range(hours)],
        "value": [float(i) + offset for i in range(hours)],
    }).with_columns(pl.col("timestamp").cast(pl.Datetime("ms")))


def detections(first: datetime, hours: int, ids: list[str], value: float) -> pl.DataFrame:
    return pl.DataFrame([
        {"timestamp": first + i * HOUR, "detector_id": d, "value": value, "is_anomaly": i % 2 == 0}
        for i in range(hours) for d in ids
    ]).with_columns(pl.col("timestamp").cast(pl.Datetime("ms")))


def test_every_value_comes_back_as_written(store):
    frame = pl.DataFrame({
        "timestamp": [START + i * HOUR for i in range(6)],
        "value": [1.5, float("nan"), None, float("inf"), -float("inf"), 0.1 + 0.2],
        "count": [1, None, -3, 2**62, 0, 7],
        "flag": [True, False, None, True, False, True],
        "label": ["plain", "", None, 'comma, "quote"\nnew line', "ünïcode ✓", "\\N"],
        "day": [date(2024, 1, 1), None, date(1969, 12, 31), date(2100, 2, 28), date(2024, 2, 29), date(1970, 1, 1)],
    }).with_columns(pl.col("timestamp").cast(pl.Datetime("ms")))
    store.replace_range("mixed", frame, None, None)
    back = store.read_range("mixed")
    assert back.schema == frame.schema
    assert back.equals(frame)
    assert back["value"].is_nan().to_list() == [False, True, None, False, False, False]
    assert back["label"].to_list()[1:3] == ["", None]


def test_replace_range_replaces_exactly_its_range(store):
    store.replace_range("datapoints", hourly(START, 72), START, START + 3 * DAY)
    new = hourly(START + DAY, 24, offset=1000)
    store.replace_range("datapoints", new, START + DAY, START + 2 * DAY)
    store.replace_range("datapoints", new, START + DAY, START + 2 * DAY)  # a re-run leaves one copy
    back = store.read_range("datapoints")
    assert back.height == 72
    assert back.filter(pl.col("timestamp") < START + DAY).equals(hourly(START, 24))
    assert back.filter(pl.col("timestamp").is_between(START + DAY, START + 2 * DAY, closed="left")).equals(new)
    assert back.filter(pl.col("timestamp") >= START + 2 * DAY)["value"].to_list() == [float(i) for i in range(48, 72)]


def test_rows_of_the_range_not_in_the_frame_are_deleted(store):
    store.replace_range("datapoints", hourly(START, 48), None, None)
    store.replace_range("datapoints", hourly(START + DAY, 2), START + DAY, START + 2 * DAY)
    store.replace_range("datapoints", hourly(START, 0), START, START + HOUR)  # an empty frame
    back = store.read_range("datapoints")
    assert back["timestamp"].to_list() == [START + i * HOUR for i in range(1, 24)] + [START + DAY, START + DAY + HOUR]


@pytest.mark.parametrize("bounds, kept_hours", [
    ((None, START + 10 * HOUR), range(10, 48)),
    ((START + 40 * HOUR, None), range(0, 40)),
    ((None, None), range(0)),
])
def test_unbounded_ranges(store, bounds, kept_hours):
    store.replace_range("datapoints", hourly(START, 48), None, None)
    store.replace_range("datapoints", hourly(START, 0), *bounds)
    assert store.read_range("datapoints")["timestamp"].to_list() == [START + h * HOUR for h in kept_hours]
    assert store.read_range("datapoints", START + 5 * HOUR, None).height == len([h for h in kept_hours if h >= 5])
    assert store.read_range("datapoints", None, START + 45 * HOUR).height == len([h for h in kept_hours if h < 45])


def test_scoped_write_replaces_only_its_keys(store):
    store.replace_range("detections", detections(START, 48, ["a", "b", "c"], 1.0), START, START + 2 * DAY)
    store.replace_range("detections", detections(START + DAY, 24, ["a", "c"], 2.0)
                        .filter(pl.col("detector_id") == "a"),
                        START + DAY, START + 2 * DAY, scope=("detector_id", ["a", "c"]))
    back = store.read_range("detections", order_by=("timestamp", "detector_id"))
    second_day = back.filter(pl.col("timestamp") >= START + DAY)
    assert second_day.group_by("detector_id").agg(pl.col("value").unique()).sort("detector_id").rows() == [
        ("a", [2.0]), ("b", [1.0])]  # c's rows of the range are gone: it was in scope, not in the frame
    assert back.filter(pl.col("timestamp") < START + DAY).height == 72
    assert back.select("timestamp", "detector_id").is_unique().all()


def test_failed_write_leaves_the_previous_rows(store):
    before = hourly(START, 48)
    store.replace_range("datapoints", before, None, None)
    bad = hourly(START, 48).with_columns(
        pl.Series("value", [str(i) for i in range(47)] + ["not a number"]), note=pl.lit("new column"))
    with pytest.raises(StorageError, match="datapoints"):
        store.replace_range("datapoints", bad, START, START + 2 * DAY)
    assert store.read_range("datapoints").equals(before)  # no row deleted, no column added


def test_new_columns_are_added_and_old_rows_read_null(store):
    store.replace_range("datapoints", hourly(START, 24), START, START + DAY)
    wider = hourly(START + DAY, 24).with_columns(note=pl.lit("x"), weight=pl.lit(2, dtype=pl.Int64))
    store.replace_range("datapoints", wider.select("note", "timestamp", "weight", "value"), START + DAY, START + 2 * DAY)
    store.replace_range("datapoints", hourly(START + 2 * DAY, 24).drop("value"), START + 2 * DAY, START + 3 * DAY)
    back = store.read_range("datapoints")
    assert back.columns == ["timestamp", "value", "note", "weight"]
    assert back.schema["weight"] == pl.Int64
    assert back["note"].to_list() == [None] * 24 + ["x"] * 24 + [None] * 24
    assert back["value"].null_count() == 24


def test_rows_come_back_in_the_asked_order(store):
    ids = ["b", "B", "_x", "a", "Z", "a1", "10", "9"]
    frame = detections(START, 3, ids, 1.0).sample(fraction=1.0, shuffle=True, seed=3)
    store.replace_range("detections", frame, None, None)
    back = store.read_range("detections", order_by=("timestamp", "detector_id"))
    assert back.equals(frame.sort("timestamp", "detector_id"))
    assert back["detector_id"].to_list()[:len(ids)] == sorted(ids)  # byte order, as everywhere
    by_id = store.read_range("detections", order_by=("detector_id", "timestamp"))
    assert by_id.equals(frame.sort("detector_id", "timestamp"))


def test_empty_reads_have_the_asked_schema(storage, store):
    assert store.read_range("datapoints", schema=DATAPOINTS).schema == pl.Schema(DATAPOINTS)
    assert store.read_range("datapoints").shape == (0, 0)
    store.replace_range("datapoints", hourly(START, 24), None, None)
    empty = store.read_range("datapoints", START + DAY, None, schema=DATAPOINTS)
    assert empty.height == 0 and empty.schema == pl.Schema(DATAPOINTS)
    assert store.read_range("datapoints", START + DAY, None).schema == pl.Schema(
        {"timestamp": pl.Datetime("ms"), "value": pl.Float64})
    some = store.read_range("detections", schema=DETECTIONS, columns=["timestamp", "is_anomaly"])
    assert some.schema == pl.Schema({"timestamp": pl.Datetime("ms"), "is_anomaly": pl.Boolean})
    assert storage.metric("other").read_range("datapoints", schema=DATAPOINTS).height == 0


def test_schema_casts_on_read(store):
    frame = hourly(START, 5).with_columns(value=pl.col("value").cast(pl.Int64), extra=pl.lit("kept"))
    store.replace_range("datapoints", frame, None, None)
    back = store.read_range("datapoints", schema=DATAPOINTS)
    assert back.schema == pl.Schema({"timestamp": pl.Datetime("ms"), "value": pl.Float64, "extra": pl.String})
    assert back["value"].to_list() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_columns_selects_and_orders_columns(store):
    store.replace_range("detections", detections(START, 4, ["a", "b"], 1.5), None, None)
    back = store.read_range("detections", START + HOUR, START + 3 * HOUR, order_by=("timestamp", "detector_id"),
                            columns=["is_anomaly", "timestamp"])
    assert back.columns == ["is_anomaly", "timestamp"]
    assert back["timestamp"].to_list() == [START + HOUR] * 2 + [START + 2 * HOUR] * 2
    with_schema = store.read_range("detections", schema=DETECTIONS, columns=["detector_id", "value"],
                                   order_by=("timestamp", "detector_id"))
    assert with_schema.schema == pl.Schema({"detector_id": pl.String, "value": pl.Float64})


def test_reading_gives_several_reads_on_one_connection(store):
    store.replace_range("datapoints", hourly(START, 24), None, None)
    store.replace_range("detections", detections(START, 24, ["a"], 3.0), None, None)
    with store.reading() as reader:
        points = reader.read_range("datapoints", START, START + 12 * HOUR, schema=DATAPOINTS)
        found = reader.read_range("detections", START, START + 12 * HOUR, schema=DETECTIONS, columns=["timestamp"])
        missing = reader.read_range("alerts", schema={"timestamp": pl.Datetime("ms")})
    assert points.equals(store.read_range("datapoints", START, START + 12 * HOUR, schema=DATAPOINTS))
    assert found["timestamp"].equals(points["timestamp"])
    assert missing.height == 0 and missing.columns == ["timestamp"]


def test_millisecond_timestamps(store):
    stamps = [datetime(1969, 12, 31, 23, 59, 59, 999000), datetime(1970, 1, 1), datetime(2024, 2, 29, 12, 0, 0, 1000),
              datetime(2024, 2, 29, 12, 0, 0, 2000), datetime(2099, 12, 31, 23, 59, 59, 999000)]
    frame = pl.DataFrame({"timestamp": stamps, "value": [1.0, 2.0, 3.0, 4.0, 5.0]}).with_columns(
        pl.col("timestamp").cast(pl.Datetime("ms")))
    store.replace_range("datapoints", frame, None, None)
    back = store.read_range("datapoints")
    assert back.schema["timestamp"] == pl.Datetime("ms") and back["timestamp"].to_list() == stamps
    # Bounds are exact to the millisecond: start inclusive, end exclusive.
    one = store.read_range("datapoints", stamps[2], stamps[3])
    assert one["timestamp"].to_list() == [stamps[2]]
    store.replace_range("datapoints", frame.head(0), stamps[3], stamps[3] + timedelta(milliseconds=1))
    assert store.read_range("datapoints")["value"].to_list() == [1.0, 2.0, 3.0, 5.0]


def test_delete_other_keys(store):
    store.replace_range("detections", detections(START, 10, ["a", "b", "c"], 1.0), None, None)
    assert store.delete_other_keys("detections", "detector_id", ["a", "c"]) == 10
    assert sorted(store.read_range("detections")["detector_id"].unique()) == ["a", "c"]
    assert store.delete_other_keys("detections", "detector_id", ["a", "c"]) == 0
    assert store.delete_other_keys("alerts", "config_id", ["x"]) == 0  # never written


def test_tables_lists_what_the_metric_wrote(storage, store):
    assert store.tables() == []
    store.replace_range("datapoints", hourly(START, 3), None, None)
    store.replace_range("alert_state", pl.DataFrame(schema={"timestamp": pl.Datetime("ms"), "state": pl.String}),
                        None, None)
    other = storage.metric("refunds")
    other.replace_range("detections", detections(START, 2, ["a"], 1.0), None, None)
    assert sorted(store.tables()) == ["alert_state", "datapoints"]
    assert other.tables() == ["detections"]


def test_metrics_do_not_see_each_other(storage, store):
    other = storage.metric("refunds")
    store.replace_range("datapoints", hourly(START, 24), None, None)
    other.replace_range("datapoints", hourly(START, 24, offset=50).with_columns(note=pl.lit("r")), None, None)
    store.replace_range("datapoints", hourly(START, 0), None, None)  # clears this metric only
    assert store.read_range("datapoints").height == 0
    assert store.read_range("datapoints").columns == ["timestamp", "value"]
    assert other.read_range("datapoints")["value"].to_list() == [i + 50.0 for i in range(24)]
    assert other.delete_other_keys("datapoints", "note", []) == 24
    assert store.read_range("datapoints", schema=DATAPOINTS).height == 0


def test_bad_names_are_refused_before_any_sql(storage, store):
    for bad in ('x"; DROP TABLE datapoints; --', "1abc", "a b", ""):
        with pytest.raises(ValueError, match="not a valid"):
            store.replace_range(bad, hourly(START, 1), None, None)
        with pytest.raises(ValueError, match="not a valid"):
            store.read_range("datapoints", column=bad, order_by=(bad,))
        with pytest.raises(ValueError, match="not a valid"):
            storage.metric(bad)
    with pytest.raises(ValueError, match="not a valid"):
        store.replace_range("datapoints", hourly(START, 1).rename({"value": "va lue"}), None, None)
    assert store.tables() == []


def test_concurrent_writers_in_two_processes_never_interleave(spec, store):
    days, points, rounds = 6, 48, 25
    store.replace_range("datapoints", day_rows(START, days, points, -1.0), None, None)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        writers = [pool.submit(write_rounds, spec, "orders", w, rounds, START, days, points) for w in (1, 2)]
        snapshots = []
        while not all(w.done() for w in writers):
            snapshots.append(store.read_range("datapoints"))
            time.sleep(0.05)  # pacing only: leave the writers room
        assert [w.result() for w in writers] == [rounds, rounds]
    snapshots.append(store.read_range("datapoints"))
    for frame in snapshots:  # every read, also during the writes, sees whole ranges only
        per_day = frame.group_by(pl.col("timestamp").dt.truncate("1d")).agg(
            rows=pl.len(), unique=pl.col("timestamp").n_unique(), markers=pl.col("value").n_unique())
        assert per_day.height == days
        assert per_day["rows"].to_list() == [points] * days
        assert per_day["unique"].to_list() == [points] * days
        assert per_day["markers"].to_list() == [1] * days
    final = snapshots[-1]
    assert set(final["value"].unique()) <= {-1.0} | {w * 1000.0 + r for w in (1, 2) for r in range(rounds)}


def test_writes_to_several_tables_happen_together_or_not_at_all(store):
    store.replace_ranges([Write("datapoints", hourly(START, 24), None, None),
                          Write("alert_state", hourly(START, 2).rename({"value": "level"}), None, None)])
    bad = hourly(START, 24).with_columns(pl.Series("value", ["x"] * 24))
    with pytest.raises(StorageError):
        store.replace_ranges([Write("alert_state", hourly(START, 0).rename({"value": "level"}), START, None),
                              Write("datapoints", bad, START, START + DAY)])
    assert store.read_range("alert_state").height == 2  # the first write rolled back with the second
    store.replace_ranges([Write("alert_state", hourly(START, 0).rename({"value": "level"}), START, None),
                          Write("datapoints", hourly(START, 24).with_columns(pl.col("value") + 1), START, START + DAY)])
    assert store.read_range("alert_state").height == 0
    assert store.read_range("datapoints")["value"].to_list() == (hourly(START, 24)["value"] + 1).to_list()
