"""Hand-checkable examples of spec 11.5, the id examples of 6.4 and the edge cases of 7.9."""

import json
import math

import numpy as np
import pytest

from detectkit_dagster.detection import create_detector, order_stats
from detectkit_dagster.detection import params as P
from detectkit_dagster.detection.windows import trailing_windows

from .golden import close

TS = np.datetime64("2024-01-01T00:00", "ms") + np.arange(10) * np.timedelta64(1, "h")
VALUES = np.array([10, 12, 11, 13, 12, 50, 11, 12, np.nan, 12], dtype=float)
N, I, M = None, "insufficient_data", "missing_data"
inf = math.inf

# (params, id, rows): rows are (processed, lower, upper, anomalous, severity-or-reason)
TABLES = [
    ("mad", {"window_size": 5, "min_samples": 3}, "2d82110c3d306b5d", [
        (10, N, N, 0, I), (12, N, N, 0, I), (11, N, N, 0, I),
        (13, 6.5522, 15.447800000000001, 0, N), (12, 7.0522, 15.947800000000001, 0, N),
        (50, 7.5522, 16.447800000000001, 1, 22.630648860110618), (11, 7.5522, 16.447800000000001, 0, N),
        (12, 7.5522, 16.447800000000001, 0, N), (math.nan, N, N, 0, M), (12, 9.7760999999999996, 14.2239, 0, N)]),
    ("zscore", {"window_size": 5, "min_samples": 3}, "02de5ecd1fcc6ca7", [
        (10, N, N, 0, I), (12, N, N, 0, I), (11, N, N, 0, I),
        (13, 8, 14, 0, N), (12, 7.627016653792583, 15.372983346207416, 0, N),
        (50, 8.1794737247025875, 15.020526275297415, 1, 30.679027941389919),
        (11, -31.426463722268672, 70.626463722268682, 0, N), (12, -31.978010860678527, 70.778010860678535, 0, N),
        (math.nan, N, N, 0, M), (12, -36.267388675078081, 78.767388675078081, 0, N)]),
    ("iqr", {"window_size": 5, "min_samples": 4}, "2502e64f028c0ce8", [
        (10, N, N, 0, I), (12, N, N, 0, I), (11, N, N, 0, I), (13, N, N, 0, I),
        (12, 7.5, 15.5, 0, N), (50, 8.5, 14.5, 1, 23.666666666666668),
        (11, -4.0000000000000107, 38.000000000000014, 0, N), (12, -5.8750000000000107, 39.125000000000014, 0, N),
        (math.nan, N, N, 0, M), (12, -17.75, 60.25, 0, N)]),
    ("mad", {"window_size": 5, "min_samples": 3, "window_weights": "exponential", "half_life": 2}, "9480be693b4ba6e6", [
        (10, N, N, 0, I), (12, N, N, 0, I), (11, N, N, 0, I),
        (13, 8.1997640126674334, 14.042876674451851, 0, N), (12, 7.5019474683058336, 16.397547468305834, 0, N),
        (50, 8.7277434862128231, 15.272256513787177, 1, 31.838344585663627),
        (11, 6.9085669251629493, 18.576714449075624, 0, N), (12, 7.7296910095565998, 16.017855886149828, 0, N),
        (math.nan, N, N, 0, M), (12, 9.7760999999999996, 14.2239, 0, N)]),
    ("mad", {"window_size": 5, "min_samples": 3, "window_weights": "linear"}, "327567cb78bad7e5", [
        (10, N, N, 0, I), (12, N, N, 0, I), (11, N, N, 0, I),
        (13, 7.926266666666665, 14.295955555555556, 0, N), (12, 7.4799428571428574, 16.234342857142856, 0, N),
        (50, 8.6641499999999994, 15.335850000000001, 1, 31.174198480147489),
        (11, 7.313385714285717, 18.115185714285708, 0, N), (12, 7.5522, 16.447800000000001, 0, N),
        (math.nan, N, N, 0, M), (12, 9.458400000000001, 14.541599999999999, 0, N)]),
    ("mad", {"window_size": 5, "min_samples": 3, "detrend": "linear"}, "4660a54e56d13bf7", [
        (10, N, N, 0, I), (12, N, N, 0, I), (11, N, N, 0, I),
        (13, 6.5522, 15.447800000000001, 0, N), (12, 9.4141499999999994, 16.085850000000001, 0, N),
        (50, 10.62088, 14.179120000000001, 1, 60.402131390799902),
        (11, 8.5730799999999991, 21.026920000000004, 0, N), (12, 7.5522, 16.447800000000001, 0, N),
        (math.nan, N, N, 0, M), (12, -77.924075000000002, 52.174075000000002, 0, N)]),
    ("mad", {"window_size": 5, "min_samples": 3, "smoothing": "ema", "smoothing_alpha": 0.5}, "07d9ca3b11e86417", [
        (10, N, N, 0, I), (11, N, N, 0, I), (11, N, N, 0, I),
        (12, 10.9999999999, 11.0000000001, 1, inf), (12, 8.7760999999999996, 13.2239, 0, N),
        (31, 6.5522, 15.447800000000001, 1, 10.489815189531903), (21, 7.5522, 16.447800000000001, 1, 3.0704168352893562),
        (16.5, 7.5522, 16.447800000000001, 1, 0.035208417644677685),
        (16.5, -3.5151000000000003, 36.515100000000004, 0, N), (14.25, -3.5151000000000003, 36.515100000000004, 0, N)]),
    ("mad", {"window_size": 5, "min_samples": 3, "smoothing": "sma", "smoothing_window": 3}, "a4f126a38593f9ce", [
        (10, N, N, 0, I), (11, N, N, 0, I), (11, N, N, 0, I),
        (12, 10.9999999999, 11.0000000001, 1, inf), (12, 8.7760999999999996, 13.2239, 0, N),
        (25, 6.5522, 15.447800000000001, 1, 6.4428706326723324),
        (24.333333333333332, 7.5522, 16.447800000000001, 1, 5.3187193668780059),
        (24.333333333333332, 7.5522, 16.447800000000001, 1, 5.3187193668780059),
        (11.5, 21.368133333333326, 27.298533333333339, 1, 9.9839471199244318),
        (12, 21.368133333333326, 27.298533333333339, 1, 9.4780790503169872)]),
    ("mad", {"window_size": 5, "min_samples": 3, "input_type": "absolute_changes"}, "b7b4ce38d9d44d58", [
        (math.nan, N, N, 0, M), (2, N, N, 0, I), (-1, N, N, 0, I), (2, N, N, 0, I),
        (-1, 1.9999999999, 2.0000000001, 1, inf), (38, -6.1716999999999995, 7.1716999999999995, 1, 13.862268986914879),
        (-39, -11.343399999999999, 15.343399999999999, 1, 6.218040379513468),
        (1, -14.343399999999999, 12.343399999999999, 0, N), (math.nan, N, N, 0, M), (math.nan, N, N, 0, M)]),
]


