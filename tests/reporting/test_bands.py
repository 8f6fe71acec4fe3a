"""Bounds in value units: what each input type's band means on the value line."""

import math

import numpy as np
import pytest

from detectkit_dagster.reporting.bands import input_type_of, parse_params, value_band

PREV = np.array([100.0, 50.0, np.nan])
LOWER = np.array([-0.1, -2.0, -0.1])
UPPER = np.array([0.2, 3.0, 0.2])


def test_values_bounds_are_already_in_value_units():
    lower, upper = value_band("values", PREV, LOWER, UPPER)
    assert lower.tolist() == LOWER.tolist() and upper.tolist() == UPPER.tolist()


def test_absolute_changes_add_the_bounds_to_the_previous_value():
    lower, upper = value_band("absolute_changes", PREV, LOWER, UPPER)
    np.testing.assert_allclose(lower[:2], [99.9, 48.0])
    np.testing.assert_allclose(upper[:2], [100.2, 53.0])
    assert math.isnan(lower[2]) and math.isnan(upper[2])  # no previous value, no band


def test_changes_scale_the_previous_value():
    lower, upper = value_band("changes", PREV, LOWER, UPPER)
    np.testing.assert_allclose(lower[:2], [90.0, -50.0])
    np.testing.assert_allclose(upper[:2], [120.0, 200.0])


def test_log_changes_invert_the_log_of_value_plus_one():
    lower, upper = value_band("log_changes", PREV, LOWER, UPPER)
    np.testing.assert_allclose(lower[:2], [101 * math.exp(-0.1) - 1, 51 * math.exp(-2.0) - 1])
    np.testing.assert_allclose(upper[:2], [101 * math.exp(0.2) - 1, 51 * math.exp(3.0) - 1])
    # The band holds exactly the values whose log change lies inside the bounds.
    inside = np.log(upper[0] + 1) - np.log(PREV[0] + 1)
    assert inside == pytest.approx(UPPER[0])


def test_a_negative_base_keeps_lower_below_upper():
    lower, upper = value_band("changes", np.array([-100.0]), np.array([-0.1]), np.array([0.2]))
    assert (lower[0], upper[0]) == pytest.approx((-120.0, -90.0))


def test_impossible_or_infinite_bounds_leave_a_gap():
    lower, upper = value_band("log_changes", np.array([-3.0]), np.array([-0.1]), np.array([0.1]))
    assert np.isnan(lower[0]) and np.isnan(upper[0])  # no log of a level below -1
    lower, upper = value_band("changes", np.array([10.0]), np.array([-0.5]), np.array([np.inf]))
    assert lower[0] == 5.0 and np.isnan(upper[0])


@pytest.mark.parametrize(
    ("params_json", "expected"),
    [
        ('{"input_type":"changes","window_size":288}', "changes"),
        ('{"window_size":288}', "values"),
        ("", "values"),
        (None, "values"),
        ("not json", "values"),
        ("[1, 2]", "values"),
        ('{"input_type": 3}', "values"),
    ],
)
def test_input_type_defaults_to_values(params_json, expected):
    assert input_type_of(parse_params(params_json)) == expected
