"""The FTM coordinator, a DSO role: splits the shared capacity and validates agreements.

Seed 004 section 4.2.1.1: for each sharing period ``[k, k + T^R)`` the coordinator sends
every unit's aggregator its capacity ``Φ_c(k)``; aggregators that agree to move capacity
send the agreement back for validation, and the coordinator approves it when the grid
holds with the new limits (:class:`~flexcosim.agents.sharing.grid_check.SharedGrid`), or
rejects it with the reason. The initial split is a pluggable strategy
(:data:`CAPACITY_SPLITS`, method ``split``); a split that fails or answers something
invalid is recorded and replaced by ``"proportional"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from flexcosim.agents.registry import Fallback, Guarded, Registry
from flexcosim.agents.sharing.grid_check import SharedGrid
from flexcosim.agents.sharing.messages import (
    Agreement,
    Approval,
    CapacityAllocation,
    Message,
    Rejection,
    Settlement,
    ValidationRequest,
)

#: Name under which the DSO receives its service fees in :class:`Settlement`.
DSO = "dso"

#: Tolerance of capacity sums [kW].
_TOL_KW = 1e-6


@dataclass(frozen=True)
class SplitObservation:
    """What a split strategy sees at the start of a period.

    Attributes
    ----------
    total_kw : capacity shared by all units (transformer rating times power factor,
        minus what the DSO keeps back) [kW]
    connection_kw : unit -> rating of its grid connection [kW]
    previous_use_kw : unit -> its peak draw in the previous period [kW]; empty in the first
    """

    total_kw: float
    connection_kw: Mapping[str, float]
    previous_use_kw: Mapping[str, float] = field(default_factory=dict)


class CapacitySplit(Protocol):
    """Divides the shared capacity among the units: unit -> ``Φ_c(k)`` [kW]."""

    def split(self, obs: SplitObservation) -> Mapping[str, float]: ...


CAPACITY_SPLITS: Registry[CapacitySplit] = Registry("capacity split", "split")


def _proportional(total_kw: float, weights: Mapping[str, float],
                  connection_kw: Mapping[str, float]) -> dict[str, float]:
    """``total * w_c / Σ w``, capped at each unit's connection rating [kW]."""
    weight_sum = sum(weights.values())
    return {u: min(connection_kw[u], total_kw * weights[u] / weight_sum) for u in connection_kw}


@CAPACITY_SPLITS.register("proportional")
class ProportionalToConnection:
    """``Φ_c`` in proportion to the units' connection ratings (default)."""

    def split(self, obs: SplitObservation) -> Mapping[str, float]:
        return _proportional(obs.total_kw, obs.connection_kw, obs.connection_kw)


@CAPACITY_SPLITS.register("previous_use")
class ProportionalToPreviousUse:
    """``Φ_c`` in proportion to each unit's peak draw in the previous period.

    Without a previous period (or if nobody drew anything) it splits by connection rating.
    """

    def split(self, obs: SplitObservation) -> Mapping[str, float]:
        use = {u: max(obs.previous_use_kw.get(u, 0.0), 0.0) for u in obs.connection_kw}
        if sum(use.values()) <= _TOL_KW:
            use = dict(obs.connection_kw)
        return _proportional(obs.total_kw, use, obs.connection_kw)


def check_split(decision: object, obs: SplitObservation) -> str:
    """Why ``decision`` is not a valid split of ``obs`` ('' if it is)."""
    if not isinstance(decision, Mapping):
        return f"returned {type(decision).__name__}, expected a mapping unit -> kW"
    if set(decision) != set(obs.connection_kw):
        return f"split covers units {sorted(decision)}, expected {sorted(obs.connection_kw)}"
    for unit, kw in decision.items():
        if not (math.isfinite(kw) and kw >= 0.0):
            return f"capacity {kw!r} kW for {unit!r}; allowed: finite >= 0"
    if sum(decision.values()) > obs.total_kw + _TOL_KW:
        return f"split sums to {sum(decision.values()):.6g} kW > total {obs.total_kw:.6g} kW"
    return ""


@dataclass(frozen=True)
class Decision:
    """One validation: the agreement, whether it was approved, and why not."""

    time_s: int
    agreement: Agreement
    approved: bool
    reason: str = ""


