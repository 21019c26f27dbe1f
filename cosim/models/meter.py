"""Meters: exact interval averages of quantities that change only at events.

Between events a charger's power is constant, so its energy is piecewise linear in
time. A :class:`Meter` is a frozen reading: the running totals at ``time_s`` and the
rates held from then on, so a time-based consumer (grid, recorder) can read the total
at any later second and average over its own metering interval exactly::

    E(t) = total + rate * (t - time_s) / 3600          [kWh for a rate in kW]
    average over [t0, t1) = (E(t1) - E(t0)) * 3600 / (t1 - t0)

A rate may be any quantity per hour: kW (energy in kWh), or "EVs connected" (EV-hours).
A counter (``rate`` empty) only jumps, e.g. the unmet energy of EVs that left; a
consumer takes the increase over its interval, not an average.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np


class KeyedArray(Mapping[str, float]):
    """A read-only mapping ``{key: value}`` over the first ``len(values)`` keys of a
    shared, append-only key list: a :class:`MeterBook`'s totals or rates at one reading.

    Taking a reading copies two arrays instead of building two dicts, so a site with
    hundreds of EVs hands out its meters at the cost of a memory copy per event.

    Parameters
    ----------
    labels : the book's keys in slot order (only appended to, never reordered)
    index : key -> slot
    values : value per slot [rate unit x h for totals, rate unit for rates]
    held : per slot, whether the key is present (rates: the keys given a rate);
        ``None``: every slot is
    """

    __slots__ = ("labels", "index", "values", "held")

    def __init__(self, labels: list[str], index: Mapping[str, int], values: np.ndarray,
                 held: np.ndarray | None = None) -> None:
        self.labels, self.index, self.values, self.held = labels, index, values, held

    def __getitem__(self, key: str) -> float:
        i = self.index[key]
        if i >= len(self.values) or (self.held is not None and not self.held[i]):
            raise KeyError(key)
        return float(self.values[i])

    def __contains__(self, key: object) -> bool:
        i = self.index.get(key)
        return (i is not None and i < len(self.values)
                and (self.held is None or bool(self.held[i])))

    def get(self, key: str, default: float | None = None) -> float | None:
        return self[key] if key in self else default

    def __iter__(self) -> Iterator[str]:
        n = len(self.values)
        if self.held is None:
            return iter(self.labels[:n])
        return (self.labels[i] for i in np.flatnonzero(self.held))

    def __len__(self) -> int:
        return len(self.values) if self.held is None else int(np.count_nonzero(self.held))


@dataclass(frozen=True)
class Meter:
    """Totals at ``time_s`` [s since start] and rates per hour held from then on.

    Attributes
    ----------
    time_s : time of the reading [s]
    total : key -> running total at ``time_s`` [rate unit x h, e.g. kWh]
    rate : key -> rate held from ``time_s`` [e.g. kW]; keys absent have rate 0
    counter : True if the consumer wants the increase per interval, not the average rate
    """

    time_s: int
    total: Mapping[str, float]
    rate: Mapping[str, float] = field(default_factory=dict)
    counter: bool = False

    def total_at(self, time_s: int) -> dict[str, float]:
        """Running totals at ``time_s`` >= the reading's time."""
        now = self.totals(time_s)
        return dict(zip(self.arrays()[0][:len(now)], now.tolist()))

    def total_of(self, key: str, time_s: int) -> float:
        """Running total of ``key`` (one that has a total) at ``time_s`` >= the reading's time."""
        return self.total[key] + self.rate.get(key, 0.0) * ((time_s - self.time_s) / 3600.0)

    def totals(self, time_s: int) -> np.ndarray:
        """Running total of each key at ``time_s`` >= the reading's time, in the order of
        :meth:`arrays` [rate unit x h]."""
        _, total, rate, _ = self.arrays()
        return total + rate * ((time_s - self.time_s) / 3600.0)

    def arrays(self) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
        """``(keys, total, rate, held)``: per key, its total, its rate (0 if it has none) and
        whether it has a rate; the arrays are in the order of ``keys``, whose first
        ``len(total)`` entries are theirs (a book's key list may run on). Shared with the
        reading: do not write to them."""
        total, rate = self.total, self.rate
        if (isinstance(total, KeyedArray) and isinstance(rate, KeyedArray)
                and total.labels is rate.labels):
            return total.labels, total.values, rate.values, rate.held
        keys = list(total)
        return (keys, np.array([total[k] for k in keys], dtype=float),
                np.array([rate.get(k, 0.0) for k in keys], dtype=float),
                np.array([k in rate for k in keys], dtype=bool))


