"""``flexcosim`` command line: list, run and step scenarios.

User errors (a bad scenario field, an unknown scenario) end with one line on
stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from flexcosim.scenarios.schema import ScenarioError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="flexcosim", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="show the shipped scenarios, one line each")
    run = sub.add_parser("run", help="run a scenario into a run folder")
    run.add_argument("scenario", help="shipped scenario name or path to a YAML file")
    run.add_argument("--out", type=Path, help="run folder (default: runs/<name>-<timestamp>)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    step = sub.add_parser("step", help="step a scenario interactively (advance, show, inject, save)")
    step.add_argument("scenario", help="shipped scenario name or path to a YAML file")
    step.add_argument("--out", type=Path, help="run folder the stepped results go to")
    _add_sweep_parser(sub)
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return _list()
        if args.command == "step":
            from flexcosim.cosim.stepper import step

            return step(args.scenario, args.out)
        if args.command == "sweep":
            return _sweep(args)
        return _run(args)
    except ScenarioError as exc:
        print(f"flexcosim: error: {exc}", file=sys.stderr)
        return 2


def _list() -> int:
    from flexcosim.scenarios.catalog import describe, shipped

    items = shipped()
    width = max(len(n) for n in items)
    for name, path in items.items():
        print(f"{name:<{width}}  {describe(path)}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from flexcosim.cosim.run import default_run_dir, run_scenario
    from flexcosim.scenarios.catalog import load_scenario

    scenario, base_dir = load_scenario(args.scenario)
    if scenario.sweep is not None:
        from flexcosim.scenarios.sweep import default_sweep_dir, run_sweep

        out = args.out or default_sweep_dir(scenario)
        summary = run_sweep(scenario, out, base_dir, progress=not args.no_progress)
        print(f"sweep folder: {out}")
        print(json.dumps(summary, indent=2, sort_keys=True))
        return 1 if summary["status"]["failed"] or summary["status"]["missing"] else 0
    out = args.out or default_run_dir(scenario)
    if scenario.variants:
        from flexcosim.cosim.compare import run_variants

        summary = run_variants(scenario, out, base_dir, progress=not args.no_progress)
    else:
        summary = run_scenario(scenario, out, base_dir, progress=not args.no_progress)
    print(f"run folder: {out}")
    print(json.dumps(summary, indent=2, sort_keys=True))
    return 0


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
    print(json.dumps(result, indent=2, sort_keys=True))
    status = result["status"]
    return 1 if status["failed"] or status.get("missing") else 0


if __name__ == "__main__":
    sys.exit(main())
