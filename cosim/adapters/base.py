"""What every flexcosim mosaik adapter shares: fixed step, named entities, cached outputs.

An adapter only translates between mosaik and a plain-Python model: ``step`` reads
the inputs, calls the model and stores the outputs per entity; ``get_data`` hands
them out. Models are passed in as Python objects (all simulators run in-process),
so no physics lives here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mosaik_api_v3

#: Input every model accepts from the session gate (:mod:`flexcosim.cosim.adapters.gate`). It
#: carries nothing; the connection only makes each simulator wait for the gate.
GATE_ATTR = "gate"


def meta(models: Mapping[str, tuple[list[str], list[str]]]) -> dict[str, Any]:
    """mosaik meta for time-based models given ``{model: (params, attrs)}``."""
    return {
        "api_version": "3.0",
        "type": "time-based",
        "models": {
            name: {"public": True, "params": params, "attrs": [*attrs, GATE_ATTR]}
            for name, (params, attrs) in models.items()
        },
    }


def merged(values: Mapping[str, Mapping[str, float]] | None) -> dict[str, float]:
    """Merge per-source dicts (mosaik's ``{src_id: {key: value}}``) into one dict."""
    out: dict[str, float] = {}
    for per_source in (values or {}).values():
        out.update(per_source)
    return out


def plugged_at(values: Mapping[str, Mapping[str, Mapping]] | None, site: str) -> dict:
    """EVs parked at ``site`` from every connected fleet's ``plugged`` output."""
    out: dict = {}
    for per_site in (values or {}).values():
        out.update(per_site.get(site, {}))
    return out


def total(values: Mapping[str, float] | None) -> float:
    """Sum of the values from all sources connected to one input attribute."""
    return float(sum((values or {}).values()))


class SteppedAdapter(mosaik_api_v3.Simulator):
    """Base adapter: fixed ``step_s``; subclasses fill ``self.outputs[eid][attr]``."""

    def __init__(self, meta_: dict[str, Any]) -> None:
        super().__init__(meta_)
        self.step_s = 0
        self.outputs: dict[str, dict[str, Any]] = {}

    def init(self, sid: str, time_resolution: float = 1.0, *, step_s: int, **params: Any):
        self.step_s = int(step_s)
        self.setup(**params)
        return self.meta

    def setup(self, **params: Any) -> None:
        """Receive the plain-Python model objects (overridden by subclasses)."""

    def get_data(self, outputs: Mapping[str, list[str]]) -> dict[str, dict[str, Any]]:
        return {eid: {a: self.outputs[eid][a] for a in attrs} for eid, attrs in outputs.items()}
