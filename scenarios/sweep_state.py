"""Whether a sweep point's folder is finished: the completion marker, failure records, moving aside.

A point is **complete** only when its folder holds ``complete.json``, written last and
atomically (temporary file, fsync, rename), naming the hash of the point's resolved
scenario and every other file of the folder with its size and SHA-256, and the folder
still matches it exactly (same hash, same files, same sizes and checksums, nothing extra).
A point is **failed** when its folder holds ``failed.json`` for the same hash (the error
of the last attempt). Anything else is **pending**: its folder, if any, is moved aside to
``<out>/_aside/`` before the point runs again. Nothing is ever deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

MARKER = "complete.json"
FAILED = "failed.json"
ASIDE = "_aside"

State = Literal["complete", "failed", "pending"]


def point_folder(out: Path, name: str) -> Path:
    """``out/name``, refusing any name that would leave ``out`` (``..``, ``/``, absolute)."""
    out = Path(out).resolve()
    folder = (out / name).resolve()
    if folder.parent != out or name.startswith((".", "_")):
        raise ValueError(f"sweep point name {name!r} is not a folder directly inside {str(out)!r}")
    return folder


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _files(folder: Path) -> dict[str, dict]:
    """Every file under ``folder`` but the marker and failure record: {relative path: {size, sha256}}."""
    files = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel not in (MARKER, FAILED):
            files[rel] = {"size": path.stat().st_size,
                          "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    return files


def mark_complete(folder: Path, scenario_hash: str) -> None:
    """Write the completion marker of a point that just finished into ``folder``."""
    marker = {"scenario_sha256": scenario_hash, "files": _files(folder),
              "finished_utc": datetime.now(UTC).isoformat(timespec="seconds")}
    write_atomic(folder / MARKER, json.dumps(marker, indent=1))


def mark_failed(folder: Path, scenario_hash: str, error: str) -> None:
    """Record in ``folder`` that the point with ``scenario_hash`` failed with ``error``."""
    folder.mkdir(parents=True, exist_ok=True)
    record = {"scenario_sha256": scenario_hash, "error": error,
              "failed_utc": datetime.now(UTC).isoformat(timespec="seconds")}
    write_atomic(folder / FAILED, json.dumps(record, indent=1))


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def point_state(folder: Path, scenario_hash: str) -> State:
    """``complete``, ``failed`` or ``pending`` (see the module docstring)."""
    marker = _read(folder / MARKER)
    if marker is not None and marker.get("scenario_sha256") == scenario_hash:
        if marker.get("files") == _files(folder):
            return "complete"
        return "pending"
    failed = _read(folder / FAILED)
    if failed is not None and failed.get("scenario_sha256") == scenario_hash:
        return "failed"
    return "pending"


def failure(folder: Path) -> str:
    """The recorded error of a failed point ('' if none)."""
    record = _read(folder / FAILED)
    return str(record.get("error", "")) if record else ""


def move_aside(out: Path, folder: Path) -> Path | None:
    """Move ``folder`` (if it exists) to ``out/_aside/<name>.<UTC time>``; returns where it went."""
    if not folder.exists():
        return None
    aside = Path(out) / ASIDE
    aside.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = aside / f"{folder.name}.{stamp}"
    k = 1
    while target.exists():
        target = aside / f"{folder.name}.{stamp}.{k}"
        k += 1
    folder.rename(target)
    return target
