"""The command line: user errors end in one line and a non-zero exit, never a traceback."""

import shutil
import subprocess
import sys

import pytest
import yaml

from flexcosim.scenarios.catalog import shipped


def flexcosim(*args: str, cwd=None) -> subprocess.CompletedProcess:
    exe = shutil.which("flexcosim")
    cmd = [exe] if exe else [sys.executable, "-m", "flexcosim.cosim.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_list_shows_every_shipped_scenario_on_one_line():
    result = flexcosim("list")
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == list(shipped())


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda d: d["fleet"][0]["vehicle"].update(capacity_kwh=-40), "capacity_kwh"),
        (lambda d: d.update(step_size=900), "step_size"),
    ],
)
def test_bad_scenario_exits_nonzero_with_one_line(tmp_path, edit, expected):
    data = yaml.safe_load(shipped()["lv-feeder-20bus"].read_text())
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    result = flexcosim("run", str(path), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert expected in result.stderr
    assert not (tmp_path / "run").exists()  # failed before anything ran


def test_unknown_scenario_name():
    result = flexcosim("run", "no-such-study")
    assert result.returncode == 2
    assert "shipped:" in result.stderr and "Traceback" not in result.stderr
