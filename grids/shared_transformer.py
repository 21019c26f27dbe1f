"""BTM units behind one shared MV/LV transformer (seed 004 section 4.2.1, capacity sharing).

Seed 004 4.2.1 shares the capacity of one distribution transformer (its example: 500 kVA)
among behind-the-meter units; it gives no network data, so the rest is chosen here:

* 20 kV ext_grid -> transformer ``"tx"`` (20/0.4 kV, pandapower's standard type
  "0.4 MVA 20/0.4 kV" impedances: uk 6 %, ukr 1.425 %, iron losses 1.35 kW, i0 0.3375 %,
  at the given rating) -> LV busbar ``"lv"``;
* one service cable ``"<unit>_cable"`` per unit from ``lv`` to the unit's bus ``<unit>``:
  NAYY 4x240 SE (R 0.125, X 0.08 ohm/km, 0.42 kA, about 290 kVA at 0.4 kV), ``cable_km``
  long, no capacitance.

The units' loads are not part of the grid: the scenario places them on the unit buses.
"""

from __future__ import annotations

import pandapower as pp

from flexcosim.grids.network import (
    GridNetwork,
    farthest_bus,
    mv_lv_substation,
    require_positive,
    require_vm_pu,
)

LV_KV = 0.4
#: NAYY 4x240 SE [ohm/km, ohm/km, kA] (pandapower standard type).
CABLE_R_OHM_PER_KM, CABLE_X_OHM_PER_KM, CABLE_MAX_I_KA = 0.125, 0.08, 0.42


def build_shared_transformer(
    units: list[str] = ["office", "residential", "commercial"],  # noqa: B006 - read only
    transformer_kva: float = 500.0,
    cable_km: float = 0.1,
    vm_pu: float = 1.0,
) -> GridNetwork:
    """Build 20 kV ext_grid -> ``tx`` -> ``lv`` -> one cable per unit.

    Parameters
    ----------
    units : unit names; each gets a bus of that name and a cable ``<unit>_cable``
    transformer_kva : transformer rating [kVA] (seed 004 example: 500)
    cable_km : length of each service cable [km]
    vm_pu : voltage set-point of the 20 kV external grid [pu], within [0.9, 1.1]

    Returns
    -------
    GridNetwork with buses ``lv`` and one per unit, transformer ``tx``, lines ``<unit>_cable``.
    """
    require_vm_pu(vm_pu)
    require_positive(transformer_kva=transformer_kva, cable_km=cable_km)
    if not units or len(set(units)) != len(units) or "lv" in units:
        raise ValueError(f"units={units!r} is not allowed; need distinct names other than 'lv'")
    net, lv, tx = mv_lv_substation("shared_transformer", vm_pu, transformer_kva,
                                   vkr_percent=1.425, pfe_kw=1.35, i0_percent=0.3375)
    buses = {"lv": lv}
    lines = {}
    for unit in units:
        buses[unit] = int(pp.create_bus(net, vn_kv=LV_KV, name=unit))
        lines[f"{unit}_cable"] = int(pp.create_line_from_parameters(
            net, buses["lv"], buses[unit], length_km=cable_km, r_ohm_per_km=CABLE_R_OHM_PER_KM,
            x_ohm_per_km=CABLE_X_OHM_PER_KM, c_nf_per_km=0.0, max_i_ka=CABLE_MAX_I_KA,
            name=f"{unit}_cable"))
    return GridNetwork(
        name="shared_transformer", net=net, buses=buses, transformers={"tx": tx},
        lines=lines, feeder_end_bus=farthest_bus(net, buses["lv"], buses),
        source=(f"seed 004 4.2.1 ({transformer_kva} kVA shared transformer, its example "
                "value); impedances, cable type and lengths chosen by flexcosim"),
    )
