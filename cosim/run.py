"""Run one scenario into one run folder.

Folder contents: ``scenario.yaml`` (the resolved scenario, every default filled in),
``manifest.json`` (package versions, seed, git revision, timing), ``timeseries/``
(tidy Parquet parts written during the run), ``summary.json``, ``fallbacks.json``
(every step where an agent's strategy failed and the fallback decided, and every
request that was not answered in time), ``messages.parquet`` (every message between
agents: sent/received time, sender, receiver, type, size, outcome),
``platform_decisions.csv`` (every request the DSO platform handled, if there is one) and
PNG plots.
"""

from __future__ import annotations

import dataclasses
import platform
import subprocess
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from flexcosim.agents.network import LogRow, Network
from flexcosim.agents.processes import AgentRuntime
from flexcosim.cosim.results import (
    TimeseriesWriter,
    plot_run,
    read_timeseries,
    summarise,
    write_json,
)
from flexcosim.cosim.world import Assembly, assemble, build_world, metering_s, world_until_s
from flexcosim.scenarios.schema import Scenario

PACKAGES = ("flexcosim", "mosaik", "mosaik-api-v3", "pandapower", "pyomo", "highspy", "numpy",
            "pandas", "pyarrow", "pydantic", "pvlib")


def default_run_dir(scenario: Scenario, root: Path = Path("runs")) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return root / f"{scenario.name}-{stamp}"


def run_scenario(scenario: Scenario, out: Path, base_dir: Path = Path("."),
                 progress: bool = True) -> dict:
    """Simulate ``scenario`` and write the run folder ``out``; returns the summary."""
    out = Path(out)
    write_scenario(out, scenario)
    t0 = time.perf_counter()
    assembly = assemble(scenario, base_dir)
    writer = TimeseriesWriter(out / "timeseries")
    world = build_world(assembly, writer)
    world.run(until=world_until_s(scenario), print_progress=progress)
    writer.flush()
    return write_results(out, assembly, time.perf_counter() - t0, scenario.duration_s)


def write_scenario(out: Path, scenario: Scenario) -> None:
    """Create the run folder ``out`` with the resolved ``scenario.yaml``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "scenario.yaml").write_text(
        yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False))


def write_results(out: Path, assembly: Assembly, wall_s: float, until_s: int) -> dict:
    """Manifest, fallbacks, summary and plots of the time series in ``out/timeseries``.

    ``until_s`` [s since start] is how far the run got (a stepped session may save
    before the end). Returns the summary.
    """
    scenario = assembly.scenario
    runtime = assembly.runtime
    write_json(out / "manifest.json", {**manifest(scenario, wall_s), "simulated_until_s": until_s,
                                       **agent_counts(runtime)})
    write_messages(out / "messages.parquet", runtime.network)
    guarded = [agent.fallbacks for agent in assembly.agents.values()]
    if assembly.platform is not None:
        its, emsp = runtime.roles["its"], runtime.roles["emsp"]
        guarded += [its.strategy.fallbacks, emsp.strategy.fallbacks, emsp.fallbacks]
    if assembly.dso is not None:
        guarded.append(assembly.dso.fallbacks)
    fallbacks = [dataclasses.asdict(f) for record in guarded for f in record]
    write_json(out / "fallbacks.json", {"fallbacks": fallbacks})

    ts = read_timeseries(out / "timeseries")
    transformers = list(assembly.grid.transformers)
    summary = summarise(ts, metering_s(scenario), transformers, list(assembly.sites))
    summary["agent_fallbacks"] = len(fallbacks)
    if assembly.platform is not None:
        decisions = pd.DataFrame([dataclasses.asdict(d) for d in assembly.platform.decisions])
        decisions.to_csv(out / "platform_decisions.csv", index=False)
        summary["platform"] = {
            "requests": len(decisions),
            "per_site": {str(k): int(v) for k, v in decisions.site.value_counts().sort_index().items()},
            "fallbacks": int((~decisions.strategy.isin(["ChargingSiteSelection", "RandomShare"])).sum()),
        } if len(decisions) else {"requests": 0}
    write_json(out / "summary.json", summary)
    plot_run(ts, out, transformers, pd.Timestamp(scenario.start))
    return summary


def agent_counts(runtime: AgentRuntime) -> dict:
    """Agent steps (envelopes and readings handled) per agent, and messages by type and outcome."""
    net = runtime.network
    return {"agent_steps": runtime.activations(),
            "messages": {"total": len(net.log), "by_type": net.counts(lambda r: r.type),
                         "by_outcome": net.counts(lambda r: r.outcome)}}


def write_messages(path: Path, network: Network) -> None:
    """The message log as Parquet: one row per message (``flexcosim.agents.network.LogRow``)."""
    columns = [f.name for f in dataclasses.fields(LogRow)]
    rows = [dataclasses.astuple(r) for r in network.log]
    pd.DataFrame(rows, columns=columns).to_parquet(path, index=False)


def manifest(scenario: Scenario, wall_s: float) -> dict:
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "git_revision": _git_revision(),
        "python": platform.python_version(),
        "packages": versions,
        "finished_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "wall_time_s": round(wall_s, 3),
    }


def _git_revision() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
