"""Monte-Carlo estimate of the probability of congestion and of agent adjustments (seed 001).

Seed 001 (sections III-B and IV) proposes to sample the stochastic inputs (EV states,
PV, demand), run the network heuristic on each sample and return "the probability of
constraints" per network element and half-hour, and "the probability of agent
adjustments", so an aggregator can price the risk to its flexibility. Given ``N``
independent replications, the estimate for element ``e`` and hour ``h`` is the share of
replications in which ``e`` was congested in ``h`` (a Bernoulli mean)::

    p_eh = (1/N) sum_r X_reh,        SE(p_eh) = sqrt(p_eh (1 - p_eh) / N)

The standard error falls as ``1/sqrt(N)``; for ``p = 0`` or ``1`` it is 0 (use the
"rule of three", ``p < 3/N`` at 95 %, to bound an event never seen). Adjustments are
summarised the same way per agent and hour, plus the distribution over replications of
each agent's adjusted energy ``sum_t |Delta p_a,t| dt`` [kWh].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ReplicationOutcome:
    """What one replication (one draw of the stochastic inputs) produced.

    Attributes
    ----------
    congested : (E, T) bool, element ``e`` violated a limit at step ``t``
    adjustments_kw : (A, T) heuristic adjustment of agent ``a`` at step ``t`` [kW]
        (turn-up > 0, turn-down < 0; zeros without the heuristic)
    """

    congested: np.ndarray
    adjustments_kw: np.ndarray


@dataclass(frozen=True)
class CongestionEstimate:
    """Monte-Carlo estimate over ``n_replications`` (module docstring).

    Attributes
    ----------
    elements, agents : names of the rows
    n_replications : N
    probability : (E, H) probability of congestion of element ``e`` in hour ``h`` [-]
    standard_error : (E, H) its standard error [-]
    adjustment_probability : (A, H) probability that agent ``a`` is adjusted in hour ``h`` [-]
    adjustment_standard_error : (A, H) [-]
    adjusted_energy_kwh : (N, A) adjusted energy per replication and agent [kWh]
    """

    elements: tuple[str, ...]
    agents: tuple[str, ...]
    n_replications: int
    probability: np.ndarray
    standard_error: np.ndarray
    adjustment_probability: np.ndarray
    adjustment_standard_error: np.ndarray
    adjusted_energy_kwh: np.ndarray

    def adjusted_energy_quantiles(self, q: Sequence[float] = (0.5, 0.9, 0.99)) -> np.ndarray:
        """(A, len(q)) quantiles over replications of each agent's adjusted energy [kWh]."""
        return np.quantile(self.adjusted_energy_kwh, q, axis=0).T


def _hourly(per_step: np.ndarray, steps_per_hour: int) -> np.ndarray:
    """(R, X, T) bool -> (R, X, H): true if true at any step of the hour."""
    r, x, t = per_step.shape
    if t % steps_per_hour:
        raise ValueError(f"{t} steps do not fill whole hours of {steps_per_hour} steps")
    return per_step.reshape(r, x, t // steps_per_hour, steps_per_hour).any(axis=3)


def _bernoulli(hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and its standard error over axis 0 of a (N, ...) bool array."""
    p = hits.mean(axis=0)
    return p, np.sqrt(p * (1.0 - p) / hits.shape[0])


def estimate_congestion(outcomes: Sequence[ReplicationOutcome], elements: Sequence[str],
                        agents: Sequence[str], step_s: int) -> CongestionEstimate:
    """Probability of congestion per element and hour, and of adjustments per agent.

    Parameters
    ----------
    outcomes : one per replication, all with the same shapes
    elements : E element names (rows of ``congested``)
    agents : A agent names (rows of ``adjustments_kw``)
    step_s : step length [s]; must divide one hour

    Raises
    ------
    ValueError
        If there is no outcome, shapes differ or do not match the names.
    """
    if not outcomes:
        raise ValueError("outcomes: at least one replication is needed")
    if step_s <= 0 or 3600 % step_s:
        raise ValueError(f"step_s={step_s}: must be > 0 and divide 3600")
    congested = np.stack([np.asarray(o.congested, dtype=bool) for o in outcomes])
    adjustments = np.stack([np.asarray(o.adjustments_kw, dtype=float) for o in outcomes])
    if congested.shape[1] != len(elements) or adjustments.shape[1] != len(agents):
        raise ValueError(f"outcomes: {congested.shape[1]} element rows for {len(elements)} elements, "
                         f"{adjustments.shape[1]} agent rows for {len(agents)} agents")
    if congested.shape[2] != adjustments.shape[2]:
        raise ValueError(f"outcomes: {congested.shape[2]} congestion steps vs "
                         f"{adjustments.shape[2]} adjustment steps")
    per_hour = 3600 // step_s
    p, se = _bernoulli(_hourly(congested, per_hour))
    adjusted = np.abs(adjustments) > 1e-9
    pa, sea = _bernoulli(_hourly(adjusted, per_hour))
    return CongestionEstimate(
        elements=tuple(elements), agents=tuple(agents), n_replications=len(outcomes),
        probability=p, standard_error=se, adjustment_probability=pa, adjustment_standard_error=sea,
        adjusted_energy_kwh=np.abs(adjustments).sum(axis=2) * step_s / 3600.0,
    )