class FTMCoordinator:
    """The FTM coordinator of one shared transformer.

    Parameters
    ----------
    connection_kw : unit -> rating of its grid connection [kW]
    total_kw : capacity shared by the units [kW]
    period_s : sharing period ``T^R`` [s]
    grid : grid check for validation; ``None`` checks only the capacity bookkeeping
    split : name of the initial split strategy (see :data:`CAPACITY_SPLITS`)
    service_fee : the DSO's fee per validated agreement [currency]
    name : the coordinator's address
    """

    def __init__(self, connection_kw: Mapping[str, float], total_kw: float, period_s: int,
                 grid: SharedGrid | None = None, split: str = "proportional",
                 service_fee: float = 0.1, name: str = "coordinator") -> None:
        if not (math.isfinite(total_kw) and total_kw > 0):
            raise ValueError(f"total_kw = {total_kw!r}; allowed: finite > 0 [kW]")
        if not (isinstance(period_s, int) and period_s > 0):
            raise ValueError(f"period_s = {period_s!r}; allowed: a positive integer [s]")
        if not service_fee >= 0.0:
            raise ValueError(f"service_fee = {service_fee!r}; allowed: >= 0 [currency]")
        self.connection_kw = dict(connection_kw)
        self.total_kw = total_kw
        self.period_s = period_s
        self.grid = grid
        self.service_fee = service_fee
        self.name = name
        self._split: Guarded[CapacitySplit] = Guarded(
            name, CAPACITY_SPLITS, split, "proportional", check_split)
        self.period_start_s: int | None = None
        self.allocation_kw: dict[str, float] = {}
        self.limits_kw: dict[str, float] = {}
        self.decisions: list[Decision] = []

    @property
    def fallbacks(self) -> list[Fallback]:
        """Periods in which the split strategy failed and ``"proportional"`` decided."""
        return self._split.fallbacks

    def start_period(self, time_s: int, previous_use_kw: Mapping[str, float] | None = None,
                     sent_s: int | None = None) -> list[Message]:
        """Split the capacity for ``[time_s, time_s + period_s)``: one ``Φ_c(k)`` per unit,
        sent at ``sent_s`` [s] (default ``time_s``; earlier to negotiate ahead of the period)."""
        obs = SplitObservation(self.total_kw, self.connection_kw, dict(previous_use_kw or {}))
        self.allocation_kw = {u: float(kw) for u, kw in self._split(obs, time_s).items()}
        self.limits_kw = dict(self.allocation_kw)
        self.period_start_s = time_s
        return [
            CapacityAllocation(sender=self.name, receiver=unit,
                               time_s=time_s if sent_s is None else sent_s,
                               period_start_s=time_s, period_s=self.period_s,
                               capacity_kw=kw, service_fee=self.service_fee)
            for unit, kw in self.allocation_kw.items()
        ]

    def handle(self, msg: Message, now_s: int) -> list[Message]:
        """Answer a validation request delivered at ``now_s`` [s]; other messages need no answer."""
        match msg:
            case ValidationRequest(agreement=agreement):
                return self._validate(agreement, now_s)
        return []

    def _validate(self, a: Agreement, time_s: int) -> list[Message]:
        reason = self._refusal(a)
        self.decisions.append(Decision(time_s, a, not reason, reason))
        parties = (a.provider, a.consumer)
        if reason:
            return [Rejection(sender=self.name, receiver=p, time_s=time_s, agreement=a,
                              reason=reason) for p in parties]
        self.limits_kw[a.provider] -= a.amount_kw
        self.limits_kw[a.consumer] += a.amount_kw
        out: list[Message] = [Approval(sender=self.name, receiver=p, time_s=time_s, agreement=a)
                              for p in parties]
        out += [
            Settlement(sender=self.name, receiver=a.consumer, time_s=time_s,
                       agreement_id=a.agreement_id, payer=a.consumer, payee=a.provider,
                       amount=a.compensation, purpose="compensation"),
            Settlement(sender=self.name, receiver=a.consumer, time_s=time_s,
                       agreement_id=a.agreement_id, payer=a.consumer, payee=DSO,
                       amount=a.service_fee, purpose="service_fee"),
        ]
        return out

    def _refusal(self, a: Agreement) -> str:
        """Why ``a`` cannot be approved ('' if it can)."""
        if a.period_start_s != self.period_start_s:
            return f"period {a.period_start_s} s is not the current period ({self.period_start_s} s)"
        for role, unit in (("provider", a.provider), ("consumer", a.consumer)):
            if unit not in self.limits_kw:
                return f"{role} {unit!r} is not a unit behind this transformer"
        if a.provider == a.consumer:
            return f"provider and consumer are both {a.provider!r}"
        if not (math.isfinite(a.amount_kw) and a.amount_kw > 0):
            return f"amount {a.amount_kw!r} kW; allowed: finite > 0"
        if not (math.isfinite(a.compensation) and a.compensation >= 0):
            return f"compensation {a.compensation!r}; allowed: finite >= 0"
        if abs(a.service_fee - self.service_fee) > 1e-12:
            return f"service fee {a.service_fee!r}; the DSO's fee is {self.service_fee!r}"
        if a.amount_kw > self.limits_kw[a.provider] + _TOL_KW:
            return (f"{a.provider!r} has {self.limits_kw[a.provider]:.6g} kW left, "
                    f"cannot give {a.amount_kw:.6g} kW")
        after = self.limits_kw[a.consumer] + a.amount_kw
        if after > self.connection_kw[a.consumer] + _TOL_KW:
            return (f"{a.consumer!r} would get {after:.6g} kW > its connection rating "
                    f"{self.connection_kw[a.consumer]:.6g} kW")
        if self.grid is None:
            return ""
        limits = dict(self.limits_kw)
        limits[a.provider] -= a.amount_kw
        limits[a.consumer] = after
        try:
            verdict = self.grid.check(limits)
        except Exception as exc:  # noqa: BLE001 - a failing check refuses, it does not end the run
            return f"grid check failed: {type(exc).__name__}: {exc}"
        return verdict.reason if not verdict.ok else ""
