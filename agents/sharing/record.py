"""The agreement record: an append-only, hash-chained ``agreements.jsonl`` (seed 004 4.2.1.2).

The seed records every vertical (DSO - aggregator) and horizontal (aggregator -
aggregator) exchange of capacity sharing in a blockchain service layer for transparency
and trust. Here every protocol message but the roles' own timers is one JSON line::

    {"seq": 3, "type": "CapacityOffer", "message": {...}, "prev_sha256": "<hex>", "sha256": "<hex>"}

``sha256`` is the SHA-256 of the line's canonical JSON without the ``sha256`` field
(keys sorted, no spaces); ``prev_sha256`` is the previous entry's ``sha256`` (64 zeros
for the first). Editing any entry breaks its own hash; editing it and recomputing its
hash breaks the next entry's link. :func:`verify_record` reports the first broken entry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from flexcosim.agents.sharing.messages import Message, Wakeup

#: File name of the record in a run folder.
RECORD_NAME = "agreements.jsonl"

#: ``prev_sha256`` of the first entry.
GENESIS = "0" * 64


def _digest(entry: dict) -> str:
    text = json.dumps(entry, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AgreementRecord:
    """Appends protocol messages to ``path``, continuing the chain of an existing file.

    Parameters
    ----------
    path : the ``agreements.jsonl`` file; created with its folder if missing
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._seq, self._last = 0, GENESIS
        if self.path.exists():
            check = verify_record(self.path)
            if not check.ok:
                raise ValueError(f"{self.path}: {check.reason}; refusing to extend it")
            self._seq, self._last = check.entries, check.head_sha256

    def append(self, msg: Message) -> bool:
        """Append ``msg`` (timers are not recorded); True if it was written."""
        if isinstance(msg, Wakeup):
            return False
        entry = {"seq": self._seq, "type": type(msg).__name__,
                 "message": dataclasses.asdict(msg), "prev_sha256": self._last}
        entry["sha256"] = _digest(entry)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, sort_keys=True, allow_nan=False) + "\n")
        self._seq, self._last = self._seq + 1, entry["sha256"]
        return True


@dataclass(frozen=True)
class RecordCheck:
    """Result of :func:`verify_record`.

    Attributes
    ----------
    ok : every entry intact and linked
    entries : number of entries read (up to the first broken one)
    first_bad : 0-based line number of the first broken entry, ``None`` if ok
    reason : what is wrong with it, empty if ok
    head_sha256 : hash of the last intact entry
    """

    ok: bool
    entries: int
    first_bad: int | None = None
    reason: str = ""
    head_sha256: str = GENESIS


def verify_record(path: Path) -> RecordCheck:
    """Check the chain of an ``agreements.jsonl`` file line by line.

    An entry whose content no longer matches its ``sha256`` is the tampered one; an entry
    whose ``prev_sha256`` no longer matches means the entry before it was changed and its
    hash recomputed, so the one before is reported.
    """
    last, count = GENESIS, 0
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                return _broken(n, f"not JSON ({exc.msg})", last)
            if not isinstance(entry, dict) or "sha256" not in entry:
                return _broken(n, "no sha256 field", last)
            stated = entry.pop("sha256")
            if entry.get("seq") != n:
                return _broken(n, f"seq {entry.get('seq')!r}, expected {n} (an entry was "
                                  "removed or inserted)", last)
            if entry.get("prev_sha256") != last:
                return _broken(n - 1, f"its sha256 changed: entry {n} no longer links to it",
                               last)
            if _digest(entry) != stated:
                return _broken(n, "content does not match its sha256 (the entry was changed)",
                               last)
            last, count = stated, n + 1
    return RecordCheck(True, count, head_sha256=last)


def _broken(n: int, problem: str, head: str) -> RecordCheck:
    return RecordCheck(False, n, n, f"entry {n} (line {n + 1}): {problem}", head)
