"""Run one scenario into one run folder.

Folder contents: ``scenario.yaml`` (the resolved scenario, every default filled in),
``manifest.json`` (package versions, seed, git revision, timing, and ``status``),
``timeseries/`` (tidy Parquet parts written during the run), ``summary.json``,
``fallbacks.json`` (every step where an agent's strategy failed and the fallback
decided, and every request that was not answered in time), ``messages.parquet`` (every
message between agents: sent/received time, sender, receiver, type, size, outcome), ``platform_decisions.csv`` (every request the DSO platform handled, if there
is one), ``events_injected.csv`` (events injected while stepping, if any), ``evs.csv``
(per EV: sessions, requested, delivered and missing energy, costs with a tariff;
:mod:`flexcosim.cosim.user_kpis`), PNG plots and ``report.html`` with the plots and the
KPI table (:mod:`flexcosim.cosim.plots`). KPIs leave out the scenario's ``warmup_s``.

What a run folder guarantees (``docs/reliability.md``):

* ``manifest.json`` is written first with ``"status": "running"`` and replaced
  atomically (write, then rename) as the very last file, with ``"complete"``,
  ``"interrupted"`` (Ctrl-C: what was simulated is flushed, ``simulated_until_s`` says
  how far), ``"partial"`` (a stepped session saved before the end) or ``"failed"``.
* A run never writes into a folder holding anything (:func:`claim_folder`) unless
  ``overwrite``, which removes only what a run writes (:data:`RUN_OUTPUTS`); a lock
  file refuses a second run into the same folder while the first is running.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import mosaik
import pandas as pd
import yaml

from flexcosim.agents.network import LogRow, Network
from flexcosim.agents.processes import AgentRuntime
from flexcosim.cosim.dayahead_report import dayahead_summary
from flexcosim.cosim.plots import RUN_PLOTS, RunView, plot_run, write_report
from flexcosim.cosim.results import TimeseriesWriter, read_timeseries, summarise, write_json
from flexcosim.cosim.user_kpis import ev_sessions, ev_table, user_kpis
from flexcosim.cosim.world import Assembly, assemble, build_world, metering_s, world_until_s
from flexcosim.scenarios.schema import Scenario, ScenarioError

PACKAGES = ("flexcosim", "mosaik", "mosaik-api-v3", "pandapower", "pyomo", "highspy", "numpy",
            "pandas", "pyarrow", "pydantic", "pvlib")


#: What a run writes into its folder; ``overwrite`` removes these and nothing else.
RUN_OUTPUTS = ("scenario.yaml", "manifest.json", "summary.json", "fallbacks.json",
               "platform_decisions.csv", "events_injected.csv", "evs.csv", "dayahead_feeders.csv",
               "agreements.jsonl", "sharing_periods.csv", "sharing_units.png",
               "messages.parquet", "timeseries", *RUN_PLOTS)

#: Lock file of a run in progress: ``{"pid": ..., "host": ...}``.
LOCK = ".flexcosim.lock"


class RunFolderError(ScenarioError):
    """The run folder cannot be used (not empty, in use, not creatable); one line."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C ended a run; its folder holds what was simulated (status ``interrupted``)."""

    def __init__(self, out: Path, until_s: int) -> None:
        super().__init__(f"interrupted at t={until_s} s")
        self.out, self.until_s = out, until_s


def default_run_dir(scenario: Scenario, root: Path = Path("runs")) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return root / f"{scenario.name}-{stamp}"


