"""Grid builders: pandapower networks plus the bus/transformer/line names flexcosim uses.

Builders are registered by name in ``BUILDERS``; ``build_grid(name, **params)`` calls one
and always returns a fresh net that the caller may mutate.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable

from pydantic import ConfigDict, TypeAdapter, ValidationError

from flexcosim.grids.large_feeder import build_large_feeder
from flexcosim.grids.lv_feeder_3ph import build_lv_feeder_3ph
from flexcosim.grids.lv_feeder_20bus import build_lv_feeder_20bus
from flexcosim.grids.network import GridNetwork
from flexcosim.grids.seed000_two_feeders import build_seed000_two_feeders
from flexcosim.grids.shared_transformer import build_shared_transformer
from flexcosim.grids.simbench_feeder import build_simbench_feeder
from flexcosim.grids.ucd_feeder4 import build_ucd_feeder4

BUILDERS: dict[str, Callable[..., GridNetwork]] = {
    "large_feeder": build_large_feeder,
    "lv_feeder_20bus": build_lv_feeder_20bus,
    "lv_feeder_3ph": build_lv_feeder_3ph,
    "seed000_two_feeders": build_seed000_two_feeders,
    "shared_transformer": build_shared_transformer,
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
    hints = typing.get_type_hints(build)
    checked = {}
    for key, value in params.items():
        if key not in accepted:
            raise ValueError(
                f"{key}={value!r} is not a parameter of grid builder {builder!r}; "
                f"allowed: {list(accepted)}"
            )
        try:
            adapter = TypeAdapter(hints[key], config=ConfigDict(allow_inf_nan=False))
            checked[key] = adapter.validate_python(value)
        except ValidationError:
            raise ValueError(f"{key}={value!r} is not allowed for grid builder {builder!r}; "
                             f"need {getattr(hints[key], '__name__', hints[key])}") from None
    try:
        return build(**checked)
    except (KeyError, TypeError) as exc:  # e.g. an unknown pandapower std type
        raise ValueError(f"grid builder {builder!r} with {params}: {type(exc).__name__}: {exc}") from None


__all__ = ["BUILDERS", "GridNetwork", "build_grid"]