@pytest.mark.parametrize("det_type,params,expected_id,rows", TABLES,
                         ids=[f"{t[0]}-{t[2]}" for t in TABLES])
def test_micro_table(det_type, params, expected_id, rows):
    det = create_detector(det_type, params)
    assert det.detector_id == expected_id
    frame = det.detect(TS, VALUES).to_dicts()
    for i, (got, (processed, lower, upper, anomalous, extra)) in enumerate(zip(frame, rows)):
        assert close(got["processed_value"], float(processed)), (i, got)
        assert close(got["confidence_lower"], lower) and close(got["confidence_upper"], upper), (i, got)
        assert got["is_anomaly"] == bool(anomalous), (i, got)
        meta = json.loads(got["detection_metadata"])
        if extra in (I, M):
            assert got["status"] == extra and meta["reason"] == extra
        elif anomalous:
            assert close(got["severity"], extra), (i, got)
            assert meta["severity"] == (None if extra == inf else pytest.approx(extra, rel=1e-12))
        else:
            assert got["status"] == "ok" and "severity" not in meta


def test_micro_hand_checks():
    """The worked numbers of 11.5: MAD at i=3 and i=9, detrended MAD at i=9."""
    rows = create_detector("mad", {"window_size": 5, "min_samples": 3}).detect(TS, VALUES).to_dicts()
    m3, m9 = json.loads(rows[3]["detection_metadata"]), json.loads(rows[9]["detection_metadata"])
    assert (m3["global_median"], m3["global_mad"]) == (11.0, 1.0)
    assert (m9["global_median"], m9["global_mad"], m9["window_size"]) == (12.0, 0.5, 4)
    rows = create_detector("mad", {"window_size": 5, "min_samples": 3, "detrend": "linear"}).detect(TS, VALUES).to_dicts()
    m9 = json.loads(rows[9]["detection_metadata"])
    assert m9["trend_slope_per_point"] == -9.75
    assert (m9["global_median"], m9["global_mad"]) == (-12.875, 14.625)


