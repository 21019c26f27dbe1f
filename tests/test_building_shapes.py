"""The building shapes shipped in building_shapes.csv are the SimBench profiles' (simbench)."""

import numpy as np
import pytest

from flexcosim.cosim.models.building_shapes import (
    DECIMALS,
    SHAPES_FILE,
    SOURCES,
    compute_shapes,
    main,
    shape,
)


def test_the_shipped_shapes_peak_where_the_module_docstring_says():
    household, office = shape("household_workday"), shape("office_workday")
    assert household.size == office.size == 24
    assert household.max() == office.max() == 1.0  # divided by the workday maximum
    assert int(np.argmax(household)) == 20 and household.argmin() == 4
    assert shape("office_weekend").max() < 0.6


@pytest.mark.slow  # loads two SimBench nets: ~7 s CPU, ~30 s wall
def test_the_shipped_file_is_what_simbench_gives(tmp_path, monkeypatch):
    full = compute_shapes()
    assert list(full) == list(SOURCES)
    for name in SOURCES:
        np.testing.assert_array_equal(shape(name), full[name].round(DECIMALS).to_numpy())
        assert np.abs(full[name].to_numpy() - shape(name)).max() < 0.005  # the docstring's claim
    monkeypatch.setattr("sys.argv", ["building_shapes", str(tmp_path / "shapes.csv")])
    main()  # the regenerating command writes the shipped file byte for byte

    assert (tmp_path / "shapes.csv").read_text() == SHAPES_FILE.read_text()
