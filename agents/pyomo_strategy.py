"""Strategies written as a pyomo model: the user builds the algebra, flexcosim solves it.

Researchers often state a charging strategy as an optimisation model. A site strategy
subclasses :class:`PyomoSiteStrategy` and writes two methods::

    build(model, obs)       # add Vars, Constraints and one Objective to an empty ConcreteModel
    setpoints(model, obs)   # read the solved model into SiteSetpoints

and an allocation strategy of the DSO platform subclasses :class:`PyomoAllocation` with
``build(model, request, offers, step_s)`` and ``choice(model, request, offers, step_s)``.
The base class solves with HiGHS through pyomo's appsi interface
(:func:`flexcosim.agents.solver.solve_pyomo`), times build and solve separately, and raises
:class:`PyomoSolveError` on any outcome but an optimal solution. Like every strategy it
runs inside :class:`flexcosim.agents.registry.Guarded`, so an infeasible or failed model
is recorded and the role's safe fallback decides that step.

Cost: pyomo builds its expressions in Python, so a pyomo model costs more per decision
than the array-built highspy models of :mod:`flexcosim.agents.optim`; the tutorial
(docs/tutorial-strategy.md, section 5) gives measured figures.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pyomo.environ as pyo

from flexcosim.agents.optim.types import SiteOffer, SiteRequest
from flexcosim.agents.site import SiteObservation, SiteSetpoints
from flexcosim.agents.solver import solve_pyomo


class PyomoSolveError(RuntimeError):
    """A strategy's pyomo model had no optimal solution (the role's fallback decides)."""


class PyomoStrategy:
    """Build, solve and time one pyomo model per decision.

    Attributes
    ----------
    time_limit_s : HiGHS time limit per solve [s], ``None`` for none
    build_s, solve_s : wall time of every build and every solve so far [s]
    """

    time_limit_s: float | None = None

    def __init__(self) -> None:
        self.build_s: list[float] = []
        self.solve_s: list[float] = []

    def _solved(self, *inputs) -> pyo.ConcreteModel:
        t0 = time.perf_counter()
        model = pyo.ConcreteModel(name=type(self).__name__)
        self.build(model, *inputs)
        self.build_s.append(time.perf_counter() - t0)
        result = solve_pyomo(model, self.time_limit_s)
        self.solve_s.append(result.solve_time_s)
        if result.status != "optimal":
            raise PyomoSolveError(f"{type(self).__name__}: {result.status} {result.message}".strip())
        return model

    def build(self, model: pyo.ConcreteModel, *inputs) -> None:
        """Add the variables, constraints and objective of one decision to ``model``."""
        raise NotImplementedError(f"{type(self).__name__} must define build()")


class PyomoSiteStrategy(PyomoStrategy):
    """Base of a site strategy written as a pyomo model (interface of ``SiteStrategy``)."""

    def decide(self, obs: SiteObservation) -> SiteSetpoints:
        if not obs.evs:  # nothing to schedule: no model, no solve
            return SiteSetpoints({})
        return self.setpoints(self._solved(obs), obs)

    def setpoints(self, model: pyo.ConcreteModel, obs: SiteObservation) -> SiteSetpoints:
        """Grid-side power per EV for this decision [kW], read from the solved ``model``."""
        raise NotImplementedError(f"{type(self).__name__} must define setpoints()")


class PyomoAllocation(PyomoStrategy):
    """Base of a DSO-platform allocation written as a pyomo model (interface of ``Allocation``)."""

    def choose(self, request: SiteRequest, offers: Sequence[SiteOffer], step_s: int
               ) -> tuple[str | None, np.ndarray, str]:
        if not offers:
            return None, np.zeros(0), "no offer"
        model = self._solved(request, offers, step_s)
        return self.choice(model, request, offers, step_s)

    def choice(self, model: pyo.ConcreteModel, request: SiteRequest, offers: Sequence[SiteOffer],
               step_s: int) -> tuple[str | None, np.ndarray, str]:
        """``(site, battery-side kW per step, reason)`` read from the solved ``model``."""
        raise NotImplementedError(f"{type(self).__name__} must define choice()")
