"""Strategies by name, and calling them so that a failing strategy never ends a run.

Every agent role declares one :class:`Registry` of its strategies (e.g. the site
aggregator's ``SITE_STRATEGIES``, the site pricing rules ``PRICING``) with the name of
its one decision method. :meth:`Registry.create` resolves a strategy name in this order:

1. a built-in registered under that name;
2. an installed entry point of that name in group ``flexcosim.strategies``
   (``[flexcosim.strategies]  my_pricing = my_pkg.pricing:MyPricing``);
3. ``path/to/file.py:ClassName``, a Python file outside the package, relative to the
   scenario file's folder (``base_dir``) unless absolute;
4. ``package.module:ClassName`` (or ``package.module.ClassName``) importable from ``sys.path``.

:class:`Guarded` calls the chosen strategy, checks the decision with the role's
checker and, if the strategy raises (any exception, ``SystemExit`` included; only
``KeyboardInterrupt`` ends the run), answers something invalid or exceeds its time
limit, records a :class:`Fallback` (strategy name, reason with the ``file:line`` of an
exception, and the observation it got) and lets the role's safe built-in decide
instead. The first failure of an agent's strategy is logged as one line (the record
carries the strategy's name as ``record.strategy``, so a handler can keep one line per
strategy, as the command line does); later ones are only recorded, so a broken strategy
does not flood the log. Should that fallback fail too, the registry's *last resort*
decides (a rule that reads nothing and so cannot fail, e.g. the site aggregator's
"charge nothing this step"), again recorded.

A target given as ``file.py:Class`` or ``module:Class`` is imported and so runs code:
a scenario file that names one executes it. Only classes with the role's decision
method and plain Python factory functions are accepted; anything else (``sys:exit``,
``os:system``) is refused before the run starts.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import sys
import time
import traceback
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: Entry-point group in which installed packages publish strategies.
ENTRY_POINT_GROUP = "flexcosim.strategies"

log = logging.getLogger("flexcosim.strategies")


class Registry(Mapping[str, Callable[[], T]], Generic[T]):
    """Named factories of one kind of strategy; a read-only mapping name -> factory.

    Parameters
    ----------
    kind : what the strategies are, for messages (``"site strategy"``)
    method : the role's one decision method every strategy must have (``"decide"``)
    builtins : factories to register right away
    last_resort : ``last_resort(observation) -> decision``, used by :class:`Guarded` when
        the fallback fails too; it must not fail (read nothing it could choke on)

    >>> PRICING = Registry("site pricing", "offer")
    >>> @PRICING.register("mine")
    ... class Mine:
    ...     def offer(self, obs): ...
    """

    def __init__(self, kind: str, method: str = "decide",
                 builtins: Mapping[str, Callable[[], T]] | None = None,
                 last_resort: Callable[[Any], Any] | None = None) -> None:
        self.kind = kind
        self.method = method
        self._factories: dict[str, Callable[[], T]] = dict(builtins or {})
        self.last_resort = last_resort

    def register(self, name: str) -> Callable[[Callable[[], T]], Callable[[], T]]:
        def add(factory: Callable[[], T]) -> Callable[[], T]:
            self._factories[name] = factory
            return factory
        return add

    def __getitem__(self, name: str) -> Callable[[], T]:
        return self._factories[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)

    def names(self) -> list[str]:
        return sorted(self._factories)

    def create(self, name: str, base_dir: Path | None = None) -> T:
        """Instantiate the strategy called ``name`` (see the module docstring for the lookup).

        Raises
        ------
        ValueError
            unknown name, a file or module that cannot be loaded, or an object without
            the role's decision method.
        """
        factory = self._factories.get(name) or self._plugin(name, base_dir)
        if inspect.isclass(factory):
            if not callable(getattr(factory, self.method, None)):
                raise ValueError(f"{self.kind} {name!r}: class {factory.__name__} has no "
                                 f"{self.method}() method")
        elif not inspect.isfunction(factory) or not _takes_no_arguments(factory):
            raise ValueError(f"{self.kind} {name!r}: {type(factory).__name__} is neither a "
                             f"class with a {self.method}() method nor a factory function "
                             "without arguments")
        try:
            strategy = factory()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - user code may raise anything, exit too
            raise ValueError(f"{self.kind} {name!r} could not be created: "
                             f"{type(exc).__name__}: {exc}") from None
        if not callable(getattr(strategy, self.method, None)):
            raise ValueError(  # noqa: TRY004 - a bad scenario field, reported as such
                f"{self.kind} {name!r}: {type(strategy).__name__} has no {self.method}() method"
            )
        return strategy

    def _plugin(self, name: str, base_dir: Path | None) -> Callable[[], T]:
        for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
            try:
                return ep.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # noqa: BLE001 - user code may raise anything
                raise ValueError(
                    f"{self.kind} {name!r}: entry point {ep.value!r} could not be loaded: {exc}"
                ) from None
        where, sep, attr = name.rpartition(":")
        if not sep and "." in name:
            where, _, attr = name.rpartition(".")
        if not where:
            raise ValueError(
                f"{self.kind} {name!r} is unknown; allowed: {', '.join(self.names())}, an "
                f"entry point in {ENTRY_POINT_GROUP!r}, 'file.py:Class' or 'module:Class'"
            )
        try:
            if where.endswith(".py"):
                module = _load_file(Path(base_dir or ".") / where)
            else:
                module = importlib.import_module(where)
            return getattr(module, attr)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - user code may raise anything at import
            raise ValueError(
                f"{self.kind} {name!r} could not be loaded: {type(exc).__name__}: {exc}"
            ) from None


def _takes_no_arguments(function: Callable) -> bool:
    try:
        inspect.signature(function).bind()
    except TypeError:
        return False
    return True


def _load_file(path: Path) -> Any:
    """Import a Python file as a module, once per resolved path."""
    path = path.resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no file {str(path)!r}")
    module_name = f"flexcosim_user.{path.stem}_{zlib.crc32(str(path).encode()):08x}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


@dataclass(frozen=True)
class Fallback:
    """One decision where the chosen strategy failed and the safe fallback decided.

    Attributes
    ----------
    time_s : simulation time [s since start]
    agent : the agent whose strategy failed
    strategy : the failed strategy's name as the scenario gives it
    reason : what went wrong (exception, invalid decision or time limit)
    observation : the input the strategy got
    """

    time_s: int
    agent: str
    strategy: str
    reason: str
    observation: Any


class Guarded(Generic[T]):
    """A role's strategy with its check, optional time limit and safe fallback.

    Parameters
    ----------
    agent : name of the agent, for the record
    registry : the role's strategies
    strategy : name of the chosen strategy (see :meth:`Registry.create`)
    fallback : name of the role's safe built-in
    check : ``check(decision, observation) -> str``, why the decision is invalid ('' if valid)
    base_dir : folder that a ``file.py:Class`` strategy name is relative to
    timeout_s : wall-clock limit per decision [s]; ``None`` for none. The call is
        measured, not interrupted: a late answer is discarded and the fallback decides.
        A limit makes results depend on the machine's speed, so reproducible studies
        leave it at ``None``.
    """

    def __init__(self, agent: str, registry: Registry[T], strategy: str, fallback: str,
                 check: Callable[[Any, Any], str], base_dir: Path | None = None,
                 timeout_s: float | None = None) -> None:
        if timeout_s is not None and not timeout_s > 0:
            raise ValueError(f"timeout_s = {timeout_s!r}; allowed: > 0 [s] or None")
        self.agent = agent
        self.name = strategy
        self.strategy = registry.create(strategy, base_dir)
        self.fallback = registry.create(fallback)
        self.fallback_name = fallback
        self.method = registry.method
        self.check = check
        self.timeout_s = timeout_s
        self.last_resort = registry.last_resort
        self.fallbacks: list[Fallback] = []

    def __call__(self, obs: Any, time_s: int) -> Any:
        """The strategy's decision on ``obs``, or the fallback's if the strategy failed."""
        decision, problem = self._try(self.strategy, obs, self.timeout_s)
        if not problem:
            return decision
        self.fallbacks.append(Fallback(time_s, self.agent, self.name, problem, obs))
        if len(self.fallbacks) == 1:  # once per agent; the rest are counted in the record
            log.warning("%s: strategy %r failed at t=%d s: %s; the fallback %r decides, and "
                        "further failures are only counted (fallbacks.json)",
                        self.agent, self.name, time_s, problem, self.fallback_name,
                        extra={"strategy": self.name})
        decision, problem = self._try(self.fallback, obs, None)
        if not problem:
            return decision
        if self.last_resort is None:  # the role has no decision that cannot fail
            raise RuntimeError(f"{self.agent}: fallback failed too at t={time_s} s: {problem}")
        self.fallbacks.append(Fallback(time_s, self.agent, self.fallback_name, problem, obs))
        log.warning("%s: fallback failed at t=%d s (%s); last resort decides",
                    self.agent, time_s, problem)
        return self.last_resort(obs)

    def _try(self, strategy: Any, obs: Any, timeout_s: float | None) -> tuple[Any, str]:
        """``(decision, '')`` or ``(None, why it failed)``."""
        t0 = time.perf_counter()
        try:
            decision = getattr(strategy, self.method)(obs)
            elapsed_s = time.perf_counter() - t0
            problem = self.check(decision, obs)
            if not problem and timeout_s is not None and elapsed_s > timeout_s:
                problem = f"took {elapsed_s:.3f} s, limit {timeout_s} s"
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a strategy must not end the run, not even by exit
            return None, f"raised {type(exc).__name__}: {exc} (at {_origin(exc)})"
        return (None, problem) if problem else (decision, "")


def _origin(exc: BaseException) -> str:
    """``file:line`` where ``exc`` was raised (the innermost frame of its traceback)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "unknown place"
