"""Grid builders: seed data lands in the nets, nets converge, names resolve."""

from __future__ import annotations

import math

import numpy as np
import pandapower as pp
import pytest

from flexcosim.grids import BUILDERS, GridNetwork, build_grid
from flexcosim.grids.lv_feeder_20bus import BATTERY_BUSES, TABLE_I
from flexcosim.grids.ucd_feeder4 import TRANSFORMERS

COS_PHI = 0.95


def add_uniform_load(grid: GridNetwork, p_kw: float, skip: tuple[str, ...] = ()) -> None:
    """Put ``p_kw`` at cos phi 0.95 (inductive) on every named bus not in ``skip``."""
    q_kvar = p_kw * math.tan(math.acos(COS_PHI))
    for name, bus in grid.buses.items():
        if name not in skip:
            pp.create_load(grid.net, bus, p_mw=p_kw / 1e3, q_mvar=q_kvar / 1e3, name=name)


def run(grid: GridNetwork) -> None:
    pp.runpp(grid.net, numba=False, max_iteration=30)
    assert grid.net.converged


# --- registry ---------------------------------------------------------------------------


def test_unknown_builder_names_the_allowed_ones():
    with pytest.raises(ValueError, match=r"builder='nope'.*allowed: \[.*'lv_feeder_20bus'"):
        build_grid("nope")


def test_unknown_parameter_is_a_value_error():
    with pytest.raises(ValueError, match=r"foo=1 is not a parameter.*vm_pu"):
        build_grid("lv_feeder_20bus", foo=1)


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_builder_returns_fresh_net_with_resolvable_names(builder):
    a, b = build_grid(builder), build_grid(builder)
    assert a.net is not b.net
    assert set(a.buses.values()) <= set(a.net.bus.index)
    assert set(a.transformers.values()) <= set(a.net.trafo.index)
    assert set(a.lines.values()) <= set(a.net.line.index)
    assert a.feeder_end_bus is None or a.feeder_end_bus in a.buses
    assert a.source


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_builder_converges_with_zero_and_uniform_load(builder):
    grid = build_grid(builder)
    run(grid)
    assert np.allclose(grid.net.res_bus.vm_pu, grid.net.ext_grid.vm_pu.iloc[0], atol=2e-3)
    add_uniform_load(grid, 1.0)
    run(grid)
    assert grid.net.res_bus.vm_pu.min() > 0.9


# --- lv_feeder_20bus (seed 003) -----------------------------------------------------------


def test_lv_feeder_table_i_lands_exactly():
    grid = build_grid("lv_feeder_20bus")
    line = grid.net.line
    assert len(grid.lines) == len(line) == 20
    for f, t, length_km, r, x, imax_a in TABLE_I:
        row = line.loc[grid.lines[f"line_{f}_{t}"]]
        assert row.from_bus == grid.buses[f"bus_{f}"]
        assert row.to_bus == grid.buses[f"bus_{t}"]
        assert (row.length_km, row.r_ohm_per_km, row.x_ohm_per_km) == (length_km, r, x)
        assert row.max_i_ka == imax_a / 1000
        assert row.c_nf_per_km == 0


def test_lv_feeder_names_and_feeder_end():
    grid = build_grid("lv_feeder_20bus")
    assert sorted(grid.buses) == sorted(f"bus_{n}" for n in range(21))
    assert set(BATTERY_BUSES) <= set(grid.buses)
    assert (grid.net.bus.vn_kv[list(grid.buses.values())] == 0.4).all()
    tx = grid.net.trafo.loc[grid.transformers["tx"]]
    assert tx.lv_bus == grid.buses["bus_0"] and tx.sn_mva == 0.25
    # Hand check: sum of R along 0-1-3-4-5-6-7-14-...-20 is 0.787 ohm, the longest branch.
    assert grid.feeder_end_bus == "bus_20"


def test_lv_feeder_rejects_bad_parameters():
    with pytest.raises(ValueError, match="vm_pu=1.3"):
        build_grid("lv_feeder_20bus", vm_pu=1.3)
    with pytest.raises(ValueError, match="transformer_std_type='0.25 MVA 10/0.4 kV'"):
        build_grid("lv_feeder_20bus", transformer_std_type="0.25 MVA 10/0.4 kV")


def test_lv_feeder_plausible_evening_load_drops_below_0_9_at_the_end():
    # Seed 003 section IV: the last six nodes drop more than 10 % in the evening peak.
    grid = build_grid("lv_feeder_20bus")
    add_uniform_load(grid, 2.0, skip=("bus_0",))
    run(grid)
    vm = grid.net.res_bus.vm_pu
    end = vm[grid.buses[grid.feeder_end_bus]]
    assert end == pytest.approx(vm.min())
    assert end < 0.9
    assert vm[grid.buses["bus_1"]] > 0.98
    lowest_six = sorted(grid.buses, key=lambda name: vm[grid.buses[name]])[:6]
    assert sorted(lowest_six) == sorted(f"bus_{n}" for n in range(15, 21))