@contextlib.contextmanager
def claim_folder(out: Path, overwrite: bool = False,
                 outputs: Sequence[str] = RUN_OUTPUTS) -> Iterator[Path]:
    """Create (or reuse) the run folder ``out`` for one run and lock it while the run lasts.

    Parameters
    ----------
    out : the run folder
    overwrite : an existing folder holding files is refused unless True; then the
        entries named in ``outputs`` are removed and everything else is left alone
    outputs : names a run writes into ``out``

    Raises
    ------
    RunFolderError
        ``out`` is a file, cannot be created, holds files (without ``overwrite``) or is
        locked by a running process.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"--out {str(out)!r}: cannot create the run folder: "
                             f"{exc.strerror or exc}") from None
    lock = out / LOCK
    _take_lock(lock)
    try:
        held = sorted(p.name for p in out.iterdir() if p.name != LOCK)
        if held and not overwrite:
            raise RunFolderError(
                f"--out {str(out)!r} is not empty ({len(held)} entries, e.g. {held[0]!r}); "
                "choose a new folder or pass --overwrite to replace the run in it")
        for name in outputs:
            target = out / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()
        yield out
    finally:
        lock.unlink(missing_ok=True)


def _take_lock(lock: Path) -> None:
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                owner = json.loads(lock.read_text())
            except (OSError, ValueError):
                owner = {}
            if owner.get("host") == me["host"] and not _alive(owner.get("pid")):
                lock.unlink(missing_ok=True)  # left by a killed run
                continue
            raise RunFolderError(
                f"--out {str(lock.parent)!r} is in use by another run (pid {owner.get('pid')} "
                f"on {owner.get('host')}); wait for it or choose another folder") from None
        except OSError as exc:
            raise RunFolderError(f"--out {str(lock.parent)!r}: cannot write in the run folder: "
                                 f"{exc.strerror or exc}") from None
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_scenario(scenario: Scenario, out: Path, base_dir: Path = Path("."),
                 progress: bool = True, overwrite: bool = False) -> dict:
    """Simulate ``scenario`` and write the run folder ``out``; returns the summary.

    Raises
    ------
    RunFolderError
        ``out`` cannot be used (see :func:`claim_folder`).
    RunInterrupted
        on Ctrl-C, after writing what was simulated (manifest status ``interrupted``).
    """
    t0 = time.perf_counter()
    assembly = assemble(scenario, base_dir)  # a scenario error leaves no folder behind
    with claim_folder(out, overwrite) as out:
        write_scenario(out, scenario)
        write_manifest(out, scenario, 0.0, 0, "running")
        writer = TimeseriesWriter(out / "timeseries")
        world = build_world(assembly, writer).world
        try:
            world.run(until=world_until_s(scenario), print_progress=progress)
        except BaseException as exc:
            writer.rollback()  # the step being recorded is incomplete
            writer.flush()
            done = (writer.last_time_s + metering_s(scenario)) if writer.last_time_s is not None else 0
            wall_s = time.perf_counter() - t0
            if not isinstance(exc, KeyboardInterrupt):
                write_manifest(out, scenario, wall_s, done, "failed",
                               error=f"{type(exc).__name__}: {exc}")
                raise
            stop_world(world)
            write_results(out, assembly, wall_s, done, status="interrupted")
            raise RunInterrupted(out, done) from None
        writer.flush()
        return write_results(out, assembly, time.perf_counter() - t0, scenario.duration_s)


def check_strategies(scenario: Scenario, base_dir: Path = Path(".")) -> None:
    """Resolve every strategy the scenario names, its variants' and sweep's too, before any run.

    A variant or a sweep point would otherwise meet a bad strategy only when its turn
    comes, after the others have run.

    Raises
    ------
    ScenarioError
        naming the field: an unknown name, or a target that is not a strategy.
    """
    from flexcosim.agents.dso import GRID_COORDINATION
    from flexcosim.agents.its import ITS_STRATEGIES
    from flexcosim.agents.optim.pricing import PRICING
    from flexcosim.agents.platform import ALLOCATION, EMSP_STRATEGIES
    from flexcosim.agents.site import SITE_STRATEGIES

    by_role = {"site_aggregator": SITE_STRATEGIES, "dso_platform": ALLOCATION,
               "emsp": EMSP_STRATEGIES, "its": ITS_STRATEGIES, "dso_grid": GRID_COORDINATION}
    if scenario.sweep is not None:  # every point, variants included, as the sweep will run it
        from flexcosim.scenarios.sweep_points import sweep_points

        resolved = [(f"sweep point {p.name!r}: ", p.scenario) for p in sweep_points(scenario)]
    else:
        resolved = [("", scenario), *((f"variants.{v}.", scenario.variant(v)) for v in scenario.variants)]
    named = []
    for prefix, s in resolved:
        for i, a in enumerate(s.agents):
            if a.strategy and (a.role, a.strategy) != ("dso_platform", "random_share"):
                named.append((f"{prefix}agents.{i}.strategy", by_role[a.role], a.strategy))
        named += [(f"{prefix}sites.{i}.pricing", PRICING, g.pricing) for i, g in enumerate(s.sites)]
    checked = set()
    for field, registry, name in named:
        if (registry.kind, name) in checked:
            continue
        checked.add((registry.kind, name))
        try:
            registry.create(name, base_dir)
        except ValueError as exc:
            raise ScenarioError(f"scenario field {field!r}: {exc}") from None


def stop_world(world: mosaik.World) -> None:
    """Shut down a world whose run ended early; its simulator tasks are still pending."""
    tasks = asyncio.all_tasks(world.loop)
    for task in tasks:
        task.cancel()
    world.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    world.shutdown()


def write_scenario(out: Path, scenario: Scenario) -> None:
    """Create the run folder ``out`` with the resolved ``scenario.yaml``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "scenario.yaml").write_text(
        yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False))


