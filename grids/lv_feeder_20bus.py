"""Radial 400 V feeder with 20 load buses (seed 003, section III, Table I).

The seed models the MV grid and the MV/LV transformer as one slack bus. flexcosim needs a
transformer loading, so the builder adds a 20 kV MV bus with the external grid and one
MV/LV transformer ``"tx"`` feeding bus 0. The default standard type is pandapower's
``"0.25 MVA 20/0.4 kV"`` (uk 6 %, ukr 1.44 %): the head cable 0-1 is rated 283 A, i.e.
sqrt(3) * 0.4 kV * 283 A = 196 kVA, and 250 kVA is the smallest standard size above that,
so the transformer does not bind before the cable does.

Lines carry the Table I data as custom parameters (length [km], R and X [ohm/km],
Imax [A] -> ``max_i_ka``); the seed gives no capacitance, so ``c_nf_per_km = 0``.
The seed reports that the last six nodes drop more than 10 % below nominal in the evening
peak (18-21 h) and places batteries at nodes 7, 13, 15, 16 and 20 (``BATTERY_BUSES``).
Measured here: a uniform 1.52 kW per bus (cos phi 0.95) brings bus 20 to 0.9 pu, with the
lowest voltages at buses 15-20; beyond 4.76 kW per bus there is no power-flow solution
(docs/grids.md).
No loads or sgens are created: the co-simulation adds them per named bus.
"""

from __future__ import annotations

import pandapower as pp

from flexcosim.grids.network import GridNetwork, farthest_bus, require_std_type, require_vm_pu

# Seed 003 Table I "Line parameters": from, to, length [km], R [ohm/km], X [ohm/km], Imax [A].
TABLE_I: tuple[tuple[int, int, float, float, float, float], ...] = (
    (0, 1, 0.064, 0.308, 0.281, 283),
    (1, 2, 0.1, 0.595, 0.302, 185),
    (1, 3, 0.113, 0.833, 0.313, 149),
    (3, 4, 0.135, 0.595, 0.302, 185),
    (4, 5, 0.135, 0.595, 0.302, 185),
    (5, 6, 0.044, 0.595, 0.302, 185),
    (6, 7, 0.092, 0.437, 0.302, 226),
    (7, 8, 0.1055, 0.437, 0.29, 226),
    (8, 9, 0.105, 0.437, 0.29, 226),
    (9, 10, 0.064, 0.308, 0.29, 283),
    (10, 11, 0.1545, 0.308, 0.281, 283),
    (11, 12, 0.0805, 0.437, 0.281, 226),
    (12, 13, 0.135, 0.308, 0.281, 283),
    (7, 14, 0.085, 0.595, 0.302, 185),
    (14, 15, 0.2595, 0.833, 0.313, 149),
    (15, 16, 0.105, 0.437, 0.29, 226),
    (16, 17, 0.061, 0.308, 0.281, 283),
    (17, 18, 0.1545, 0.308, 0.281, 283),
    (18, 19, 0.0625, 0.308, 0.281, 283),
    (19, 20, 0.1545, 0.308, 0.281, 283),
)

# Seed 003 section III: nodes with battery storage (5 kWh, 0.5 kW each).
BATTERY_BUSES: tuple[str, ...] = ("bus_7", "bus_13", "bus_15", "bus_16", "bus_20")

MV_KV = 20.0
LV_KV = 0.4


#: Seed 003 section IV: "0.797 km of cable should be reinforced"; the lines from bus 14
#: to the feeder end (buses 15-20, the "last six nodes") add up to exactly 0.797 km.
REINFORCED_LINES: tuple[str, ...] = (
    "line_14_15", "line_15_16", "line_16_17", "line_17_18", "line_18_19", "line_19_20")


def build_lv_feeder_20bus(
    vm_pu: float = 1.0,
    transformer_std_type: str = "0.25 MVA 20/0.4 kV",
    reinforced_lines: tuple[str, ...] | list[str] = (),
    reinforcement_std_type: str = "NAYY 4x150 SE",
) -> GridNetwork:
    """Build the seed 003 feeder: 20 kV ext_grid -> transformer ``"tx"`` -> 21 LV buses.

    Parameters
    ----------
    vm_pu : voltage set-point of the 20 kV external grid [pu], within [0.9, 1.1].
    transformer_std_type : a pandapower transformer standard type rated 20/0.4 kV.
    reinforced_lines : lines replaced by ``reinforcement_std_type`` (same length), the
        seed's cable reinforcement (``REINFORCED_LINES``, 0.797 km).
    reinforcement_std_type : pandapower 0.4 kV line standard type of the new cable (the
        seed does not name one; NAYY 4x150 SE: 0.208 ohm/km, 270 A).

    Returns
    -------
    GridNetwork with buses ``"bus_0"``..``"bus_20"`` (0.4 kV), transformer ``"tx"``, lines
    ``"line_<from>_<to>"`` and ``feeder_end_bus`` the bus with the largest series
    impedance from bus 0.
    """
    require_vm_pu(vm_pu)
    unknown = sorted(set(reinforced_lines) - {f"line_{f}_{t}" for f, t, *_ in TABLE_I})
    if unknown:
        raise ValueError(f"reinforced_lines={unknown} are not lines of the feeder; allowed: "
                         f"line_<from>_<to> of TABLE_I, e.g. {list(REINFORCED_LINES)}")
    net = pp.create_empty_network(name="lv_feeder_20bus")
    if reinforced_lines:
        require_std_type(net, "line", reinforcement_std_type, "reinforcement_std_type")
    require_std_type(
        net, "trafo", transformer_std_type, "transformer_std_type", vn_hv_kv=MV_KV, vn_lv_kv=LV_KV
    )
    mv_bus = pp.create_bus(net, vn_kv=MV_KV, name="mv")
    pp.create_ext_grid(net, mv_bus, vm_pu=vm_pu, name="mv_grid")
    bus_numbers = sorted({n for row in TABLE_I for n in row[:2]})
    buses = {f"bus_{n}": int(pp.create_bus(net, vn_kv=LV_KV, name=f"bus_{n}")) for n in bus_numbers}
    tx = pp.create_transformer(net, mv_bus, buses["bus_0"], transformer_std_type, name="tx")
    lines = {}
    for f, t, length_km, r_ohm_per_km, x_ohm_per_km, imax_a in TABLE_I:
        name = f"line_{f}_{t}"
        if name in reinforced_lines:
            lines[name] = int(pp.create_line(net, buses[f"bus_{f}"], buses[f"bus_{t}"], length_km,
                                             reinforcement_std_type, name=name))
            continue
        lines[name] = int(
            pp.create_line_from_parameters(
                net,
                buses[f"bus_{f}"],
                buses[f"bus_{t}"],
                length_km=length_km,
                r_ohm_per_km=r_ohm_per_km,
                x_ohm_per_km=x_ohm_per_km,
                c_nf_per_km=0.0,
                max_i_ka=imax_a / 1000.0,
                name=name,
            )
        )
    return GridNetwork(
        name="lv_feeder_20bus",
        net=net,
        buses=buses,
        transformers={"tx": int(tx)},
        lines=lines,
        feeder_end_bus=farthest_bus(net, buses["bus_0"], buses),
        source=(
            "seed 003 section III, Table I (line length, R, X, Imax); "
            f"20 kV ext_grid at vm_pu={vm_pu} and transformer std type "
            f"{transformer_std_type!r} added by flexcosim"
            + (f"; {len(reinforced_lines)} lines reinforced with {reinforcement_std_type!r}"
               if reinforced_lines else "")
        ),
    )
