"""Installed, flexcosim is one namespace: nothing else at top level, and a user's own
``agents/`` folder beside a scenario cannot shadow it (issue 16)."""

import configparser
import subprocess
import sys
import venv
from pathlib import Path

import yaml

from flexcosim.scenarios.catalog import shipped

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("agents", "cosim", "grids", "scenarios")


def test_every_package_folder_is_listed_in_setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    found = {"flexcosim." + ".".join(p.parent.relative_to(ROOT).parts)
             for folder in FOLDERS for p in (ROOT / folder).rglob("__init__.py")}
    assert found == listed


def test_wheel_in_fresh_venv_beside_a_user_agents_folder(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(ROOT)], check=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("flexcosim-*.whl"))
    # the venv borrows the dependencies of this interpreter, but flexcosim itself comes from the wheel
    venv.create(tmp_path / "venv", system_site_packages=True, with_pip=False)
    python = tmp_path / "venv" / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True, timeout=300)
    user = tmp_path / "study"
    (user / "agents").mkdir(parents=True)
    (user / "agents" / "__init__.py").write_text("raise ImportError('the user agents package')\n")
    data = yaml.safe_load(shipped()["lv-feeder-20bus"].read_text())
    data["duration_s"] = 4 * 3600
    (user / "short.yaml").write_text(yaml.safe_dump(data))

    where = subprocess.run([str(python), "-c", "import flexcosim.cosim as c; print(c.__file__)"],
                           cwd=user, capture_output=True, text=True, check=True)
    assert str(tmp_path / "venv") in where.stdout
    result = subprocess.run([str(python), "-m", "flexcosim.cosim.cli", "run", "short.yaml",
                             "--out", "run", "--no-progress"],
                            cwd=user, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (user / "run" / "summary.json").exists()
    top = {p.name.split("-")[0] for p in (tmp_path / "venv").glob("lib/python*/site-packages/*")
           if not p.name.startswith("_")}
    assert top == {"flexcosim"}