def test_weighted_primitives_examples():
    from detectkit_dagster.detection.exact import moment_rows, percentile_rows

    def pct(values, weights, p):
        x, w = np.array([values], float), np.array([weights], float)
        return percentile_rows(x, w, np.array([len(values)]), p)[0]

    assert pct([1, 2, 3, 4], [1, 1, 1, 1], 25) == 1.5
    assert pct([1, 2, 3, 4], [1, 1, 1, 1], 75) == 3.5
    assert pct([1, 2, 3, 4], [1, 2, 3, 4], 50) == 3.142857142857143
    assert pct([1, 2, 3, 4, 100], [1] * 5, 25) == 1.75
    assert pct([5], [1], 25) == 5.0
    x = np.array([[1, 2, 3, 4]], float)
    assert moment_rows(x, np.ones((1, 4)), np.array([4]))[1][0] == 1.2909944487358056
    assert moment_rows(x, np.array([[1, 2, 3, 4.0]]), np.array([4]))[1][0] == 1.1952286093343936


@pytest.mark.parametrize("text,expected", [
    ("MADDetector@v3[]", "eaff858d7b85a8a9"),
    ("ZScoreDetector@v3[]", "2f13a147285dc3dd"),
    ("IQRDetector@v3[]", "893d3336d8fdf568"),
])
def test_default_ids(text, expected):
    det_type = {"MAD": "mad", "ZSc": "zscore", "IQR": "iqr"}[text[:3]]
    assert create_detector(det_type, {}).detector_id == expected


@pytest.mark.parametrize("det_type,params,expected_id,expected_params", [
    ("mad", {"threshold": 2}, "01af105529ef2352", '{"threshold":2}'),
    ("mad", {"threshold": 2.0}, "839e96ef8b6c2368", '{"threshold":2.0}'),
    ("mad", {"threshold": 3}, "eaff858d7b85a8a9", "{}"),
    ("mad", {"threshold": None, "min_samples_per_group": None}, "eaff858d7b85a8a9", "{}"),
    ("manual_bounds", {"upper_bound": 90.0}, "c28f0546717674e8", '{"upper_bound":90.0}'),
    ("manual", {"lower_bound": 60.0, "upper_bound": 150.0}, "00616d9f65574ea9", '{"lower_bound":60.0,"upper_bound":150.0}'),
    ("mad", {"window_size": 1200, "min_samples": 100, "min_samples_per_group": 6,
             "seasonality_components": [["hour", "day_of_week"]]}, "b5168da3662d3919",
     '{"min_samples":100,"min_samples_per_group":6,"seasonality_components":[["hour","day_of_week"]],"window_size":1200}'),
    ("mad", {"window_weights": "exponential", "half_life": "1d", "window_size": 1000, "min_samples": 100,
             "start_time": "2024-01-01 00:00:00", "batch_size": 250}, "0a896db6ff691a7f", None),
])
def test_id_examples(det_type, params, expected_id, expected_params):
    det = create_detector(det_type, params)
    assert det.detector_id == expected_id
    if expected_params is not None:
        assert det.detector_params == expected_params


