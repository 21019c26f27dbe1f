"""mosaik adapter that records every connected attribute as tidy rows.

A scalar input becomes one row ``(time_s, source entity, attribute, value)``; a
``{key: number}`` dict (e.g. SOC per EV) becomes one row per key with the key as
entity. Non-numeric inputs (event lists, plug-in snapshots) are not recorded here.
"""

from __future__ import annotations

from flexcosim.cosim.adapters.base import SteppedAdapter, meta
from flexcosim.cosim.results import TimeseriesWriter

META = meta({"Recorder": ([], [])})
META["models"]["Recorder"]["any_inputs"] = True


class RecorderSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(META)

    def setup(self, writer: TimeseriesWriter) -> None:
        self.writer = writer

    def create(self, num: int, model: str):
        self.outputs["recorder"] = {}
        return [{"eid": "recorder", "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> int:
        add = self.writer.add
        for attr, sources in inputs.get("recorder", {}).items():
            for src, value in sources.items():
                if isinstance(value, (int, float)):
                    add(time, src.split(".", 1)[1], attr, value)
                elif isinstance(value, dict):
                    for key, v in value.items():
                        if isinstance(v, (int, float)):
                            add(time, key, attr, v)
        self.writer.end_step()
        return time + self.step_s

    def finalize(self) -> None:
        self.writer.flush()
