"""``flexcosim`` command line: list, describe, run and step scenarios.

User errors (a bad scenario field, an unknown scenario) end with one line on
stderr and exit status 2, never a traceback. Whatever is printed on stdout as JSON
is strict JSON (no ``Infinity``/``NaN``); solver banners and warnings go to stderr.
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
    run = sub.add_parser("run", parents=[scenario_args], help="run a scenario into a run folder")
    run.add_argument("--out", type=Path, help="run folder (default: runs/<name>-<timestamp>)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    step = sub.add_parser("step", parents=[scenario_args],
                          help="step a scenario interactively (advance, show, inject, save)")
    step.add_argument("--out", type=Path, help="run folder the stepped results go to")
    step.add_argument("--variant", help="step this variant of the scenario")
    args = parser.parse_args(argv)
    once = OncePerStrategy()
    strategies_log = logging.getLogger("flexcosim.strategies")
    strategies_log.addFilter(once)
    try:
        if args.command == "list":
            return _list()
        if args.command == "schema":
            return _schema()
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
    from flexcosim.cosim.run import default_run_dir, run_scenario

    if scenario.sweep is not None:
        from flexcosim.scenarios.sweep import run_sweep

        # a fixed default folder, so running the same command again resumes the sweep
        out = args.out or Path("runs") / scenario.name
        summary = run_sweep(scenario, out, base_dir, progress=not args.no_progress)
        print(f"sweep folder: {out}")
        print(to_json(summary))
        return 0
    out = args.out or default_run_dir(scenario)
    if scenario.variants:
        from flexcosim.cosim.compare import run_variants

        summary = run_variants(scenario, out, base_dir, progress=not args.no_progress)
    else:
        summary = run_scenario(scenario, out, base_dir, progress=not args.no_progress)
    print(f"run folder: {out}")
    print(to_json(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