def test_lv_feeder_20kw_per_bus_has_no_power_flow_solution():
    """20 kW at each of the 20 LV buses (cos phi 0.95): report min voltage, tx loading.

    400 kW is far past the loadability limit of this 1.47 km feeder (the last converged
    uniform load is 4.76 kW/bus, see docs/grids.md), so no power flow solution exists.
    """
    grid = build_grid("lv_feeder_20bus")
    add_uniform_load(grid, 20.0, skip=("bus_0",))
    with pytest.raises(pp.LoadflowNotConverged):
        pp.runpp(grid.net, numba=False, max_iteration=50)
    print("\nlv_feeder_20bus, 20 kW/bus: no power flow solution (voltage collapse)")
    grid.net.load.p_mw /= 10
    grid.net.load.q_mvar /= 10
    run(grid)
    print(
        f"lv_feeder_20bus, 2 kW/bus: min vm_pu={grid.net.res_bus.vm_pu.min():.4f}, "
        f"tx loading={grid.net.res_trafo.loading_percent[grid.transformers['tx']]:.1f} %"
    )


# --- ucd_feeder4 (seed 004) -----------------------------------------------------------------


def test_ucd_feeder4_names_and_table_1_ratings():
    grid = build_grid("ucd_feeder4")
    assert set(grid.transformers) == {"vet_college_tx2", "richview_tx1", "civil_engineering_tx1"}
    assert set(grid.buses) == {"vet_college_lv", "richview_lv", "civil_engineering_lv"}
    trafo = grid.net.trafo
    for name, kva in [
        ("vet_college_tx2", 1600),
        ("richview_tx1", 200),
        ("civil_engineering_tx1", 1000),
    ]:
        row = trafo.loc[grid.transformers[name]]
        assert row.sn_mva * 1e3 == kva
        assert row.lv_bus == grid.buses[name.rsplit("_", 1)[0] + "_lv"]
    main = grid.net.line.loc[grid.lines["esb_sub_vet_college"]]
    assert grid.net.bus.name[main.from_bus] == "esb_sub"
    assert grid.net.ext_grid.bus.tolist() == [main.from_bus]
    assert grid.feeder_end_bus == "richview_lv"


def test_ucd_feeder4_rated_load_loads_each_transformer_to_about_100_percent():
    grid = build_grid("ucd_feeder4")
    for tx in TRANSFORMERS.values():
        pp.create_load(grid.net, grid.buses[f"{tx.site}_lv"], p_mw=tx.rating_kva / 1e3)
    run(grid)
    loading = grid.net.res_trafo.loading_percent
    # Loading is current-based, so at LV voltages of ~0.97 pu it sits a few % above 100.
    assert ((loading > 100) & (loading < 106)).all()
    assert grid.net.res_bus.vm_pu.min() > 0.95
    # 2.8 MW through 217 A at 10 kV is about 3/4 of the main cable's rating.
    assert 70 < grid.net.res_line.loading_percent[grid.lines["esb_sub_vet_college"]] < 85


def test_ucd_feeder4_rejects_a_non_mv_cable():
    with pytest.raises(ValueError, match="main_cable_std_type='NAYY 4x50 SE'"):
        build_grid("ucd_feeder4", main_cable_std_type="NAYY 4x50 SE")


# --- simbench_feeder ----------------------------------------------------------------------


def test_simbench_feeder_default_is_the_rural_lv_grid_without_its_own_loads():
    grid = build_grid("simbench_feeder")
    assert grid.name == "simbench_feeder:1-LV-rural1--0-sw"
    assert len(grid.buses) == 15 and "LV1.101 Bus 4" in grid.buses
    assert grid.net.bus.name[grid.buses["LV1.101 Bus 4"]] == "LV1.101 Bus 4"
    assert list(grid.transformers) == ["MV1.101-LV1.101-Trafo 1"]
    assert grid.net.trafo.sn_mva[grid.transformers["MV1.101-LV1.101-Trafo 1"]] == 0.16
    assert grid.net.load.empty and grid.net.sgen.empty and grid.net.storage.empty


def test_simbench_feeder_keep_loads_keeps_simbench_loads_and_pv():
    kept = build_grid("simbench_feeder", keep_loads=True)
    assert len(kept.net.load) == 13 and len(kept.net.sgen) == 4
    run(kept)
    assert 0.9 < kept.net.res_bus.vm_pu.min() <= kept.net.ext_grid.vm_pu.iloc[0]
    # The cached SimBench net is not touched by a builder's caller.
    kept.net.load.drop(kept.net.load.index, inplace=True)
    assert len(build_grid("simbench_feeder", keep_loads=True).net.load) == 13


def test_simbench_feeder_unknown_code():
    with pytest.raises(ValueError, match=r"code='1-LV-nowhere--0-sw' is not a SimBench code"):
        build_grid("simbench_feeder", code="1-LV-nowhere--0-sw")
