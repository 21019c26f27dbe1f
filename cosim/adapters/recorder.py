"""mosaik adapter that records every connected attribute as tidy rows, per metering interval.

Time-based on the metering interval ``step_s``. The step at ``t`` writes the interval
``[t - step_s, t)`` that just ended, stamped with its start ``t - step_s`` (nothing at
0): a :class:`~cosim.models.meter.Meter` input becomes its exact average over the
interval (its increase, for a counter such as unmet energy; zero increases are not
written), a number is the interval's value (profiles, power flow) or the state at its
end (SOC, limits). A scalar becomes one row ``(time_s, source entity, attribute,
value)``; a ``{key: number}`` dict or a meter one row per key with the key as entity.
Non-numeric inputs (event lists, plug-in snapshots) are not recorded here.

From any mosaik World (JSON-safe): ``world.start("Recorder", step_s=900,
output_dir="timeseries")`` (or ``scenario=`` instead of ``step_s``: its metering interval)
writes Parquet parts to ``output_dir``, read back with
:func:`~cosim.results.read_timeseries`; flexcosim's own world passes its ``writer``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flexcosim.cosim.adapters.base import SteppedAdapter, meta, one_entity
from flexcosim.cosim.models.meter import IntervalReader, Meter
from flexcosim.cosim.results import TimeseriesWriter

META = meta({"Recorder": ([], [])})
META["models"]["Recorder"]["any_inputs"] = True


class RecorderSim(SteppedAdapter):
    scenario_part = "Recorder"

    def __init__(self) -> None:
        super().__init__(META)

    def setup(self, writer: TimeseriesWriter | None = None, output_dir: str | None = None) -> None:
        """Either ``writer`` (flexcosim's run) or ``output_dir``, an empty or new folder."""
        if (writer is None) == (output_dir is None):
            raise ValueError("RecorderSim: give output_dir= (a folder for the Parquet parts) "
                             f"or writer=, exactly one; got output_dir={output_dir!r}, "
                             f"writer={writer!r}")
        self.writer = writer if writer is not None else TimeseriesWriter(Path(output_dir))
        self.reader = IntervalReader()

    def create(self, num: int, model: str):
        one_entity(num, model)
        if self.outputs:
            raise ValueError("create Recorder: one Recorder per simulator; start another "
                             "simulator for a second one")
        self.outputs["recorder"] = {}
        return [{"eid": "recorder", "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        if time == 0:
            self.writer.end_step()
            return self.step_s
        add, start = self.writer.add, time - self.step_s
        # sorted: mosaik's order of attributes and sources may differ between two processes
        for attr, sources in sorted(inputs.get("recorder", {}).items()):
            for src, value in sorted(sources.items()):
                if isinstance(value, Meter):
                    for key, v in self.reader.read(f"{src}.{attr}", value, start, time).items():
                        if v or (not value.counter and key in value.rate):
                            add(start, key, attr, v)
                elif isinstance(value, (int, float)):
                    add(start, src.split(".", 1)[1], attr, value)
                elif isinstance(value, Mapping):
                    for key, v in value.items():
                        if isinstance(v, (int, float)):
                            add(start, key, attr, v)
        self.writer.end_step()
        return time + self.step_s

    def finalize(self) -> None:
        self.writer.flush()