class MeterBook:
    """A mutable meter: totals advanced to each event, rates changed there.

    Keys get a slot in arrays of totals and rates the first time they are given a
    rate or an amount; a key keeps its slot (and total) for the run.

    Parameters
    ----------
    counter : see :attr:`Meter.counter`
    """

    def __init__(self, counter: bool = False) -> None:
        self.counter = counter
        self.time_s = 0
        self._labels: list[str] = []
        self._index: dict[str, int] = {}
        self._total = np.zeros(8)
        self._rate = np.zeros(8)
        self._held = np.zeros(8, dtype=bool)

    def _slot(self, key: str) -> int:
        i = self._index.get(key)
        if i is None:
            i = self._index[key] = len(self._labels)
            self._labels.append(key)
            if i == len(self._total):
                grow = len(self._total)
                self._total = np.concatenate([self._total, np.zeros(grow)])
                self._rate = np.concatenate([self._rate, np.zeros(grow)])
                self._held = np.concatenate([self._held, np.zeros(grow, dtype=bool)])
        return i

    def advance(self, time_s: int) -> None:
        """Add the rates held since the last change up to ``time_s`` [s]."""
        hours = (time_s - self.time_s) / 3600.0
        if hours:
            n = len(self._labels)
            self._total[:n] += self._rate[:n] * hours
        self.time_s = time_s

    def set_rates(self, time_s: int, rates: Mapping[str, float]) -> None:
        """From ``time_s`` on the rates are ``rates`` (keys not given: 0)."""
        self.advance(time_s)
        self._rate[:] = 0.0
        self._held[:] = False
        self.update_rates(time_s, rates)

    def update_rates(self, time_s: int, changes: Mapping[str, float | None]) -> None:
        """From ``time_s`` on the rate of each key in ``changes`` is its value; ``None``:
        the key has no rate any more (0); the other keys keep theirs."""
        self.advance(time_s)
        for key, rate in changes.items():
            i = self._slot(key)
            self._rate[i] = 0.0 if rate is None else rate
            self._held[i] = rate is not None

    def add(self, time_s: int, amounts: Mapping[str, float]) -> None:
        """A jump of the totals at ``time_s`` (counters)."""
        self.advance(time_s)
        for key, amount in amounts.items():
            self._total[self._slot(key)] += amount

    def total_of(self, key: str) -> float:
        """The running total of ``key`` at :attr:`time_s` (0 for a key never metered)."""
        i = self._index.get(key)
        return 0.0 if i is None else float(self._total[i])

    def reading(self) -> Meter:
        n = len(self._labels)
        return Meter(self.time_s, KeyedArray(self._labels, self._index, self._total[:n].copy()),
                     KeyedArray(self._labels, self._index, self._rate[:n].copy(),
                                self._held[:n].copy()), self.counter)


class IntervalReader:
    """Turns successive meter readings into per-interval values for one consumer.

    The consumer calls :meth:`read` once per metering interval with the interval's end;
    the first call per key starts from zero at time 0.
    """

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], float] = {}

    def read(self, source: str, meter: Meter, start_s: int, end_s: int) -> dict[str, float]:
        """Average rate over ``[start_s, end_s)`` per key (increase for a counter).

        ``source`` names the meter (one per simulator entity and attribute).
        """
        now = meter.total_at(end_s)
        out = {}
        for key, total in now.items():
            change = total - self._last.get((source, key), 0.0)
            self._last[(source, key)] = total
            out[key] = change if meter.counter else change * 3600.0 / (end_s - start_s)
        return out
