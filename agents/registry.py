"""Strategies looked up by registered name or by dotted path ``package.module:Class``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Named factories of one kind of strategy.

    >>> SITE = Registry("site strategy")
    >>> @SITE.register("mine")
    ... class Mine: ...
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[[], T]] = {}

    def register(self, name: str) -> Callable[[Callable[[], T]], Callable[[], T]]:
        def add(factory: Callable[[], T]) -> Callable[[], T]:
            self._factories[name] = factory
            return factory
        return add

    def names(self) -> list[str]:
        return sorted(self._factories)

    def create(self, name: str) -> T:
        """Instantiate the strategy called ``name`` (registered name or ``module:Class``)."""
        if name in self._factories:
            return self._factories[name]()
        if ":" in name or "." in name:
            module, _, attr = name.rpartition(":") if ":" in name else name.rpartition(".")
            try:
                return getattr(importlib.import_module(module), attr)()
            except (ImportError, AttributeError) as exc:
                raise ValueError(f"{self.kind} {name!r} could not be loaded: {exc}") from None
        raise ValueError(
            f"{self.kind} {name!r} is unknown; allowed: {', '.join(self.names())} or a dotted path"
        )
