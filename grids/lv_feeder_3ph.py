"""Zero-sequence data for three-phase unbalanced power flow, and the 20-bus feeder with it.

Seed 001 checks DER schedules against a 3-phase unbalanced LV load flow (section III-B:
single-phase households load the phases unequally, and each phase is checked on its
own). ``pandapower.runpp_3ph`` needs zero-sequence data that the seeds do not give;
:func:`add_zero_sequence` adds textbook values, stated here because they set the
neutral-point shift of an unbalanced feeder:

* external grid: short-circuit power ``s_sc_mva`` (default 100 MVA, a rural 20 kV
  network), R/X 0.1, X0/X 1.0, R0/X0 0.1;
* lines: R0 = ``r0_factor`` x R1 and X0 = ``x0_factor`` x X1 (default 4 and 4: a
  four-core LV cable whose neutral has the phase cross-section returns the zero-sequence
  current, R0 = R_phase + 3 R_neutral), C0 = C1;
* transformers: vector group ``Dyn`` (the usual European MV/LV group; the delta winding
  blocks zero-sequence current from the MV side and the earthed star feeds it on the LV
  side), zero-sequence short-circuit voltage equal to the positive one, zero-sequence
  magnetising impedance 100 x the short-circuit one, 90 % of it on the HV side.

:func:`build_lv_feeder_3ph` is seed 003's 20-bus 400 V feeder
(:mod:`flexcosim.grids.lv_feeder_20bus`, line data from seed 003 Table I) with these data.
"""

from __future__ import annotations

from pandapower.auxiliary import pandapowerNet

from flexcosim.grids.lv_feeder_20bus import build_lv_feeder_20bus
from flexcosim.grids.network import GridNetwork


def add_zero_sequence(net: pandapowerNet, s_sc_mva: float = 100.0, r0_factor: float = 4.0,
                      x0_factor: float = 4.0, vector_group: str = "Dyn") -> None:
    """Give ``net`` (in place) the zero-sequence data ``pandapower.runpp_3ph`` needs.

    Parameters
    ----------
    net : a pandapower net with ext_grid, lines and two-winding transformers
    s_sc_mva : short-circuit power of every external grid [MVA], > 0
    r0_factor, x0_factor : zero- to positive-sequence ratio of line resistance and
        reactance [-], > 0
    vector_group : transformer vector group, one of ``"Dyn"``, ``"Yyn"``, ``"YNyn"``
    """
    allowed_groups = ("Dyn", "Yyn", "YNyn")
    if vector_group not in allowed_groups:
        raise ValueError(f"vector_group={vector_group!r}: allowed are {allowed_groups}")
    for name, value in (("s_sc_mva", s_sc_mva), ("r0_factor", r0_factor), ("x0_factor", x0_factor)):
        if not value > 0:
            raise ValueError(f"{name}={value}: must be > 0")
    net.ext_grid["s_sc_max_mva"] = s_sc_mva
    net.ext_grid["s_sc_min_mva"] = s_sc_mva
    net.ext_grid["rx_max"] = 0.1
    net.ext_grid["rx_min"] = 0.1
    net.ext_grid["x0x_max"] = 1.0
    net.ext_grid["r0x0_max"] = 0.1
    net.line["r0_ohm_per_km"] = r0_factor * net.line.r_ohm_per_km
    net.line["x0_ohm_per_km"] = x0_factor * net.line.x_ohm_per_km
    net.line["c0_nf_per_km"] = net.line.c_nf_per_km
    net.trafo["vector_group"] = vector_group
    net.trafo["vk0_percent"] = net.trafo.vk_percent
    net.trafo["vkr0_percent"] = net.trafo.vkr_percent
    net.trafo["mag0_percent"] = 100.0
    net.trafo["mag0_rx"] = 0.0
    net.trafo["si0_hv_partial"] = 0.9


def build_lv_feeder_3ph(vm_pu: float = 1.0, s_sc_mva: float = 100.0) -> GridNetwork:
    """Seed 003's 20-bus 400 V feeder with zero-sequence data (see module docstring).

    Parameters
    ----------
    vm_pu : voltage set-point of the 20 kV external grid [pu], within [0.9, 1.1]
    s_sc_mva : short-circuit power of the 20 kV grid [MVA]

    Returns
    -------
    GridNetwork as :func:`~flexcosim.grids.lv_feeder_20bus.build_lv_feeder_20bus`, named
    ``"lv_feeder_3ph"``; its net runs with ``pandapower.runpp_3ph``.
    """
    base = build_lv_feeder_20bus(vm_pu=vm_pu)
    add_zero_sequence(base.net, s_sc_mva=s_sc_mva)
    return GridNetwork(
        name="lv_feeder_3ph", net=base.net, buses=base.buses, transformers=base.transformers,
        lines=base.lines, feeder_end_bus=base.feeder_end_bus,
        source=base.source + f"; zero-sequence data added by flexcosim (s_sc={s_sc_mva} MVA, "
        "R0/R1 = X0/X1 = 4, Dyn transformer)",
    )