def write_results(out: Path, assembly: Assembly, wall_s: float, until_s: int,
                  status: str | None = None, events: Sequence[dict] = ()) -> dict:
    """Fallbacks, summary, plots of the time series in ``out/timeseries``, then the manifest.

    ``until_s`` [s since start] is how far the run got (a stepped session may save
    before the end); ``status`` defaults to ``complete`` if that is the end, else
    ``partial``. ``events`` are the events injected while stepping (``time_s``,
    ``kind``, ``arguments``), written to ``events_injected.csv`` and the manifest.
    Returns the summary.
    """
    scenario = assembly.scenario
    if status is None:
        status = "complete" if until_s >= scenario.duration_s else "partial"
    runtime = assembly.runtime
    write_messages(out / "messages.parquet", runtime.network)
    guarded = [agent.fallbacks for agent in assembly.agents.values()]
    if assembly.platform is not None:
        its, emsp = runtime.roles["its"], runtime.roles["emsp"]
        guarded += [its.strategy.fallbacks, emsp.strategy.fallbacks, emsp.fallbacks]
    if assembly.dso is not None:
        guarded.append(assembly.dso.fallbacks)
    if assembly.dayahead is not None:
        guarded.append(assembly.dayahead.fallbacks)
    fallbacks = [dataclasses.asdict(f) for record in guarded for f in record]
    write_json(out / "fallbacks.json", {"fallbacks": fallbacks})

    if events:
        pd.DataFrame([{**e, "arguments": json.dumps(e["arguments"], default=str)} for e in events],
                     columns=["time_s", "kind", "arguments"]).to_csv(
            out / "events_injected.csv", index=False)

    ts = read_timeseries(out / "timeseries")
    transformers = list(assembly.grid.transformers)
    kpi_ts = ts[ts.time_s >= scenario.warmup_s]  # the warm-up is simulated, not counted
    summary = summarise(kpi_ts, metering_s(scenario), transformers, list(assembly.sites),
                        until_s=until_s, from_s=scenario.warmup_s)
    sessions = ev_sessions(kpi_ts, assembly)
    evs = ev_table(kpi_ts, assembly, sessions)
    evs.to_csv(out / "evs.csv")
    summary.update(user_kpis(kpi_ts, assembly, sessions, evs), warmup_s=scenario.warmup_s)
    summary["agent_fallbacks"] = len(fallbacks)
    summary["status"] = status
    if assembly.platform is not None:
        decisions = pd.DataFrame([dataclasses.asdict(d) for d in assembly.platform.decisions])
        decisions.to_csv(out / "platform_decisions.csv", index=False)
        summary["platform"] = {
            "requests": len(decisions),
            "per_site": {str(k): int(v) for k, v in decisions.site.value_counts().sort_index().items()},
            "fallbacks": int((~decisions.strategy.isin(["ChargingSiteSelection", "RandomShare"])).sum()),
        } if len(decisions) else {"requests": 0}
    if assembly.dayahead is not None:
        summary["dayahead"] = dayahead_summary(ts, assembly.dayahead, assembly.grid, out)
    write_json(out / "summary.json", summary)
    view = run_view(assembly)
    write_report(out, view, summary, plot_run(ts, evs, view, out))
    flow = vars(assembly).get("power_flow")  # the grid's PowerFlowGrid, if a world ran it
    write_manifest(out, scenario, wall_s, until_s, status, events_injected=list(events),
                   flags=summary["flags"], power_flows=dict(flow.flows) if flow else {},
                   **agent_counts(runtime))
    return summary


def write_manifest(out: Path, scenario: Scenario, wall_s: float, until_s: int, status: str,
                   **extra: object) -> None:
    """Write ``manifest.json`` atomically (a reader sees the old or the new one, never half)."""
    tmp = out / "manifest.json.tmp"
    write_json(tmp, {**manifest(scenario, wall_s), "simulated_until_s": until_s,
                     "status": status, **extra})
    os.replace(tmp, out / "manifest.json")


def run_view(assembly: Assembly) -> RunView:
    """What the plots show of ``assembly`` besides the time series."""
    s = assembly.scenario
    n = s.duration_s // s.step_s
    sites = {}
    for name, (_, model) in assembly.sites.items():
        sites[name] = (len(model.chargers), max((c.rated_kw for c in model.chargers), default=0.0))
    return RunView(s.name, pd.Timestamp(s.start), list(assembly.grid.transformers), sites,
                   {site: book.capacity_kw(0, n) for site, book in assembly.books.items()})
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
