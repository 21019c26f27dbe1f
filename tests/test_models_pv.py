"""PV profile and export clipping (flexcosim.cosim.models.pv)."""

import numpy as np
import pandas as pd
import pytest

from flexcosim.cosim.models.pv import PVSystem, clip_export, pv_profile

DUBLIN = (53.31, -6.22)  # UCD campus


def day(system, date, cloudiness=0.0, seed=0, resolution_s=900):
    start = pd.Timestamp(date, tz="Europe/Dublin")
    return pv_profile(
        system,
        *DUBLIN,
        start,
        resolution_s,
        86_400 // resolution_s,
        np.random.default_rng(seed),
        cloudiness,
    )


def test_zero_at_night_positive_at_noon_in_summer():
    p = day(PVSystem(peak_kw=10.0), "2019-06-21")
    hours = (np.arange(96) + 0.5) / 4
    assert np.all(p[(hours < 4) | (hours > 22.5)] == 0.0)
    noon = p[(hours > 12.5) & (hours < 14.5)]  # solar noon ~13:30 local (IST, lon -6.2)
    assert noon.min() > 5.0
    assert p.max() <= 10.0 * 0.85 * 1.1  # clear-sky POA stays near 1000 W/m2
    assert np.all(p >= 0)


def test_summer_yield_plausible_and_winter_lower():
    summer = day(PVSystem(peak_kw=1.0), "2019-06-21").sum() / 4  # kWh/kWp
    winter = day(PVSystem(peak_kw=1.0), "2019-12-21").sum() / 4
    # clear-sky daily yield at 53 deg N: ~7 kWh/kWp in June, ~1-2 in December (PR 0.85)
    assert 5.0 < summer < 8.5
    assert 0.5 < winter < 2.5


def test_clouds_attenuate_and_are_seeded():
    system = PVSystem(peak_kw=5.0)
    clear = day(system, "2019-06-21")
    cloudy = day(system, "2019-06-21", cloudiness=1.0, seed=3)
    np.testing.assert_array_equal(cloudy, day(system, "2019-06-21", cloudiness=1.0, seed=3))
    assert np.all(cloudy <= clear + 1e-12)
    assert np.all(cloudy >= 0.2 * clear - 1e-12)
    assert cloudy.sum() < 0.9 * clear.sum()


def test_validation():
    with pytest.raises(ValueError, match="tz-aware"):
        pv_profile(
            PVSystem(1.0), *DUBLIN, pd.Timestamp("2019-06-21"), 900, 4, np.random.default_rng(0)
        )
    with pytest.raises(ValueError, match="cloudiness"):
        day(PVSystem(1.0), "2019-06-21", cloudiness=2.0)
    with pytest.raises(ValueError, match="peak_kw"):
        PVSystem(peak_kw=-1)


def test_clip_export():
    assert clip_export(7.0, None) == 7.0
    assert clip_export(7.0, 5.0) == 5.0
    assert clip_export(3.0, 5.0) == 3.0
    with pytest.raises(ValueError, match="export_limit_kw"):
        clip_export(3.0, -1.0)