def test_hash_strings():
    assert P.detector_id("ManualBoundsDetector", 1, {"upper_bound": 90.0}) == "c28f0546717674e8"
    assert P.detector_id("MADDetector", 3, {"half_life": "1d", "window_weights": "exponential"}) != \
        P.detector_id("MADDetector", 3, {"window_weights": "exponential"})


def test_execution_params_and_context():
    det = create_detector("mad", {"start_time": "2024-01-02 00:00:00", "batch_size": 0, "window_size": 432,
                                  "smoothing": "ema", "input_type": "absolute_changes"})
    assert det.start_time == "2024-01-02 00:00:00" and det.batch_size == 1000
    assert det.context_size == 450
    assert create_detector("mad", {}).context_size == 100
    assert create_detector("zscore", {"smoothing": "sma", "smoothing_window": 6}).context_size == 106
    assert create_detector("mad", {"input_type": "changes"}).context_size == 101
    assert create_detector("mad", {"smoothing": "ema"}).context_size == 117
    assert create_detector("manual_bounds", {"upper_bound": 1}).context_size == 0
    assert create_detector("manual_bounds", {"upper_bound": 1, "input_type": "changes"}).context_size == 1
    assert create_detector("mad", {"batch_size": 250}).batch_size == 250
    assert create_detector("mad", {"input_type": "log_changes"}).input_type == "log_changes"


# --- spec 7.9 edge cases -------------------------------------------------------------

def _ts(n):
    return np.datetime64("2024-01-01T00:00", "ms") + np.arange(n) * np.timedelta64(10, "m")


def _meta(frame, i):
    return json.loads(frame["detection_metadata"][i])


@pytest.mark.parametrize("det_type", ["mad", "iqr"])
def test_constant_window_gives_degenerate_band(det_type):
    values = np.array([5.0] * 10 + [5.0, 6.0])
    frame = create_detector(det_type, {"window_size": 10, "min_samples": 4}).detect(_ts(12), values)
    assert frame["confidence_lower"][10] == 5.0 - 1e-10 and frame["confidence_upper"][10] == 5.0 + 1e-10
    assert not frame["is_anomaly"][10] and frame["is_anomaly"][11]
    assert frame["severity"][11] == math.inf and _meta(frame, 11)["severity"] is None


def test_zscore_constant_window_keeps_reference_rounding_noise():
    values = np.array([5.0] * 12 + [6.0])  # sum(5 * (1/6)) over 6 values is 4.999999999999999
    frame = create_detector("zscore", {"window_size": 6, "min_samples": 6}).detect(_ts(13), values)
    meta = _meta(frame, 12)
    assert meta["global_mean"] == 4.999999999999999
    assert not frame["is_anomaly"][11]
    assert 0 < meta["global_std"] < 1e-14
    assert frame["is_anomaly"][12] and math.isfinite(meta["severity"]) and meta["severity"] > 1e14


def test_changes_after_zero_keep_inf_in_window():
    values = np.array([1.0, 2, 3, 2, 1, 0, 1, 2, 1, 2, 3, 2])
    mad = create_detector("mad", {"window_size": 5, "min_samples": 3, "input_type": "changes"}).detect(_ts(12), values)
    z = create_detector("zscore", {"window_size": 5, "min_samples": 3, "input_type": "changes"}).detect(_ts(12), values)
    assert mad["processed_value"][6] == math.inf
    assert mad["is_anomaly"][6] and _meta(mad, 6)["distance"] is None and _meta(mad, 6)["severity"] is None
    # inf sits in the z-score window for the next 5 rows: NaN statistics, no anomalies
    assert all(math.isnan(z["confidence_lower"][i]) for i in range(7, 12))
    assert not any(z["is_anomaly"][7:12])
    assert all(math.isfinite(mad["confidence_lower"][i]) for i in range(7, 12))


def test_engaged_group_with_zero_spread_is_degenerate():
    values = np.array([1.0, 5, 1, 7, 1, 3, 1, 9, 1.0, 4])
    features = {"parity": np.array([0, 1] * 5)}
    frame = create_detector("mad", {"window_size": 8, "min_samples": 3, "min_samples_per_group": 1,
                                    "seasonality_components": ["parity"]}).detect(_ts(10), values, features)
    meta = _meta(frame, 8)
    assert meta["seasonality_groups"][0]["mad_multiplier"] == 0.0
    assert frame["confidence_upper"][8] - frame["confidence_lower"][8] == pytest.approx(2e-10)


