"""Command-line overrides of scenario fields: ``--set path=value`` and ``--seed``.

An override edits the raw scenario data before validation, so an overridden value is
checked exactly like one written in the file. ``path`` is dotted, list items by their
index or ``*`` for every item (``sites.0.chargers=4``, ``sites.*.chargers=4``); ``value`` is read as
YAML (``4``, ``0.5``, ``true``, ``null``, ``[bus_4, bus_8]``, ``{kind: csv, path: x.csv}``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import yaml

from flexcosim.scenarios.schema import ScenarioError
from flexcosim.scenarios.sweep_points import set_path


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``path=value`` into the path's parts and the YAML-read value.

    Raises
    ------
    ScenarioError
        no ``=``, an empty path or a value that is not YAML.
    """
    path, sep, raw = text.partition("=")
    path = path.strip()
    if not sep or not path or any(not part for part in path.split(".")):
        raise ScenarioError(f"--set {text!r}: need path=value, e.g. sites.0.chargers=4")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise ScenarioError(f"--set {path}: value {raw!r} is not valid YAML") from None
    return path.split("."), value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str], seed: int | None = None) -> dict[str, Any]:
    """A copy of raw scenario ``data`` with each ``path=value`` (then ``seed``) applied.

    Paths are those of the sweep (:func:`~flexcosim.scenarios.sweep_points.set_path`): a
    path may create a new key in an existing mapping (validation then says whether the
    field exists), ``*`` stands for every item of a list (``sites.*.chargers=4``); it may
    not index past the end of a list or into a scalar.

    Raises
    ------
    ScenarioError
        one line naming the ``--set`` path and what is wrong with it.
    """
    data = copy.deepcopy(data)
    for text in overrides:
        parts, value = parse_override(text)
        path = ".".join(parts)
        set_path(data, path, value, where=f"--set {path}")
    if seed is not None:
        data["seed"] = seed
    return data
