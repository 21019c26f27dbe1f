"""Third-party mosaik simulators in a flexcosim run: the scenario's ``simulators`` section.

Any mosaik-api-v3 simulator (``python: module:Class``) is started in-process with the
scenario's ``params``; its entities are created from ``model`` (``count`` alike, or one
per ``entities`` item) and each ``connect`` entry feeds one of their output attributes,
times ``scale``, to a grid bus input (``p_kw``, ``q_kvar`` demand or ``p_gen_kw``
generation) through a :class:`~cosim.adapters.external.LinkSim` entity, which also
records it (entity ``<name>_<k>``, the bus input as attribute). Example, a building
from a mosaik-csv file in W::

    simulators:
      - name: office
        python: mosaik_csv:CSV
        params: {sim_start: "2019-01-16 00:00:00", datafile: office.csv}
        paths: [datafile]
        model: Building
        connect: [{attr: P, to: p_kw, buses: [bus_3], scale: 0.001}]

:func:`resolve` checks what needs the built grid and the files (in
:func:`~cosim.world.assemble`); :func:`wire` starts and connects (in
:func:`~cosim.world.build_world`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mosaik

from flexcosim.grids.network import GridNetwork
from flexcosim.scenarios.schema import ScenarioError, SimulatorSpec

#: The link simulator's name in the world's sim config.
LINK_SIM = "Link"
SIM_CONFIG = {LINK_SIM: {"python": "flexcosim.cosim.adapters.external:LinkSim"}}


@dataclass(frozen=True)
class External:
    """A ``simulators`` entry ready to start: its params with file paths made absolute."""

    spec: SimulatorSpec
    params: dict[str, Any]

    @property
    def sim_name(self) -> str:
        """Its key in the world's sim config."""
        return f"ext_{self.spec.name}"


def resolve(specs: list[SimulatorSpec], grid: GridNetwork, base_dir: Path) -> list[External]:
    """Check the buses, files and Python targets of the ``simulators`` section.

    Raises
    ------
    ScenarioError
        naming the field: an unknown bus, a missing file, a class that cannot be imported.
    """
    out = []
    for i, spec in enumerate(specs):
        field = f"simulators.{i}"
        for j, link in enumerate(spec.connect):
            for bus in link.buses:
                if bus not in grid.buses:
                    raise ScenarioError(f"scenario field '{field}.connect.{j}.buses': {bus!r} is not "
                                        f"a bus of grid {grid.name!r}")
        module, _, cls = spec.python.partition(":")
        try:
            getattr(importlib.import_module(module), cls)
        except (ImportError, AttributeError) as exc:
            raise ScenarioError(f"scenario field '{field}.python': {spec.python!r} cannot be "
                                f"imported ({exc}); install its package or fix the name") from None
        params = dict(spec.params)
        for key in spec.paths:
            path = Path(str(params[key]))
            path = path if path.is_absolute() else base_dir / path
            if not path.is_file():
                raise ScenarioError(f"scenario field '{field}.params.{key}': file {str(path)!r} "
                                    "does not exist")
            params[key] = str(path)
        out.append(External(spec, params))
    return out


def sim_config(externals: list[External]) -> dict[str, dict[str, str]]:
    """World sim-config entries of the link simulator and of every external simulator."""
    if not externals:
        return {}
    return {**SIM_CONFIG, **{e.sim_name: {"python": e.spec.python} for e in externals}}


def wire(world: mosaik.World, externals: list[External], metering_s: int,
         buses: dict[str, mosaik.scenario.Entity],
         recorder: mosaik.scenario.Entity) -> tuple[dict[str, list], list]:
    """Start every external simulator, create its entities and connect them to the buses.

    Returns
    -------
    (simulator name -> its entities in creation order, the link entities)
    """
    if not externals:
        return {}, []
    link_sim = world.start(LINK_SIM, step_s=metering_s)
    made, links = {}, []
    for i, e in enumerate(externals):
        spec = e.spec
        factory = world.start(e.sim_name, **e.params)
        try:
            model = getattr(factory, spec.model)
        except AttributeError as exc:
            raise ScenarioError(f"scenario field 'simulators.{i}.model': {spec.model!r} is not a "
                                f"model of {spec.python} ({exc})") from None
        if spec.entities is not None:
            entities = [model(**params) for params in spec.entities]
        else:
            entities = model.create(spec.count, **spec.model_params)
        made[spec.name] = entities
        for link in spec.connect:
            for k, (entity, bus) in enumerate(zip(entities, link.buses)):
                relay = link_sim.Link(name=f"{spec.name}_{k}", scale=link.scale)
                world.connect(entity, relay, (link.attr, "value"))
                world.connect(relay, buses[bus], ("out", link.to))
                world.connect(relay, recorder, ("out", link.to))
                links.append(relay)
    return made, links
