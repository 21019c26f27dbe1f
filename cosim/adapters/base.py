"""What every flexcosim mosaik adapter shares: a step length, named entities, cached outputs.

An adapter only translates between mosaik and a plain-Python model: ``step`` reads
the inputs, calls the model and stores the outputs per entity; ``get_data`` hands
them out. flexcosim's own world passes the models in as Python objects (all its simulators
run in-process: the fast path); from any other mosaik World a simulator builds them from a
JSON-safe ``scenario`` parameter, taking the part of the scenario it says it is
(``scenario_part``), so no physics lives here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mosaik_api_v3

#: Input every model accepts from the session gate (:mod:`flexcosim.cosim.adapters.gate`). It
#: carries nothing; the connection only makes each simulator wait for the gate.
GATE_ATTR = "gate"


def meta(models: Mapping[str, tuple[list[str], list[str]]], kind: str = "time-based",
         triggers: list[str] | None = None, persistent: list[str] | None = None) -> dict[str, Any]:
    """mosaik meta given ``{model: (params, attrs)}``.

    ``kind`` is mosaik's simulator type. For a ``"hybrid"`` simulator, ``triggers`` are
    the inputs that make it step (the gate input never does) and ``persistent`` the
    outputs that hold their value; the other outputs are non-persistent events. The
    same lists apply to every model of the simulator (attributes a model lacks are skipped).
    """
    out: dict[str, Any] = {"api_version": "3.0", "type": kind, "models": {}}
    for name, (params, attrs) in models.items():
        model: dict[str, Any] = {"public": True, "params": params, "attrs": [*attrs, GATE_ATTR]}
        if kind == "hybrid":
            model["trigger"] = [a for a in triggers or [] if a in attrs]
            model["persistent"] = [a for a in persistent or [] if a in model["attrs"]]
            model["non-persistent"] = [a for a in model["attrs"] if a not in model["persistent"]]
        out["models"][name] = model
    return out


def merged(values: Mapping[str, Mapping[str, float]] | None) -> dict[str, float]:
    """Merge per-source dicts (mosaik's ``{src_id: {key: value}}``) into one dict."""
    out: dict[str, float] = {}
    for per_source in (values or {}).values():
        out.update(per_source)
    return out


def total(values: Mapping[str, float] | None) -> float:
    """Sum of the values from all sources connected to one input attribute."""
    return float(sum((values or {}).values()))


def one_entity(num: int, model: str) -> None:
    """Refuse ``create(num > 1)`` for models whose entities are made one per call (named ones,
    or a simulator's single entity)."""
    if num != 1:
        raise ValueError(f"create {model}: num={num}; {model} entities are created one per "
                         "call (num=1), a named one per name")


def plugged_at(values: Mapping[str, Mapping[str, Mapping]] | None, site: str) -> dict:
    """The changes of the EVs parked at ``site`` from every connected fleet's ``plugged`` output."""
    out: dict = {}
    for per_site in (values or {}).values():
        out.update(per_site.get(site, {}))
    return out


class SteppedAdapter(mosaik_api_v3.Simulator):
    """Base adapter: ``step_s`` (the step of a time-based simulator, the decision tick of an
    event-based one); subclasses fill ``self.outputs[eid][attr]``. Time is in whole
    seconds: mosaik's ``time_resolution`` must be 1."""

    #: key of this simulator in :func:`~cosim.world.sim_params`, so that ``init`` can build
    #: it from a JSON-safe ``scenario``; ``None``: it needs its model objects
    scenario_part: str | None = None

    def __init__(self, meta_: dict[str, Any]) -> None:
        super().__init__(meta_)
        self.step_s = 0
        self.outputs: dict[str, dict[str, Any]] = {}

    def init(self, sid: str, time_resolution: float = 1.0, *, step_s: int | None = None,
             scenario: str | dict | None = None, base_dir: str | None = None, **params: Any):
        """``step_s`` [s] and the parameters of :meth:`setup`; or, from any mosaik World,
        JSON-safe: ``scenario`` (a shipped scenario's name, a scenario file's path or a
        scenario as a dict; ``base_dir``: the folder its relative paths refer to), whose
        models this simulator builds and takes its part of (``scenario_part``); ``params``
        then holds only what the scenario does not give (e.g. the recorder's ``output_dir``)."""
        name = type(self).__name__
        if time_resolution != 1.0:
            raise ValueError(f"{name}: time_resolution {time_resolution!r} is not "
                             "supported; flexcosim simulators count whole seconds (time_resolution=1)")
        if scenario is not None:
            if self.scenario_part is None:
                raise ValueError(f"{name}: cannot be built from a scenario; "
                                 "pass its model objects")
            from flexcosim.cosim.world import assemble_from, sim_params

            part = sim_params(assemble_from(scenario, base_dir)).get(self.scenario_part)
            if part is None:
                raise ValueError(f"{name}: the scenario has no {self.scenario_part} models "
                                 f"(scenario={scenario if isinstance(scenario, str) else '<dict>'!r})")
            both = sorted(set(params) & set(part))
            if both:
                raise ValueError(f"{name}: give either scenario= or the model "
                                 f"objects {both}, not both")
            scenario_step_s = part.pop("step_s")
            step_s = scenario_step_s if step_s is None else step_s
            params = {**part, **params}
        if step_s is None:
            raise ValueError(f"{name}: step_s [s] is missing (or give scenario=)")
        self.step_s = int(step_s)
        self.setup(**params)
        return self.meta

    def setup(self, **params: Any) -> None:
        """Receive the plain-Python model objects (overridden by subclasses)."""

    def get_data(self, outputs: Mapping[str, list[str]]) -> dict[str, dict[str, Any]]:
        """The outputs of the last step; a non-persistent output not produced then is left
        out, so it triggers nobody."""
        return {eid: {a: self.outputs[eid][a] for a in attrs if a in self.outputs[eid]}
                for eid, attrs in outputs.items()}
