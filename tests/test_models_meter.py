"""Meters: exact averages of piecewise-constant rates (flexcosim.cosim.models.meter)."""

import pytest

from flexcosim.cosim.models.meter import IntervalReader, Meter, MeterBook


def test_a_reading_is_a_snapshot_and_update_rates_keeps_the_other_keys():
    book = MeterBook()
    book.set_rates(0, {"a": 4.0, "b": 2.0})
    first = book.reading()
    book.update_rates(1800, {"b": None, "c": 6.0})  # b stops, c starts, a keeps 4 kW
    second = book.reading()
    assert dict(first.total) == {"a": 0.0, "b": 0.0} and dict(first.rate) == {"a": 4.0, "b": 2.0}
    assert "c" not in first.total and first.total_at(3600) == {"a": 4.0, "b": 2.0}
    assert dict(second.total) == {"a": 2.0, "b": 1.0, "c": 0.0}
    assert dict(second.rate) == {"a": 4.0, "c": 6.0} and "b" not in second.rate
    assert second.total_at(3600) == {"a": 4.0, "b": 1.0, "c": 3.0}
    assert book.total_of("a") == 2.0 and book.total_of("never") == 0.0


def test_arrays_agree_with_the_mapping_for_a_book_and_a_plain_meter():
    book = MeterBook()
    for k in range(20):  # past the first arrays' size
        book.update_rates(k, {f"ev{k}": float(k)})
    for meter in (book.reading(), Meter(19, dict(book.reading().total), {"ev3": 3.0})):
        keys, total, rate, held = meter.arrays()
        n = len(total)
        assert keys[:n] == list(meter.total)
        assert [meter.total[k] for k in keys[:n]] == list(total)
        assert {k for k, h in zip(keys, held) if h} == set(meter.rate)
        assert list(rate[held]) == [meter.rate[k] for k in keys[:n] if k in meter.rate]


def test_interval_reader_averages_and_counts():
    book = MeterBook()
    book.set_rates(0, {"site": 10.0})
    book.set_rates(450, {"site": 0.0})
    assert IntervalReader().read("s.p", book.reading(), 0, 900) == {"site": pytest.approx(5.0)}
    unmet = MeterBook(counter=True)
    unmet.add(100, {"site": 2.0})
    unmet.add(800, {"site": 1.0})
    assert IntervalReader().read("s.u", unmet.reading(), 0, 900) == {"site": 3.0}
