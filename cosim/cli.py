"""``flexcosim`` command line: list, run and step scenarios.

User errors (a bad scenario field, an unknown scenario, an unusable run folder) end
with one line on stderr and exit status 2, never a traceback. Ctrl-C during a run
keeps what was simulated, marks the folder ``interrupted`` and exits with 130.
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
    run = sub.add_parser(
        "run", help="run a scenario into a run folder",
        description="Run a scenario into a run folder. A scenario file may name a strategy as "
        "'file.py:Class' or 'module:Class': that code is imported and run, so run only "
        "scenario files you trust.")
    run.add_argument("scenario", help="shipped scenario name or path to a YAML file")
    run.add_argument("--out", type=Path, help="run folder (default: runs/<name>-<timestamp>); "
                     "must be new or empty unless --overwrite")
    run.add_argument("--overwrite", action="store_true",
                     help="reuse a non-empty --out: remove the files a run writes there (and "
                     "nothing else) first")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    check = sub.add_parser("check", help="check the invariants of a run folder (exit 1 if one breaks)")
    check.add_argument("folder", type=Path, help="run folder written by `flexcosim run`")
    step = sub.add_parser("step", help="step a scenario interactively (advance, show, inject, save)")
    step.add_argument("scenario", help="shipped scenario name or path to a YAML file")
    step.add_argument("--out", type=Path, help="run folder the stepped results go to")
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            return _list()
        if args.command == "check":
            from flexcosim.cosim.check import report

            status, text = report(args.folder)
            print(text)
            return status
        if args.command == "step":
            from flexcosim.cosim.stepper import step

            return step(args.scenario, args.out)
        return _run(args)
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


def _list() -> int:
    from flexcosim.scenarios.catalog import describe, shipped

    items = shipped()
    width = max(len(n) for n in items)
    for name, path in items.items():
        print(f"{name:<{width}}  {describe(path)}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from flexcosim.cosim.results import json_safe
    from flexcosim.cosim.run import check_strategies, default_run_dir, run_scenario
    from flexcosim.scenarios.catalog import load_scenario

    scenario, base_dir = load_scenario(args.scenario)
    check_strategies(scenario, base_dir)
    if scenario.sweep is not None:
        from flexcosim.scenarios.sweep import run_sweep

        # a fixed default folder, so running the same command again resumes the sweep
        out = args.out or Path("runs") / scenario.name
        summary = run_sweep(scenario, out, base_dir, progress=not args.no_progress)
        print(f"sweep folder: {out}")
        print(json.dumps(summary, indent=2, sort_keys=True))
        return 0
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
    print(json.dumps(json_safe(summary), indent=2, sort_keys=True))
    for flag in flags:
        print(f"flexcosim: warning: {flag}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
