"""``flexcosim`` command line: list, describe, run and step scenarios.

User errors (a bad scenario field, an unknown scenario, an unusable run folder) end
with one line on stderr and exit status 2, never a traceback. Ctrl-C during a run
keeps what was simulated, marks the folder ``interrupted`` and exits with 130.
Whatever is printed on stdout as JSON is strict JSON (no ``Infinity``/``NaN``); solver
banners and warnings go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from importlib import metadata
from pathlib import Path

from flexcosim.scenarios.schema import ScenarioError

#: Width of one ``flexcosim list`` line [characters].
LIST_WIDTH = 100


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flexcosim", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"flexcosim {metadata.version('flexcosim')}")
    scenario_args = argparse.ArgumentParser(add_help=False)
    scenario_args.add_argument("scenario", help="shipped scenario name or path to a YAML file")
    scenario_args.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
        help="override a scenario field before validation, e.g. --set sites.0.chargers=4 "
        "(dotted path, list items by index, value read as YAML; repeatable)")
    scenario_args.add_argument("--seed", type=int, help="override the scenario's seed")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="show the shipped scenarios, one line each")
    sub.add_parser("schema", help="print the JSON Schema of a scenario file (for editors)")
    sub.add_parser("describe", parents=[scenario_args],
                   help="show a scenario's grid, buses, sites, agents and what will run")
    run = sub.add_parser(
        "run", parents=[scenario_args], help="run a scenario into a run folder",
        description="Run a scenario into a run folder. A scenario file may name a strategy as "
        "'file.py:Class' or 'module:Class': that code is imported and run, so run only "
        "scenario files you trust.")
    run.add_argument("--out", type=Path, help="run folder (default: runs/<name>-<timestamp>); "
                     "must be new or empty unless --overwrite")
    run.add_argument("--overwrite", action="store_true",
                     help="reuse a non-empty --out: remove the files a run writes there (and "
                     "nothing else) first")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    check = sub.add_parser("check", help="check the invariants of a run folder (exit 1 if one breaks)")
    check.add_argument("folder", type=Path, help="run folder written by `flexcosim run`")
    step = sub.add_parser("step", parents=[scenario_args],
                          help="step a scenario interactively (advance, show, inject, save)")
    step.add_argument("--out", type=Path, help="run folder the stepped results go to")
    step.add_argument("--variant", help="step this variant of the scenario")
    verify = sub.add_parser("verify", help="check the hash chain of a run's agreements.jsonl")
    verify.add_argument("run_folder", type=Path, help="run folder (searched recursively)")
    _add_sweep_parser(sub)
    args = parser.parse_args(argv)
    once = OncePerStrategy()
    strategies_log = logging.getLogger("flexcosim.strategies")
    strategies_log.addFilter(once)
    try:
        if args.command == "list":
            return _list()
        if args.command == "schema":
            return _schema()
        if args.command == "check":
            from flexcosim.cosim.check import report

            status, text = report(args.folder)
            print(text)
            return status
        if args.command == "verify":
            return _verify(args.run_folder)
        if args.command == "sweep":
            return _sweep(args)
        from flexcosim.scenarios.catalog import load_scenario

        scenario, base_dir = load_scenario(args.scenario, args.overrides, args.seed)
        if args.command == "describe":
            from flexcosim.cosim.describe import describe_scenario

            print(describe_scenario(scenario))
            return 0
        if args.command == "step":
            scenario = _one_scenario(scenario, args.variant)
            from flexcosim.cosim.stepper import step

            return step(scenario, base_dir, args.out)
        return _run(args, scenario, base_dir)
    except ScenarioError as exc:
        print(f"flexcosim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        from flexcosim.cosim.run import RunInterrupted

        if isinstance(exc, RunInterrupted):
            print(f"flexcosim: interrupted at t={exc.until_s} s; what was simulated is in "
                  f"{exc.out} (manifest status 'interrupted')", file=sys.stderr)
        else:
            print("flexcosim: interrupted", file=sys.stderr)
        return 130
    finally:
        strategies_log.removeFilter(once)


class OncePerStrategy(logging.Filter):
    """Lets the first failure report of each strategy through (the rest are counted in
    ``fallbacks.json``), so ten sites with one broken strategy print one line."""

    def __init__(self) -> None:
        super().__init__()
        self.reported: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        strategy = getattr(record, "strategy", None)
        if strategy is None:
            return True
        if strategy in self.reported:
            return False
        self.reported.add(strategy)
        return True


def _list() -> int:
    from flexcosim.scenarios.catalog import describe, shipped

    items = shipped()
    width = max(len(n) for n in items)
    for name, path in items.items():
        print(f"{name:<{width}}  {describe(path, LIST_WIDTH - width - 2)}")
    return 0


def _one_scenario(scenario, variant: str | None):
    """The scenario ``step`` runs: the ``variant`` if given; a sweep is refused.

    Raises
    ------
    ScenarioError
        an unknown variant, or a sweep (a sweep is many runs; step one of its scenarios).
    """
    if variant is not None:
        if variant not in scenario.variants:
            raise ScenarioError(f"--variant {variant!r} is not a variant of {scenario.name!r}; "
                                f"allowed: {', '.join(scenario.variants) or 'none (it has no variants)'}")
        return scenario.variant(variant)
    if scenario.sweep is not None:
        raise ScenarioError(f"scenario {scenario.name!r} is a sweep, which runs many scenarios; "
                            "step one day of it with --set sweep=null (and --set start=...)")
    if scenario.variants:
        print(f"flexcosim: stepping the base scenario; variants ({', '.join(scenario.variants)}) "
              "are chosen with --variant", file=sys.stderr)
    return scenario


def _schema() -> int:
    from flexcosim.scenarios.schema import Scenario

    print(json.dumps(Scenario.model_json_schema(), indent=2))
    return 0


def _run(args: argparse.Namespace, scenario, base_dir: Path) -> int:
    from flexcosim.cosim.results import to_json
    from flexcosim.cosim.run import check_strategies, default_run_dir, run_scenario

    check_strategies(scenario, base_dir)
    if scenario.sweep is not None:
        from flexcosim.scenarios.sweep import default_sweep_dir, run_sweep

        out = args.out or default_sweep_dir(scenario)
        summary = run_sweep(scenario, out, base_dir, progress=not args.no_progress)
        print(f"sweep folder: {out}")
        print(to_json(summary))
        return 1 if summary["status"]["failed"] or summary["status"]["missing"] else 0
    out = args.out or default_run_dir(scenario)
    if scenario.variants:
        from flexcosim.cosim.compare import run_variants

        summary = run_variants(scenario, out, base_dir, progress=not args.no_progress,
                               overwrite=args.overwrite)
        flags = [f"{name}: {flag}" for name, s in summary.items() for flag in s["flags"]]
    else:
        summary = run_scenario(scenario, out, base_dir, progress=not args.no_progress,
                               overwrite=args.overwrite)
        flags = summary["flags"]
    print(f"run folder: {out}")
    print(to_json(summary))
    for flag in flags:
        print(f"flexcosim: warning: {flag}", file=sys.stderr)
    return 0


def _verify(folder: Path) -> int:
    """Exit 0 if every agreement record under ``folder`` is intact, 1 if one is tampered."""
    from flexcosim.agents.sharing.record import RECORD_NAME, verify_record

    records = sorted(folder.rglob(RECORD_NAME)) if folder.is_dir() else []
    if not records:
        raise ScenarioError(f"run folder {str(folder)!r}: no {RECORD_NAME} in it or below it")
    status = 0
    for path in records:
        check = verify_record(path)
        if check.ok:
            print(f"ok        {path} ({check.entries} entries)")
        else:
            print(f"tampered  {path}: {check.reason}")
            status = 1
    return status


def _add_sweep_parser(sub: argparse._SubParsersAction) -> None:
    sweep = sub.add_parser("sweep", help="list, run (all or one point) and report a scenario's sweep")
    action = sweep.add_subparsers(dest="sweep_command", required=True)
    listing = action.add_parser("list", help="print the points: index, name, weight, scenario hash")
    listing.add_argument("scenario", help="shipped scenario name or path to a YAML file")
    run = action.add_parser("run", help="run the points (resuming) and write the report")
    run.add_argument("scenario", help="shipped scenario name or path to a YAML file")
    run.add_argument("--out", type=Path, help="sweep folder (default: runs/<name>)")
    run.add_argument("--point", type=int, metavar="K",
                     help="run only point K (0-based, as `sweep list`; e.g. a job array index); no report")
    run.add_argument("--workers", type=int, help="points at a time (default: every core; 1: in this process)")
    run.add_argument("--executor", choices=("local", "dask"), default="local",
                     help="local process pool (default) or a Dask distributed cluster")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="Dask scheduler, e.g. tcp://host:8786 (default: a LocalCluster)")
    run.add_argument("--retry-failed", action="store_true", help="rerun only the points recorded as failed")
    run.add_argument("--timeout", type=float, metavar="SECONDS",
                     help="kill and fail a point running longer than this (local pool)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    report = action.add_parser("report", help="rebuild the report from the finished points of a sweep folder")
    report.add_argument("out", type=Path, help="sweep folder")


def _sweep(args: argparse.Namespace) -> int:
    """``flexcosim sweep list|run|report``; exit 1 when points failed or are missing."""
    from flexcosim.cosim.results import to_json
    from flexcosim.scenarios.catalog import load_scenario
    from flexcosim.scenarios.sweep import default_sweep_dir, load_sweep, run_sweep, write_report
    from flexcosim.scenarios.sweep_points import sweep_points

    if args.sweep_command == "report":
        result = write_report(load_sweep(args.out), args.out)
    else:
        scenario, base_dir = load_scenario(args.scenario)
        points = sweep_points(scenario)
        if args.sweep_command == "list":
            for p in points:
                print(f"{p.index:>4}  {p.name}  weight {p.weight:g}  {p.hash[:12]}")
            return 0
        if args.point is not None and not 0 <= args.point < len(points):
            raise ScenarioError(f"--point {args.point} is not a point; allowed: 0-{len(points) - 1}")
        if args.workers is not None and args.workers < 1:
            raise ScenarioError(f"--workers {args.workers} is not allowed; need >= 1")
        if args.timeout is not None and not args.timeout > 0:
            raise ScenarioError(f"--timeout {args.timeout} is not allowed; need > 0 seconds")
        if args.scheduler and args.executor != "dask":
            raise ScenarioError("--scheduler needs --executor dask")
        out = args.out or default_sweep_dir(scenario)
        try:
            result = run_sweep(
                scenario, out, base_dir, workers=args.workers, executor=args.executor,
                scheduler=args.scheduler, retry_failed=args.retry_failed, timeout_s=args.timeout,
                only=None if args.point is None else [args.point], report=args.point is None,
                progress=not args.no_progress)
        except OSError as exc:
            raise ScenarioError(f"--out {str(out)!r}: {exc.strerror or exc}") from None
        print(f"sweep folder: {out}")
    print(to_json(result))
    status = result["status"]
    return 1 if status["failed"] or status.get("missing") else 0


if __name__ == "__main__":
    sys.exit(main())
