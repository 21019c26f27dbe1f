"""UCD campus MV network, Feeder 4 (seed 004, section 5, Table 1 and Fig. 4 text).

What the seed gives: the ESB substation feeds Feeder 4 through a main cable to
``vet_college`` (the cable that reaches its limit at 50 % EV penetration) and Feeder 4
supplies three MV/LV transformers with the ratings of Table 1: ``vet_college_tx2``
1600 kVA, ``richview_tx1`` 200 kVA, ``civil_engineering_tx1`` 1000 kVA. Each transformer
is one behind-the-meter unit: its LV bus carries the building load and the charging site.

What the seed does not give, and the choices made here:

- MV voltage: not stated; 10 kV, the standard ESB Networks urban MV level in Dublin.
- Topology beyond the main cable: Fig. 4 is not machine-readable; the three MV nodes are
  taken as one radial chain ESB_sub -> vet_college -> civil_engineering -> richview
  (radial, as the seed says all four feeders are), with the assumed lengths in
  ``CABLE_LENGTHS_KM`` (campus distances of a few hundred metres).
- Cables: ``main_cable_std_type`` (default ``"NA2XS2Y 1x70 RM/25 6/10 kV"``, 217 A, i.e.
  3.76 MVA at 10 kV) for every MV section. It is the smallest 10 kV cable in pandapower's
  library; it carries the 2.8 MVA of installed transformer capacity, while uncontrolled
  charging at 50 % penetration (478 EVSEs x 11 kW = 5.3 MW connected) can overload it,
  as the seed reports for the main cable.
- Transformers: 10/0.4 kV, Dyn5, no tap changer in use; uk 4 % up to 630 kVA and 6 %
  above (IEC 60076-5 / EN 50588-1 preferred values); load losses Pk and no-load losses P0
  at the EU Regulation 548/2014 Tier 1 maxima (200 kVA interpolated between 160 and
  250 kVA), so vkr = Pk / Sn; magnetising current i0 typical for oil-immersed units.
  See ``TRANSFORMERS``.
- External grid: ``vm_pu`` set-point at ``ESB_sub`` (default 1.0).

No loads or sgens are created: the co-simulation adds building and charging load per LV bus.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandapower as pp

from flexcosim.grids.network import GridNetwork, farthest_bus, require_std_type, require_vm_pu

MV_KV = 10.0
LV_KV = 0.4
#: Largest ``rating_scale`` accepted [-]
MAX_RATING_SCALE = 100.0


@dataclass(frozen=True)
class TransformerData:
    """Nameplate of one MV/LV transformer (10/0.4 kV, Dyn5)."""

    site: str
    rating_kva: float
    vk_percent: float
    load_loss_kw: float
    no_load_loss_kw: float
    i0_percent: float


# Ratings: seed 004 Table 1. uk, Pk, P0: see module docstring.
TRANSFORMERS: dict[str, TransformerData] = {
    "vet_college_tx2": TransformerData("vet_college", 1600.0, 6.0, 14.0, 1.2, 0.5),
    "richview_tx1": TransformerData("richview", 200.0, 4.0, 2.75, 0.25, 1.0),
    "civil_engineering_tx1": TransformerData("civil_engineering", 1000.0, 6.0, 10.5, 0.77, 0.6),
}

# Assumed MV cable sections (from MV node, to MV node) -> length [km].
CABLE_LENGTHS_KM: dict[tuple[str, str], float] = {
    ("esb_sub", "vet_college"): 1.0,
    ("vet_college", "civil_engineering"): 0.4,
    ("civil_engineering", "richview"): 0.4,
}


def build_ucd_feeder4(
    vm_pu: float = 1.0, main_cable_std_type: str = "NA2XS2Y 1x70 RM/25 6/10 kV",
    rating_scale: float = 1.0,
) -> GridNetwork:
    """Build UCD Feeder 4: 10 kV ESB substation, MV cable chain, three MV/LV transformers.

    Parameters
    ----------
    vm_pu : voltage set-point of the external grid at the ESB substation [pu], in [0.9, 1.1].
    main_cable_std_type : pandapower MV cable standard type used for every MV section.
    rating_scale : every transformer's rating and losses times this [-], > 0: a campus
        scaled as a whole (``bench/ucd_day.py`` at 2x and 4x the fleet) or an upgrade;
        the short-circuit voltage (uk, %) stays, so the impedance scales with 1/rating.

    Returns
    -------
    GridNetwork with LV buses ``vet_college_lv``, ``richview_lv``,
    ``civil_engineering_lv`` (0.4 kV), transformers ``vet_college_tx2``, ``richview_tx1``,
    ``civil_engineering_tx1``, lines ``"<from>_<to>"`` (``esb_sub_vet_college`` is the main
    cable) and ``feeder_end_bus`` the LV bus with the largest series impedance [pu] from
    the substation.
    """
    require_vm_pu(vm_pu)
    if not (isinstance(rating_scale, (int, float)) and 0 < rating_scale <= MAX_RATING_SCALE):
        raise ValueError(f"ucd_feeder4 rating_scale: {rating_scale!r} is not allowed; "
                         f"need 0 < rating_scale <= {MAX_RATING_SCALE:g} [-]")
    net = pp.create_empty_network(name="ucd_feeder4")
    require_std_type(
        net, "line", main_cable_std_type, "main_cable_std_type", voltage_rating="MV", type="cs"
    )
    mv_names = ["esb_sub", *(to for _, to in CABLE_LENGTHS_KM)]
    mv = {name: int(pp.create_bus(net, vn_kv=MV_KV, name=name)) for name in mv_names}
    pp.create_ext_grid(net, mv["esb_sub"], vm_pu=vm_pu, name="esb_grid")
    lines = {
        f"{a}_{b}": int(
            pp.create_line(
                net,
                mv[a],
                mv[b],
                length_km=length_km,
                std_type=main_cable_std_type,
                name=f"{a}_{b}",
            )
        )
        for (a, b), length_km in CABLE_LENGTHS_KM.items()
    }
    buses: dict[str, int] = {}
    transformers: dict[str, int] = {}
    for name, tx in TRANSFORMERS.items():
        lv_name = f"{tx.site}_lv"
        buses[lv_name] = int(pp.create_bus(net, vn_kv=LV_KV, name=lv_name))
        rating_kva = tx.rating_kva * rating_scale
        transformers[name] = int(
            pp.create_transformer_from_parameters(
                net,
                hv_bus=mv[tx.site],
                lv_bus=buses[lv_name],
                sn_mva=rating_kva / 1e3,
                vn_hv_kv=MV_KV,
                vn_lv_kv=LV_KV,
                vk_percent=tx.vk_percent,
                vkr_percent=100.0 * tx.load_loss_kw / tx.rating_kva,  # the same % scaled
                pfe_kw=tx.no_load_loss_kw * rating_scale,
                i0_percent=tx.i0_percent,
                shift_degree=150.0,
                vector_group="Dyn5",
                name=name,
            )
        )
    return GridNetwork(
        name="ucd_feeder4",
        net=net,
        buses=buses,
        transformers=transformers,
        lines=lines,
        feeder_end_bus=farthest_bus(net, mv["esb_sub"], buses),
        source=(
            "seed 004 section 5 and Table 1 (transformer names and ratings, main cable "
            "ESB_sub-vet_college); 10 kV, chain topology, cable lengths, cable type "
            f"{main_cable_std_type!r} and transformer losses assumed (see grids.ucd_feeder4)"
        ),
    )
