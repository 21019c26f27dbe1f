"""Grid builders: pandapower networks plus the bus/transformer/line names flexcosim uses.

Builders are registered by name in ``BUILDERS``; ``build_grid(name, **params)`` calls one
and always returns a fresh net that the caller may mutate.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from flexcosim.grids.lv_feeder_3ph import build_lv_feeder_3ph
from flexcosim.grids.lv_feeder_20bus import build_lv_feeder_20bus
from flexcosim.grids.network import GridNetwork
from flexcosim.grids.simbench_feeder import build_simbench_feeder
from flexcosim.grids.ucd_feeder4 import build_ucd_feeder4

BUILDERS: dict[str, Callable[..., GridNetwork]] = {
    "lv_feeder_20bus": build_lv_feeder_20bus,
    "lv_feeder_3ph": build_lv_feeder_3ph,
    "simbench_feeder": build_simbench_feeder,
    "ucd_feeder4": build_ucd_feeder4,
}


def build_grid(builder: str, **params: object) -> GridNetwork:
    """Build the registered grid ``builder`` with keyword ``params``.

    Raises
    ------
    ValueError
        If ``builder`` is not registered or a parameter name or value is not accepted by it
        (the message lists what is allowed).
    """
    try:
        build = BUILDERS[builder]
    except KeyError:
        raise ValueError(
            f"builder={builder!r} is not a registered grid builder; allowed: {sorted(BUILDERS)}"
        ) from None
    accepted = inspect.signature(build).parameters
    for key, value in params.items():
        if key not in accepted:
            raise ValueError(
                f"{key}={value!r} is not a parameter of grid builder {builder!r}; "
                f"allowed: {list(accepted)}"
            )
    return build(**params)


__all__ = ["BUILDERS", "GridNetwork", "build_grid"]
