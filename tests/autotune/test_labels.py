"""Incident labels: the format, its errors, and the projection onto the grid."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from detectkit_dagster.autotune import Labels, parse_labels, project_labels
from detectkit_dagster.errors import AutotuneError

GRID = np.datetime64("2025-01-06T00:00", "ms") + np.arange(50) * np.timedelta64(600, "s")


def test_intervals_points_and_labels_parse():
    labels = parse_labels({
        "metric": "orders",
        "incidents": [
            {"start": "2025-01-06 01:00:00", "end": "2025-01-06 02:00:00", "label": "  outage "},
            {"at": "2025-01-06 03:00:00"},
            {"start": "2025-01-06", "end": "2025-01-06 00:30:00"},
        ],
        "capture_windows": [{"start": "2025-01-06 00:00:00", "end": "2025-01-06 05:00:00"}],
    }, metric="orders")
    first, point, by_day = labels.incidents
    assert (first.start, first.end, first.label, first.point) == (
        datetime(2025, 1, 6, 1), datetime(2025, 1, 6, 2), "outage", False)
    assert point.point and point.start == point.end == datetime(2025, 1, 6, 3)
    assert by_day.start == datetime(2025, 1, 6)
    assert labels.capture_windows == ((datetime(2025, 1, 6), datetime(2025, 1, 6, 5)),)


def test_a_bare_list_and_datetime_values_are_accepted():
    aware = datetime(2025, 1, 6, 5, tzinfo=timezone(timedelta(hours=2)))
    labels = parse_labels([{"start": datetime(2025, 1, 6, 1), "end": aware}])
    assert labels.incidents[0].end == datetime(2025, 1, 6, 3)  # converted to UTC, not stripped


def test_naive_times_are_local_to_the_timezone():
    labels = parse_labels({"timezone": "Europe/Berlin", "incidents": [{"at": "2025-01-06 10:00:00"}]})
    assert labels.incidents[0].start == datetime(2025, 1, 6, 9)


@pytest.mark.parametrize("data, message", [
    (None, "Empty labels file"),
    ({"metric": "signups", "incidents": []}, "labels are for metric 'signups', not 'orders'"),
    ({"incidents": {"start": "2025-01-06"}}, "'incidents' must be a list"),
    ({"incidents": ["2025-01-06"]}, "incidents[0]: expected a mapping"),
    ({"incidents": [{"start": "2025-01-06"}]}, "incidents[0]: needs 'at' (a point) or both 'start' and 'end'"),
    ({"incidents": [{"start": "2025-01-07", "end": "2025-01-06"}]},
     "incidents[0]: Incident start 2025-01-07 00:00:00 is after end 2025-01-06 00:00:00"),
    ({"incidents": [{"at": "yesterday"}]}, "incidents[0].at: 'yesterday' is not a time"),
    ({"timezone": "Mars/Base", "incidents": []}, "timezone 'Mars/Base' is not an IANA time zone"),
    ({"incidents": [], "capture_windows": [{"start": "2025-01-02", "end": "2025-01-01"}]},
     "capture_windows[0]: Incident start"),
])
def test_bad_labels_are_named(data, message):
    with pytest.raises(AutotuneError) as error:
        parse_labels(data, metric="orders")
    assert message in str(error.value)


def test_intervals_mark_every_grid_point_inside_both_ends_included():
    truth = project_labels(parse_labels([{"start": "2025-01-06 01:00:00", "end": "2025-01-06 01:30:00"}]), GRID, 600)
    assert np.flatnonzero(truth.y_true).tolist() == [6, 7, 8, 9]
    assert truth.spans == ((6, 9),) and truth.mode == "supervised" and truth.n_intervals == 1


def test_points_snap_to_the_nearest_grid_point_within_one_interval():
    labels = parse_labels([{"at": "2025-01-06 01:04:00"}, {"start": "2025-01-06 02:06:00", "end": "2025-01-06 02:06:00"},
                           {"at": "2025-01-07 02:00:00"}])
    truth = project_labels(labels, GRID, 600)
    assert np.flatnonzero(truth.y_true).tolist() == [6, 13]  # the day-later point is off the data
    assert truth.n_points == 2 and truth.n_intervals == 1


def test_labels_outside_the_data_mean_unsupervised():
    truth = project_labels(parse_labels([{"start": "2026-01-01", "end": "2026-01-02"}]), GRID, 600)
    assert truth.mode == "unsupervised" and truth.n_positive == 0 and truth.spans == ()


def test_overlapping_incidents_are_one_event():
    labels = parse_labels([{"start": "2025-01-06 01:00:00", "end": "2025-01-06 02:00:00"},
                           {"start": "2025-01-06 01:50:00", "end": "2025-01-06 02:30:00"}])
    assert project_labels(labels, GRID, 600).spans == ((6, 15),)


def test_the_document_round_trips():
    labels = parse_labels([{"start": "2025-01-06 01:00:00", "end": "2025-01-06 02:00:00", "label": "a"},
                           {"at": "2025-01-06 00:10:00"}])
    document = labels.to_document("orders")
    assert document["incidents"][0] == {"at": "2025-01-06 00:10:00"}
    assert parse_labels(document, metric="orders") == Labels(tuple(sorted(labels.incidents, key=lambda i: i.start)))
