"""docs/own-mosaik-scenario.md: flexcosim's simulators in a plain mosaik World with
mosaik-csv (a building) and mosaik-hdf5 (storage, in a venv of its own) give the flexcosim
run's transformer energy."""

import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from flexcosim.cosim.adapters.fleet import FleetSim
from flexcosim.cosim.adapters.storage import StorageSim

DOC = Path(__file__).resolve().parents[1] / "docs" / "own-mosaik-scenario.md"
pytest.importorskip("mosaik_csv")
pytest.importorskip("h5py")
pytestmark = pytest.mark.mosaik


@pytest.fixture(scope="session")
def hdf5_env(tmp_path_factory) -> Path:
    """The page's ``hdf5-env`` (mosaik-hdf5 0.4 on simpy 3), built once per session from
    PyPI with the command the page gives; its ``mosaik-hdf5`` starter."""
    (install,) = re.findall(r"^hdf5-env/bin/pip install (.*)$", DOC.read_text(), flags=re.M)
    env = tmp_path_factory.mktemp("hdf5") / "hdf5-env"
    venv.create(env, with_pip=False)  # this interpreter's pip installs into it (faster)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(env / "bin" / "python"),
                    "install", "-q", *(a.strip('"') for a in install.split())], check=True)
    return env / "bin" / "mosaik-hdf5"


def test_the_pages_script_gives_the_flexcosim_runs_energy(tmp_path, monkeypatch, hdf5_env):
    (script,) = re.findall(r"^```python\n(.*?)^```$", DOC.read_text(), flags=re.M | re.S)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MOSAIK_HDF5", str(hdf5_env))
    namespace: dict = {}
    exec(compile(script, str(DOC), "exec"), namespace)  # noqa: S102 - running the doc is the test
    plain, flexcosim = namespace["plain_kwh"], namespace["flexcosim_kwh"]
    # the two worlds solve the same flows; Newton-Raphson stops within 1e-8 MVA of the
    # solution, so their energies agree to about 1e-6, not to the last digit
    assert plain == pytest.approx(flexcosim, rel=1e-6)
    assert plain > 100  # office and EVs, not an empty feeder
    assert f"plain mosaik World {plain:.3f} kWh, flexcosim run {flexcosim:.3f} kWh" in DOC.read_text()
    series = namespace["series"]
    socs = [v for k, v in series.items() if k.endswith("/soc")]
    assert len(socs) == 10 and all(len(s) == 97 and s[-1] > 0.5 for s in socs)
    assert series["Chargers-0.work/n_connected"].max() >= 1


@pytest.mark.parametrize("kwargs, message", [
    ({"time_resolution": 60, "scenario": "workplace-sessions"}, "time_resolution 60"),
    ({"scenario": "workplace-sessions", "fleets": {}}, "either scenario= or"),
    ({}, "step_s"),
])
def test_bad_start_parameters_are_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message):
        FleetSim().init("Fleet-0", **kwargs)


def test_num_and_unbuildable_simulators_are_refused_in_one_line():
    sim = FleetSim()
    sim.init("Fleet-0", scenario="workplace-sessions")
    with pytest.raises(ValueError, match="create Fleet: num=2; Fleet entities are created one per call"):
        sim.create(2, "Fleet", name="staff")
    sim.create(1, "Fleet", name="staff")
    with pytest.raises(ValueError, match="num = its EVs \\(10\\); got 'staff', num=3"):
        sim.create(3, "EV", fleet="staff")
    assert [e["eid"] for e in sim.create(10, "EV", fleet="staff")][:2] == ["staff_0000", "staff_0001"]
    with pytest.raises(ValueError, match="StorageSim: the scenario has no Storage models"):
        StorageSim().init("Storage-0", scenario="workplace-sessions")


def test_a_scenario_given_as_a_dict_builds_the_same_chargers_as_its_file():
    from flexcosim.cosim.adapters.chargers import ChargerSim
    from flexcosim.scenarios.catalog import load_scenario

    scenario, base = load_scenario("workplace-sessions")
    from_dict, from_name = ChargerSim(), ChargerSim()
    from_dict.init("Chargers-0", scenario=scenario.model_dump(mode="json"), base_dir=str(base))
    from_name.init("Chargers-1", scenario="workplace-sessions")
    assert from_dict.step_s == from_name.step_s == 900
    assert [len(s.chargers) for s in from_dict.sites.values()] == [4]
    assert list(from_dict.sites) == list(from_name.sites) == ["work"]
