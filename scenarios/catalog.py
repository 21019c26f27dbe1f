"""The shipped scenarios (``scenarios/*.yaml``) and loading a scenario by name or path."""

from __future__ import annotations

from pathlib import Path

import yaml

from flexcosim.scenarios.schema import Scenario, ScenarioError, parse_scenario

SHIPPED = Path(__file__).resolve().parent


def shipped() -> dict[str, Path]:
    """Shipped scenario name -> file."""
    return {p.stem: p for p in sorted(SHIPPED.glob("*.yaml"))}


def load_scenario(name_or_path: str | Path) -> tuple[Scenario, Path]:
    """Load and validate a scenario; returns it with the folder its relative paths refer to.

    Raises
    ------
    ScenarioError
        unknown name, unreadable file, bad YAML or an invalid field (one line each).
    """
    path = Path(name_or_path)
    if not path.suffix:
        known = shipped()
        if str(name_or_path) not in known:
            raise ScenarioError(
                f"scenario {str(name_or_path)!r} is neither a file nor a shipped scenario; "
                f"shipped: {', '.join(known)}"
            )
        path = known[str(name_or_path)]
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ScenarioError(f"scenario file {str(path)!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ScenarioError(f"scenario file {str(path)!r}{where}: not valid YAML") from None
    return parse_scenario(data), path.parent


def describe(path: Path) -> str:
    """First line of a shipped scenario's description."""
    data = yaml.safe_load(path.read_text()) or {}
    return str(data.get("description", "")).strip().splitlines()[0] if data.get("description") else ""