def test_unknown_seasonality_column_is_a_silent_no_op():
    values = np.sin(np.arange(60.0))
    plain = create_detector("mad", {"window_size": 20, "min_samples": 5}).detect(_ts(60), values)
    odd = create_detector("mad", {"window_size": 20, "min_samples": 5, "min_samples_per_group": 3,
                                  "seasonality_components": ["no_such_column"]}).detect(_ts(60), values)
    assert plain["confidence_lower"].to_list() == odd["confidence_lower"].to_list()
    entry = _meta(odd, 30)["seasonality_groups"][0]
    assert entry == {"group": ["no_such_column"], "group_size": 20, "mad_multiplier": 1.0, "median_multiplier": 1.0}


def test_no_seasonality_data_means_no_group_metadata():
    values = np.sin(np.arange(40.0))
    frame = create_detector("mad", {"window_size": 20, "min_samples": 5, "seasonality_components": ["hour"]}).detect(
        _ts(40), values, {})
    assert "seasonality_groups" not in _meta(frame, 30)


def test_smoothing_imputes_gaps_and_ema_changes_are_zero():
    values = np.array([10.0, 11, 12, np.nan, np.nan, 13, 12, 11, 12, 13])
    frame = create_detector("mad", {"window_size": 5, "min_samples": 2, "smoothing": "ema",
                                    "input_type": "absolute_changes"}).detect(_ts(10), values)
    assert frame["processed_value"][3] == 0.0 and frame["processed_value"][4] == 0.0
    assert frame["status"][3] == "ok" and math.isnan(frame["value"][3])


def test_windows_count_rows_not_time():
    """Rows absent from the array (not NaN rows) make the window span more time."""
    ts = _ts(12)
    ts[6:] += np.timedelta64(5, "D")  # a hole of five days between rows 5 and 6
    values = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    meta = _meta(create_detector("mad", {"window_size": 4, "min_samples": 4}).detect(ts, values), 7)
    assert meta["window_size"] == 4 and meta["global_median"] == 5.5  # rows 3..6 across the hole


def test_default_window_hour_groups_on_ten_minute_data():
    """W = 100 on 10-minute data: only the current hour's earlier rows share the group."""
    rng = np.random.default_rng(0)
    values = 100 + rng.normal(0, 1, 300)
    mad = create_detector("mad", {"seasonality_components": ["hour"]}).detect(_ts(300), values)
    z = create_detector("zscore", {"seasonality_components": ["hour"]}).detect(_ts(300), values)
    for i in range(100, 300):
        entry = _meta(mad, i)["seasonality_groups"][0]
        assert entry["reason"] == "insufficient_group_data" and entry["group_size"] == i % 6
        z_entry = _meta(z, i)["seasonality_groups"][0]
        assert z_entry["group_size"] == i % 6
        assert ("reason" in z_entry) == (i % 6 < 3)  # engages from the 4th row of each hour


@pytest.mark.parametrize("kind", ["mad", "iqr"])
def test_a_few_windows_sorted_whole_give_the_chunked_order_statistics(kind, monkeypatch):
    rng = np.random.default_rng(1)
    values = np.round(rng.normal(size=3000) * 3) / 2  # ties
    values[rng.choice(3000, 40, replace=False)] = np.nan
    for window in (3, 40, 300):
        ws = trailing_windows(values, np.arange(1, 3000, 7), window)
        ws = ws.take(np.flatnonzero(ws.size > 0))
        whole = order_stats.sorted_order_stats(kind, ws)
        monkeypatch.setattr(order_stats, "FEW_VALUES", 0)
        chunked = order_stats.uniform_order_stats(kind, ws, window)
        monkeypatch.undo()
        assert all(np.array_equal(whole[name], chunked[name]) for name in whole)
