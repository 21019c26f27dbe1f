"""A workaround for a cost in mosaik 3.6's scheduler that grows with the events of a run.

A simulator waiting for its next step waits on its own ``Progress`` and on a "newer
step" event (``mosaik.scheduler.next_step_settled``); when an input brings an earlier
step, the progress wait is cancelled, but its future stays in ``Progress._futures``
until the time it waited for has passed. Every ``Progress.set`` (one per step of every
simulator) then checks each of them. In a UCD day the chargers' and agents' lists grow
to about 260 cancelled futures, and these checks took 5-7 % of the day's CPU (py-spy).

:func:`drop_cancelled_waits` makes ``Progress.set`` drop cancelled futures first. It
changes nothing else: ``set`` already skipped them (``if not future.cancelled()``) and
only deleted them later. Results are identical (tested). mosaik is pinned ``< 4``
in setup.cfg; the patch checks the attributes it relies on and leaves any other
``Progress`` alone.
"""

from __future__ import annotations

from mosaik.progress import Progress

_original_set = Progress.set


def _set_without_cancelled(self: Progress, time) -> None:
    """``Progress.set``, without first checking futures whose wait was cancelled."""
    if self._futures:
        self._futures = [entry for entry in self._futures if not entry[1].cancelled()]
    _original_set(self, time)


def drop_cancelled_waits() -> None:
    """Patch ``mosaik.progress.Progress.set`` (idempotent; a no-op if mosaik changed it)."""
    if Progress.set is _original_set and "_futures" in getattr(Progress, "__annotations__", {}):
        Progress.set = _set_without_cancelled
