"""The shipped scenarios (``scenarios/*.yaml``) and loading a scenario by name or path."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from flexcosim.scenarios.schema import Scenario, ScenarioError, parse_scenario

SHIPPED = Path(__file__).resolve().parent


def shipped() -> dict[str, Path]:
    """Shipped scenario name -> file."""
    return {p.stem: p for p in sorted(SHIPPED.glob("*.yaml"))}


def load_scenario(name_or_path: str | Path, overrides: Sequence[str] = (),
                  seed: int | None = None) -> tuple[Scenario, Path]:
    """Load and validate a scenario; returns it with the folder its relative paths refer to.

    ``overrides`` (``path=value``) and ``seed`` change the file's data before it is
    validated (:func:`flexcosim.scenarios.overrides.apply_overrides`).

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
    if (overrides or seed is not None) and isinstance(data, dict):
        from flexcosim.scenarios.overrides import apply_overrides

        data = apply_overrides(data, overrides, seed)
    return parse_scenario(data), path.parent


def describe(path: Path, width: int | None = None) -> str:
    """First line of a shipped scenario's description, cut at a word to ``width`` characters."""
    data = yaml.safe_load(path.read_text()) or {}
    text = str(data.get("description") or "").strip()
    line = text.splitlines()[0] if text else ""
    if width is None or len(line) <= width:
        return line
    return line[: width - 3].rsplit(" ", 1)[0].rstrip(",;:") + "..."
