"""mosaik adapter for home-charging EVs (:class:`flexcosim.cosim.models.home_evs.HomeChargers`).

Entity ``HomeEVs`` per (plant, bus): input ``setpoints_kw`` (``{ev: grid kW}`` from the
aggregator; EVs of other buses are ignored); outputs ``p_kw`` (the bus's charging
demand [kW], to the grid bus) and ``energy_kwh`` (``{ev: kWh}`` of the bus's EVs at the
end of the step, back to the aggregator over a time-shifted connection), and JSON-safe
numbers beside it: ``stored_kwh`` (their sum [kWh]) and ``n_parked`` (the bus's EVs at their
charger [-]). All outputs persistent (time-based). Each plant steps once per step, however
many bus entities it has.

From any mosaik World (JSON-safe): ``scenario=`` (a ``pv_ev_coordination`` study: one
plant per feeder, named by the feeder); flexcosim's own world passes the
:class:`HomeChargers` objects. The EVs are drawn from the scenario's seed, so they are the
ones the ``DayAhead`` simulator's aggregators plan for.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from flexcosim.cosim.adapters.base import SteppedAdapter, merged, meta, one_entity
from flexcosim.cosim.models.home_evs import HomeChargers

META = meta({"HomeEVs": (["name", "plant", "bus"],
                         ["setpoints_kw", "p_kw", "energy_kwh", "stored_kwh", "n_parked"])})


class HomeEVSim(SteppedAdapter):
    scenario_part = "HomeEVs"

    def __init__(self) -> None:
        super().__init__(META)
        self.entities: dict[str, tuple[str, str]] = {}

    def setup(self, plants: Mapping[str, HomeChargers], end_s: int) -> None:
        self.end_s = end_s  # steps at or after it are skipped: nobody reads them
        self.plants = dict(plants)

    def create(self, num: int, model: str, name: str, plant: str, bus: str):
        one_entity(num, model)
        if plant not in self.plants:
            raise ValueError(f"create HomeEVs {name!r}: plant {plant!r} is not known; allowed: "
                             f"{', '.join(self.plants)}")
        if bus not in self.plants[plant].evs.bus:
            raise ValueError(f"create HomeEVs {name!r}: plant {plant!r} has no EVs at bus {bus!r}; "
                             f"allowed: {', '.join(sorted(set(self.plants[plant].evs.bus)))}")
        self.entities[name] = (plant, bus)
        self.outputs[name] = {}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        if time >= self.end_s:
            return time + self.step_s
        for plant_name, plant in self.plants.items():
            mine = [e for e, (p, _) in self.entities.items() if p == plant_name]
            setpoints: dict[str, float] = {}
            for e in mine:
                setpoints.update(merged(inputs.get(e, {}).get("setpoints_kw")))
            ids = plant.evs.ids
            p = plant.step(time, self.step_s, np.array([setpoints.get(ev, 0.0) for ev in ids]))
            bus_of = np.array(plant.evs.bus)
            parked = plant.parked(time)
            for e in mine:
                at = bus_of == self.entities[e][1]
                self.outputs[e] = {
                    "p_kw": float(p[at].sum()),
                    "energy_kwh": {ev: float(x) for ev, x, here in
                                   zip(ids, plant.energy_kwh, at) if here},
                    "stored_kwh": float(plant.energy_kwh[at].sum()),
                    "n_parked": int(parked[at].sum()),
                }
        return time + self.step_s
