"""Two LV feeders behind one 350 kVA transformer (seed 000 section 4).

The seed gives: a 350 kVA distribution transformer, two feeders of 149 kVA rated
capacity (141.5 kW at cos phi 0.95), 55 and 75 households, one aggregator per feeder.
It takes its network data from its reference [23] without listing them, so the rest is
chosen here and documented in ``docs/grids.md``:

* 20 kV ext_grid -> transformer ``"tx"`` (350 kVA, 20/0.4 kV, uk 6 %, ukr 1.43 %,
  iron losses 1.1 kW, i0 0.33 %: pandapower's 250 and 400 kVA 20/0.4 kV standard types
  interpolated) -> LV busbar ``"lv"``.
* per feeder ``f<k>``: the main cable ``"f<k>_head"`` from ``lv`` to ``f<k>_b1`` (the
  cable whose rating the DSO enforces), then a chain of ``buses_per_feeder - 1`` segments
  to ``f<k>_b<n>``. All cables are NAYY 4x150 SE (R 0.208, X 0.08 ohm/km, no capacitance
  for the short LV runs), ``segment_km`` long; the head cable's current rating is set to
  the seed's ``line_rating_kva`` (149 kVA at 0.4 kV = 215 A), the segments keep the
  type's 270 A.

Households are not part of the grid: the scenario places them on the feeder buses.
"""

from __future__ import annotations

import math

import pandapower as pp

from flexcosim.grids.network import (
    GridNetwork,
    farthest_bus,
    mv_lv_substation,
    require_positive,
    require_vm_pu,
)

LV_KV = 0.4
#: Seed 000 section 4: number of households per feeder (aggregator 1, aggregator 2).
FEEDER_HOUSEHOLDS: tuple[int, int] = (55, 75)
#: NAYY 4x150 SE [ohm/km, ohm/km, kA] (pandapower standard type).
CABLE_R_OHM_PER_KM, CABLE_X_OHM_PER_KM, CABLE_MAX_I_KA = 0.208, 0.08, 0.270


def build_seed000_two_feeders(
    vm_pu: float = 1.0,
    transformer_kva: float = 350.0,
    line_rating_kva: float = 149.0,
    buses_per_feeder: int = 5,
    segment_km: float = 0.05,
) -> GridNetwork:
    """Build the seed 000 network: 20 kV ext_grid -> ``tx`` -> ``lv`` -> feeders ``f1``, ``f2``.

    Parameters
    ----------
    vm_pu : voltage set-point of the 20 kV external grid [pu], within [0.9, 1.1]
    transformer_kva : transformer rating S^rated_Trans [kVA] (seed: 350)
    line_rating_kva : rating of each feeder's main cable S^rated_Line [kVA] (seed: 149)
    buses_per_feeder : LV buses along each feeder, the head cable's end included [-]
    segment_km : length of the head cable and of each segment [km]

    Returns
    -------
    GridNetwork with buses ``lv`` and ``f<k>_b<i>``, transformer ``tx``, lines
    ``f<k>_head`` and ``f<k>_seg<i>``; ``feeder_end_bus`` the electrically farthest feeder bus.
    """
    require_vm_pu(vm_pu)
    require_positive(transformer_kva=transformer_kva, line_rating_kva=line_rating_kva,
                     segment_km=segment_km)
    if int(buses_per_feeder) != buses_per_feeder or buses_per_feeder < 1:
        raise ValueError(f"buses_per_feeder={buses_per_feeder!r} is not allowed; need an integer >= 1")
    net, lv, tx = mv_lv_substation("seed000_two_feeders", vm_pu, transformer_kva,
                                   vkr_percent=1.43, pfe_kw=1.1, i0_percent=0.33)
    buses = {"lv": lv}
    head_ka = line_rating_kva / (math.sqrt(3) * LV_KV) / 1e3
    lines = {}
    for k in (1, 2):
        previous = buses["lv"]
        for i in range(1, buses_per_feeder + 1):
            bus = f"f{k}_b{i}"
            buses[bus] = int(pp.create_bus(net, vn_kv=LV_KV, name=bus))
            name = f"f{k}_head" if i == 1 else f"f{k}_seg{i}"
            lines[name] = int(pp.create_line_from_parameters(
                net, previous, buses[bus], length_km=segment_km,
                r_ohm_per_km=CABLE_R_OHM_PER_KM, x_ohm_per_km=CABLE_X_OHM_PER_KM, c_nf_per_km=0.0,
                max_i_ka=head_ka if i == 1 else CABLE_MAX_I_KA, name=name))
            previous = buses[bus]
    return GridNetwork(
        name="seed000_two_feeders",
        net=net,
        buses=buses,
        transformers={"tx": tx},
        lines=lines,
        feeder_end_bus=farthest_bus(net, buses["lv"], buses),
        source=(
            f"seed 000 section 4 ({transformer_kva} kVA transformer, two feeders with "
            f"{line_rating_kva} kVA main cables); cable type NAYY 4x150 SE, "
            f"{buses_per_feeder} buses {segment_km} km apart per feeder and transformer "
            "impedances chosen by flexcosim (docs/grids.md)"
        ),
    )
