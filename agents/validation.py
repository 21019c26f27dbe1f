"""Boundary checks for the array inputs of the optimisation models.

Problems are frozen dataclasses whose ``__post_init__`` turns every field into a
read-only numpy array of the expected shape through these helpers, so that a bad
input fails at construction with a one-line ``ValueError`` naming the field, the
offending value and what is allowed, and never deep inside a solver call.
"""

from __future__ import annotations

import numpy as np


def float_array(
    name: str,
    value: object,
    shape: tuple[int, ...],
    *,
    lo: float | None = None,
    hi: float | None = None,
) -> np.ndarray:
    """A read-only float array of ``shape`` with finite entries in ``[lo, hi]``.

    A scalar ``value`` is broadcast to ``shape``.
    """
    arr = _shaped(name, np.asarray(value, dtype=float), shape)
    bad = ~np.isfinite(arr)
    if lo is not None:
        bad |= arr < lo
    if hi is not None:
        bad |= arr > hi
    if bad.any():
        idx = _first(bad)
        allowed = (
            f"finite, in [{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
        )
        raise ValueError(f"{name}{_at(idx)} = {arr[idx].item()!r}; allowed: {allowed}")
    return _frozen(arr)


def int_array(
    name: str, value: object, shape: tuple[int, ...], *, lo: int = 0, hi: int | None = None
) -> np.ndarray:
    """A read-only int64 array of ``shape`` with integral entries in ``[lo, hi]``."""
    raw = np.asarray(value)
    if raw.dtype.kind not in "iu" and not (
        raw.dtype.kind == "f" and np.all(np.isfinite(raw)) and np.all(raw == np.round(raw))
    ):
        raise ValueError(f"{name} must hold integers, got dtype {raw.dtype}")
    arr = _shaped(name, raw.astype(np.int64), shape)
    bad = (arr < lo) | (arr > hi if hi is not None else False)
    if bad.any():
        idx = _first(bad)
        allowed = f"integers >= {lo}" if hi is None else f"integers in [{lo}, {hi}]"
        raise ValueError(f"{name}{_at(idx)} = {arr[idx].item()}; allowed: {allowed}")
    return _frozen(arr)


def bool_array(name: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
    """A read-only bool array of ``shape`` from bools or 0/1 values."""
    raw = np.asarray(value)
    if raw.dtype != bool and not np.isin(raw, (0, 1)).all():
        raise ValueError(f"{name} must hold 0/1 or booleans")
    return _frozen(_shaped(name, raw.astype(bool), shape))


def ordered(lo_name: str, lo: np.ndarray, hi_name: str, hi: np.ndarray) -> None:
    """Raise unless ``lo <= hi`` element-wise."""
    bad = lo > hi
    if bad.any():
        idx = _first(bad)
        raise ValueError(
            f"{lo_name}{_at(idx)} = {lo[idx].item()!r} > {hi_name}{_at(idx)} = {hi[idx].item()!r}; "
            f"allowed: {lo_name} <= {hi_name}"
        )


def positive_int(name: str, value: object) -> int:
    """``value`` as a positive ``int``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} = {value!r}; allowed: a positive integer")
    return int(value)


def _shaped(name: str, arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if arr.ndim == 0:
        return np.full(shape, arr.item(), dtype=arr.dtype)
    if arr.shape != shape:
        raise ValueError(f"{name} has shape {arr.shape}; expected {shape}")
    return arr.copy()


def _first(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _at(idx: tuple[int, ...]) -> str:
    """``[2]`` or ``[1, 3]`` after a field name; nothing for a scalar field."""
    return str(list(idx)) if idx else ""


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr
