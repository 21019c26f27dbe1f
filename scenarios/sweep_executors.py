"""Where sweep points run: in this process, a local pool of processes, or a Dask cluster.

Every executor runs :func:`execute` once per :class:`PointTask` and yields
``(task, outcome)`` as points finish. :func:`execute` runs the point with
:func:`flexcosim.cosim.run.run_scenario` into its folder, then writes the completion
marker (``flexcosim.scenarios.sweep_state``); an exception is recorded in the folder
instead, so one failing point never stops the others.

- ``local`` with one worker and no timeout: points run one after the other in this process.
- ``local`` otherwise: each point runs in its own child process (``forkserver``
  start method where available: children fork from a server that has imported the engine
  once), at most N at a time. A child that dies (killed, out of memory) or outlives
  ``timeout_s`` is recorded as failed with its exit code; the others go on.
- ``dask``: points are submitted to a ``distributed`` cluster (``scheduler`` address) or to
  a ``LocalCluster`` of N single-threaded worker processes. Workers need the installed
  package and the same ``out`` path (a shared filesystem). A worker that dies is handled by
  Dask (the point is retried on another worker, then recorded as failed); there is no
  per-point timeout on Dask workers.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from flexcosim.scenarios.sweep_state import mark_complete, mark_failed, move_aside


@dataclass(frozen=True)
class PointTask:
    """What a worker needs to run one point (plain data, so it pickles cheaply).

    Attributes
    ----------
    index, name : the point's position and folder name
    scenario : the point's resolved scenario as JSON-ready data
    scenario_hash : SHA-256 of the resolved scenario
    folder : absolute path of the point's folder (on a filesystem every worker sees)
    base_dir : folder that relative paths in the scenario refer to
    """

    index: int
    name: str
    scenario: dict
    scenario_hash: str
    folder: str
    base_dir: str


@dataclass(frozen=True)
class Outcome:
    """How one point went: ``ok`` or not, wall time [s] and the error (one line) if any."""

    ok: bool
    wall_s: float
    error: str = ""


def execute(task: PointTask) -> Outcome:
    """Run one point into ``task.folder`` and mark it complete, or record why it failed.

    Whatever the folder holds first (an earlier attempt, e.g. one whose Dask worker died) is
    moved aside into the sweep folder's ``_aside/``, so a run never mixes with old files.
    """
    from flexcosim.cosim.run import run_scenario
    from flexcosim.scenarios.schema import parse_scenario

    folder = Path(task.folder)
    move_aside(folder.parent, folder)
    t0 = time.perf_counter()
    try:
        run_scenario(parse_scenario(task.scenario), folder, Path(task.base_dir), progress=False)
        mark_complete(folder, task.scenario_hash)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: B036 -- a strategy's sys.exit() is this point's failure too
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        mark_failed(folder, task.scenario_hash, error + "\n" + traceback.format_exc(limit=-8))
        return Outcome(False, time.perf_counter() - t0, error)
    return Outcome(True, time.perf_counter() - t0)


def _child(task: PointTask, conn: multiprocessing.connection.Connection) -> None:
    conn.send(execute(task))
    conn.close()


def _received(receive: multiprocessing.connection.Connection) -> Outcome | None:
    """The child's outcome, or None if it died before sending one."""
    try:
        return receive.recv() if receive.poll() else None
    except EOFError:
        return None


Started = Callable[[PointTask], None]


def run_in_process(tasks: list[PointTask], started: Started) -> Iterator[tuple[PointTask, Outcome]]:
    """One point after the other in this process."""
    for task in tasks:
        started(task)
        yield task, execute(task)


def run_local_pool(tasks: list[PointTask], workers: int, started: Started,
                   timeout_s: float | None = None) -> Iterator[tuple[PointTask, Outcome]]:
    """Each point in its own child process, at most ``workers`` at a time (see module docstring)."""
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["flexcosim.cosim.run", "flexcosim.scenarios.sweep_executors"])
    queue = deque(tasks)
    running: dict = {}  # process sentinel -> (task, process, start time, result pipe)
    try:
        while queue or running:
            while queue and len(running) < workers:
                task = queue.popleft()
                receive, send = ctx.Pipe(duplex=False)
                process = ctx.Process(target=_child, args=(task, send), name=f"flexcosim-{task.name}")
                process.start()
                send.close()
                running[process.sentinel] = (task, process, time.monotonic(), receive)
                started(task)
            wake = 1.0  # [s] when no timeout is due earlier
            if timeout_s is not None:
                first = min(t0 for _, _, t0, _ in running.values())
                wake = max(0.0, min(wake, first + timeout_s - time.monotonic()))
            ready = multiprocessing.connection.wait(list(running), timeout=wake)
            now = time.monotonic()
            for sentinel in list(running):
                task, process, t0, receive = running[sentinel]
                timed_out = timeout_s is not None and now - t0 > timeout_s
                if sentinel not in ready and not timed_out:
                    continue
                del running[sentinel]
                outcome = _received(receive)
                if outcome is None:
                    if timed_out:
                        process.kill()
                    process.join()
                    error = (f"timeout: still running after {timeout_s:g} s" if timed_out
                             else f"worker process died (exit code {process.exitcode})")
                    outcome = Outcome(False, now - t0, error)
                    mark_failed(Path(task.folder), task.scenario_hash, error)
                process.join()
                receive.close()
                yield task, outcome
    finally:
        for _, process, _, _ in running.values():
            process.kill()
            process.join()


def run_dask(tasks: list[PointTask], workers: int, started: Started,
             scheduler: str | None = None) -> Iterator[tuple[PointTask, Outcome]]:
    """Submit every point to a Dask cluster (``scheduler``) or a ``LocalCluster`` of ``workers`` processes."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               host="127.0.0.1", dashboard_address=None)
    client = Client(scheduler or cluster)
    try:
        futures = {}
        for task in tasks:
            futures[client.submit(execute, task, key=f"flexcosim-{task.name}-{task.scenario_hash[:12]}",
                                  pure=False)] = task
            started(task)
        for future in as_completed(futures):
            task = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # e.g. KilledWorker: the point's worker died (twice)
                outcome = Outcome(False, 0.0, f"{type(exc).__name__}: {exc}".splitlines()[0])
                mark_failed(Path(task.folder), task.scenario_hash, outcome.error)
            yield task, outcome
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def default_workers() -> int:
    """As many workers as this process may use cores."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1
