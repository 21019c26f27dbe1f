"""The run folder's plots and report.html, rendered the way a user sees them: in a browser."""

import shutil
import subprocess

import matplotlib.image
import numpy as np
import pytest

from flexcosim.cosim.plots import time_label
from flexcosim.cosim.run import run_scenario
from flexcosim.scenarios.catalog import load_scenario

CHROMIUM = shutil.which("chromium")
PLOTS = ["transformer_loading", "voltage_band", "site_power", "site_evs", "soc", "ev_energy"]
#: matplotlib's first colour (#1f77b4), the data line or points of every plot
C0 = np.array([0x1F, 0x77, 0xB4]) / 255


def test_time_label_names_the_utc_offset():
    import pandas as pd

    assert time_label(pd.Timestamp("2019-04-01T00:00:00+01:00")) == "time (UTC+01:00)"
    assert time_label(pd.Timestamp("2019-04-01T00:00:00-05:30")) == "time (UTC-05:30)"


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """Six hours of the LV feeder from 15:00 with EVs that charge when they come home."""
    out = tmp_path_factory.mktemp("report") / "run"
    scenario, base = load_scenario("lv-feeder-20bus", [
        "start=2019-01-16T15:00:00+01:00", "duration_s=21600", "fleet.0.soc0_at_home=drawn",
        "fleet.0.soc0_min=0.3", "fleet.0.soc0_max=0.6"])
    run_scenario(scenario, out, base, progress=False)
    return out


def screenshot(page, png, tmp_path):
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", "--window-size=1100,9000",
         f"--screenshot={png}", page.as_uri()],
        check=True, capture_output=True, timeout=120)
    return matplotlib.image.imread(png)[..., :3]


def c0_pixels(image) -> int:
    return int((np.abs(image - C0) < 0.03).all(axis=-1).sum())


@pytest.mark.mosaik
def test_the_run_folder_has_every_plot_and_a_report(run_folder):
    for name in PLOTS:
        assert (run_folder / f"{name}.png").stat().st_size > 10_000
    page = (run_folder / "report.html").read_text()
    assert all(f'src="{name}.png"' in page for name in PLOTS)
    assert "<th>share_of_requested_energy_delivered</th>" in page
    assert "lv-feeder-20bus" in page


@pytest.mark.mosaik
@pytest.mark.skipif(CHROMIUM is None, reason="needs the Debian package chromium "
                    "(.ci/run installs it: apt-get install -y chromium)")
def test_report_renders_in_headless_chromium_with_the_plots(run_folder, tmp_path):
    shown = c0_pixels(screenshot(run_folder / "report.html", tmp_path / "shot.png", tmp_path))
    # the same page without its images: what the screenshot shows when the plots fail to load
    broken = run_folder / "broken.html"
    broken.write_text((run_folder / "report.html").read_text().replace('.png"', '.missing.png"'))
    without = c0_pixels(screenshot(broken, tmp_path / "broken.png", tmp_path))
    assert without < 50
    assert shown > 2_000  # the blue lines and points of six plots (~4000 measured)
