"""mosaik adapters of the seed-001 congestion study (:mod:`flexcosim.cosim.congestion`).

The study object holds the models and records; these adapters only call it and hand out
what it returns.

DerOwners (``Owners``, one entity per bus with households)
    input ``setpoints_kw`` (``{agent: kW}`` decided at ``t - step_s``, time-shifted);
    outputs ``p_kw``/``q_kvar`` (the bus's households in ``[t - step_s, t)``, to the
    balanced grid and the recorder), ``households_kw``/``households_kvar`` (per
    household, to the three-phase grid) and ``proposal`` (the bus's agents with bounds and
    its households' base load for ``[t, t + step_s)``, to the platform).
NetworkPlatform (``Platform``)
    input ``proposal`` (merged over the buses); outputs ``setpoints_kw`` (every agent),
    ``adjustment_kw`` (``{agent: kW}``, set-point minus proposal) and ``removable`` (1 if a
    violation is left that the agents could have removed).
Feeder3ph (``Feeder3ph``)
    inputs ``households_kw``/``households_kvar``; output ``congested`` (``{element: 0/1}``
    for ``[t - step_s, t)``, the pseudo element ``power_flow:not_converged`` included;
    empty before the first checked step).
"""

from __future__ import annotations

from flexcosim.cosim.adapters.base import SteppedAdapter, merged, meta, one_entity

OWNERS_META = meta({"Owners": (["name", "bus"], ["setpoints_kw", "p_kw", "q_kvar", "households_kw",
                                                 "households_kvar", "proposal"])})
PLATFORM_META = meta({"Platform": ([], ["proposal", "setpoints_kw", "adjustment_kw", "removable"])})
FEEDER_META = meta({"Feeder3ph": ([], ["households_kw", "households_kvar", "congested"])})


class DerOwnersSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(OWNERS_META)
        self.bus_of: dict[str, str] = {}

    def setup(self, study, end_s: int) -> None:
        """``study``: a :class:`~flexcosim.cosim.congestion.CongestionStudy`."""
        self.study, self.end_s = study, end_s

    def create(self, num: int, model: str, name: str, bus: str):
        one_entity(num, model)
        self.bus_of[name] = bus
        self.outputs[name] = {}
        return [{"eid": name, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        if time > self.end_s:
            return time + self.step_s
        # outputs at t: the interval [t - step_s, t) and, before the end, the next proposal
        setpoints: dict[str, float] = {}
        for name in self.bus_of:
            setpoints.update(merged(inputs.get(name, {}).get("setpoints_kw")))
        applied, proposal = self.study.owners_step(time, setpoints)
        bus_of_home = {h.name: h.bus for h in self.study.households}
        for name, bus in self.bus_of.items():
            mine = [h for h, b in bus_of_home.items() if b == bus]
            out = {
                "p_kw": sum(applied[h][0] for h in mine) if applied else 0.0,
                "q_kvar": sum(applied[h][1] for h in mine) if applied else 0.0,
                "households_kw": {h: applied[h][0] for h in mine if applied},
                "households_kvar": {h: applied[h][1] for h in mine if applied},
            }
            out["proposal"] = {} if not proposal else {
                "agents": [a for a in proposal["agents"] if a[1] == bus],
                "base_kw": {h: proposal["base_kw"][h] for h in mine},
                "base_kvar": {h: proposal["base_kvar"][h] for h in mine},
            }
            self.outputs[name] = out
        return time + self.step_s


class NetworkPlatformSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(PLATFORM_META)

    def setup(self, study, end_s: int) -> None:
        self.study, self.end_s = study, end_s

    def create(self, num: int, model: str):
        one_entity(num, model)
        self.outputs["platform"] = {}
        return [{"eid": "platform", "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        if time >= self.end_s:
            return time + self.step_s
        parts = [part for part in (inputs.get("platform", {}).get("proposal") or {}).values() if part]
        proposal = {"agents": [a for part in parts for a in part["agents"]],
                    "base_kw": {h: v for part in parts for h, v in part["base_kw"].items()},
                    "base_kvar": {h: v for part in parts for h, v in part["base_kvar"].items()}}
        check = self.study.platform_step(time, proposal)
        self.outputs["platform"] = {"setpoints_kw": check.positions_kw,
                                    "adjustment_kw": check.adjustments_kw,
                                    "removable": float(check.removable)}
        return time + self.step_s


class Feeder3phSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(FEEDER_META)

    def setup(self, study) -> None:
        self.study = study

    def create(self, num: int, model: str):
        one_entity(num, model)
        self.outputs["feeder3ph"] = {}
        return [{"eid": "feeder3ph", "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        if time == 0 or time > self.study.n_steps * self.step_s:
            self.outputs["feeder3ph"] = {"congested": {}}  # nothing applied yet / past the end
            return time + self.step_s
        data = inputs.get("feeder3ph", {})
        result = self.study.field_step(time, merged(data.get("households_kw")),
                                       merged(data.get("households_kvar")))
        # an unchecked step congests nothing it records (empty dict: the recorder writes no row)
        self.outputs["feeder3ph"] = {"congested": {} if result is None else result["congested"]}
        return time + self.step_s
