"""Building load profiles: CSV loader and synthetic shapes (flexcosim.cosim.models.building)."""

import math

import numpy as np
import pytest

from flexcosim.cosim.models.building import (
    LoadProfile,
    load_profile_csv,
    synthetic_household,
    synthetic_office,
)


def test_at_wraps_and_gives_reactive_power():
    prof = LoadProfile(np.array([1.0, 2.0, 3.0]), resolution_s=900, power_factor=0.8)
    assert prof.at(0) == (1.0, pytest.approx(0.75))
    assert prof.at(1799)[0] == 2.0
    assert prof.at(3 * 900 + 10)[0] == 1.0  # wraps around


def test_profile_validation():
    with pytest.raises(ValueError, match=r"p_kw\[1\]: -1.0"):
        LoadProfile(np.array([1.0, -1.0]), 900)
    with pytest.raises(ValueError, match="power_factor"):
        LoadProfile(np.array([1.0]), 900, power_factor=0)


def test_csv_round_trip_with_timestamps(tmp_path):
    path = tmp_path / "meter.csv"
    times = [f"2019-04-01T00:{m:02d}:00" for m in (0, 15, 30, 45)]
    path.write_text(
        "time,p_kw,other\n" + "".join(f"{t},{v},9\n" for t, v in zip(times, [1.5, 2.0, 0.0, 4.25]))
    )
    prof = load_profile_csv(path, column="p_kw", power_factor=0.95)
    np.testing.assert_array_equal(prof.p_kw, [1.5, 2.0, 0.0, 4.25])
    assert prof.resolution_s == 900 and prof.power_factor == 0.95
    assert prof.at(1800) == (0.0, 0.0)


def test_csv_without_time_column_needs_resolution(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("load_kw\n1\n2\n")
    with pytest.raises(ValueError, match="resolution_s"):
        load_profile_csv(path)
    assert load_profile_csv(path, resolution_s=3600).at(3600)[0] == 2.0


@pytest.mark.parametrize(
    "body, kwargs, match",
    [
        (
            "time,p\n2019-01-01T00:00,1\n2019-01-01T00:15,2\n",
            {"column": "kw"},
            r"meter.csv: column 'kw' not found",
        ),
        (
            "time,p\n2019-01-01T00:00,1\n2019-01-01T00:15,\n",
            {},
            r"meter.csv, column 'p', data row 2: .* not a number",
        ),
        (
            "time,p\n2019-01-01T00:00,1\n2019-01-01T00:15,-3\n",
            {},
            r"data row 2: -3.0 kW is negative",
        ),
        (
            "time,p\n2019-01-01T00:00,1\n2019-01-01T00:15,1\n2019-01-01T01:00,1\n",
            {},
            r"gap or irregular step between data rows 2 and 3",
        ),
        ("time,a,b\n2019-01-01T00:00,1,2\n2019-01-01T00:15,1,2\n", {}, r"2 data columns"),
        ("time,p\n2019-01-01T00:00,1\n2019-01-01T00:15,2\n", {"resolution_s": 60}, "900 s apart"),
    ],
)
def test_csv_errors_name_file_and_column(tmp_path, body, kwargs, match):
    path = tmp_path / "meter.csv"
    path.write_text(body)
    with pytest.raises(ValueError, match=match):
        load_profile_csv(path, **kwargs)


def test_household_evening_peak_and_scale():
    rng = np.random.default_rng(42)
    profiles = np.array([synthetic_household(4.0, 900, 1, rng).p_kw for _ in range(300)])
    mean = profiles.mean(axis=0)
    peak_hour = mean.argmax() * 900 / 3600
    assert 18 <= peak_hour < 21
    assert mean.max() == pytest.approx(4.0, rel=0.05)  # noise has mean one
    assert mean[4 * 4] < 0.35 * 4.0  # night base at 04:00
    assert np.all(profiles >= 0)


def test_household_is_seeded():
    a = synthetic_household(3.0, 900, 2, np.random.default_rng(1))
    b = synthetic_household(3.0, 900, 2, np.random.default_rng(1))
    np.testing.assert_array_equal(a.p_kw, b.p_kw)
    assert a.p_kw.size == 192 and a.power_factor == 0.97


def test_office_working_hours_plateau():
    prof = synthetic_office(200.0, 3600, 1, np.random.default_rng(0))
    p = prof.p_kw
    assert p[9:12].mean() > 2.5 * p[0:5].mean()
    weekend = synthetic_office(200.0, 3600, 1, np.random.default_rng(0), weekday=False).p_kw
    assert weekend.max() < 0.7 * 200.0
    with pytest.raises(ValueError, match="resolution_s"):
        synthetic_office(200.0, 7000, 1, np.random.default_rng(0))
    assert math.isclose(prof.at(10 * 3600)[1], 0.0)
