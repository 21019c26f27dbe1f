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

from collections.abc import Mapping
from dataclasses import dataclass, field


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
        return {k: self.total_of(k, time_s) for k in self.total}

    def total_of(self, key: str, time_s: int) -> float:
        """Running total of ``key`` (one that has a total) at ``time_s`` >= the reading's time."""
        return self.total[key] + self.rate.get(key, 0.0) * ((time_s - self.time_s) / 3600.0)


class MeterBook:
    """A mutable meter: totals advanced to each event, rates changed there.

    Parameters
    ----------
    counter : see :attr:`Meter.counter`
    """

    def __init__(self, counter: bool = False) -> None:
        self.counter = counter
        self.time_s = 0
        self.total: dict[str, float] = {}
        self.rate: dict[str, float] = {}

    def advance(self, time_s: int) -> None:
        """Add the rates held since the last change up to ``time_s`` [s]."""
        hours = (time_s - self.time_s) / 3600.0
        if hours:
            for k, r in self.rate.items():
                self.total[k] = self.total.get(k, 0.0) + r * hours
        self.time_s = time_s

    def set_rates(self, time_s: int, rates: Mapping[str, float]) -> None:
        """From ``time_s`` on the rates are ``rates`` (keys not given: 0)."""
        self.advance(time_s)
        self.rate = dict(rates)
        for k in self.rate:
            self.total.setdefault(k, 0.0)

    def add(self, time_s: int, amounts: Mapping[str, float]) -> None:
        """A jump of the totals at ``time_s`` (counters)."""
        self.advance(time_s)
        for k, v in amounts.items():
            self.total[k] = self.total.get(k, 0.0) + v

    def reading(self) -> Meter:
        return Meter(self.time_s, dict(self.total), dict(self.rate), self.counter)


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
