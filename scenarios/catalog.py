"""The shipped scenarios (``scenarios/*.yaml``) and loading a scenario by name or path.

A scenario file is read with ``yaml.safe_load`` (no Python objects) after checks that keep
a hostile or broken file from exhausting memory or recursion: at most
:data:`MAX_FILE_BYTES`, UTF-8, nested at most :data:`MAX_DEPTH` levels and at most
:data:`MAX_NODES` values once aliases are expanded (a "billion laughs" file is refused
before it is built).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml

from flexcosim.scenarios.schema import Scenario, ScenarioError, parse_scenario

SHIPPED = Path(__file__).resolve().parent

MAX_FILE_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_NODES = 100_000


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
    where = f"scenario file {str(path)!r}"
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ScenarioError(f"{where}: {path.stat().st_size} bytes; allowed: at most "
                                f"{MAX_FILE_BYTES}")
        text = path.read_bytes().decode("utf-8")
        _check_size(yaml.compose(text, Loader=yaml.SafeLoader), where)
        data = yaml.safe_load(text)
    except OSError as exc:
        raise ScenarioError(f"{where}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"{where}: byte {exc.start} is not UTF-8; save the file as UTF-8") from None
    except RecursionError:
        raise ScenarioError(f"{where}: nested too deeply; allowed: {MAX_DEPTH} levels") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ScenarioError(f"{where}{line}: not valid YAML") from None
    if (overrides or seed is not None) and isinstance(data, dict):
        from flexcosim.scenarios.overrides import apply_overrides

        data = apply_overrides(data, overrides, seed)
    return parse_scenario(data), path.parent


def _check_size(root: yaml.Node | None, where: str) -> None:
    """Refuse a YAML document nested deeper than MAX_DEPTH or over MAX_NODES values expanded.

    Aliases share nodes, so the expanded size is counted once per distinct node
    (memoised), without building the expanded data.
    """
    sizes: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise ScenarioError(f"{where}: nested deeper than {MAX_DEPTH} levels; allowed: {MAX_DEPTH}")
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = 0  # a recursive alias counts as nothing more
        if isinstance(node, yaml.MappingNode):
            n = 1 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            n = 1 + sum(size(v, depth + 1) for v in node.value)
        else:
            n = 1
        if n > MAX_NODES:
            raise ScenarioError(f"{where}: {n} values once aliases are expanded; allowed: at "
                                f"most {MAX_NODES}")
        sizes[id(node)] = n
        return n

    if root is not None:
        size(root, 0)


def describe(path: Path, width: int | None = None) -> str:
    """First line of a shipped scenario's description, cut at a word to ``width`` characters."""
    data = yaml.safe_load(path.read_text()) or {}
    text = str(data.get("description") or "").strip()
    line = text.splitlines()[0] if text else ""
    if width is None or len(line) <= width:
        return line
    return line[: width - 3].rsplit(" ", 1)[0].rstrip(",;:") + "..."
