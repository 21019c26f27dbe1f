"""mosaik adapter between a third-party simulator and flexcosim's time-based consumers.

One ``Link`` entity per (third-party entity, scenario ``connect`` entry). Its input
``value`` is the third-party output (any number); its output ``out`` is a
:class:`~cosim.models.meter.Meter` keyed by the link's name whose rate is
``scale x value`` held from the second the value arrived. The grid and the recorder
average a meter exactly over their metering interval, so a source that steps every
minute, every hour or at irregular events contributes the right energy to each
interval (mosaik's convention: an output holds from its time until the next one).

mosaik type hybrid: ``value`` triggers a step, ``out`` is persistent.
"""

from __future__ import annotations

from numbers import Real

from flexcosim.cosim.adapters.base import SteppedAdapter, meta
from flexcosim.cosim.models.meter import MeterBook

META = meta({"Link": (["name", "scale"], ["value", "out"])}, kind="hybrid",
            triggers=["value"], persistent=["out"])


class LinkSim(SteppedAdapter):
    def __init__(self) -> None:
        super().__init__(META)
        self.key: dict[str, str] = {}
        self.scale: dict[str, float] = {}
        self.books: dict[str, MeterBook] = {}

    def create(self, num: int, model: str, name: str, scale: float = 1.0):
        """One link per call; ``name`` keys its meter (the recorded entity), ``scale`` [-]."""
        if num != 1:
            raise ValueError(f"LinkSim: create one Link per call (num=1), got num={num}")
        eid = f"link_{len(self.books)}"
        self.key[eid], self.scale[eid] = name, float(scale)
        self.books[eid] = MeterBook()
        self.outputs[eid] = {"out": self.books[eid].reading()}
        return [{"eid": eid, "type": model}]

    def step(self, time: int, inputs, max_advance: int) -> None:
        for eid, data in inputs.items():
            total = 0.0
            for src, v in (data.get("value") or {}).items():
                if not isinstance(v, Real) or isinstance(v, bool):
                    raise ValueError(f"simulator link {self.key[eid]!r}: {src} sent {v!r}; "
                                     "allowed: a number")
                total += float(v)
            book = self.books[eid]
            book.set_rates(time, {self.key[eid]: self.scale[eid] * total})
            self.outputs[eid] = {"out": book.reading()}
        return None
