"""Seeded, time-correlated noise for the synthetic load and PV profiles."""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter


def ar1(n: int, step_s: float, correlation_s: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary Gaussian AR(1) series, mean 0 and variance 1.

    ``z_k = rho z_{k-1} + sqrt(1 - rho^2) e_k`` with ``rho = exp(-step_s / correlation_s)``
    (a sampled Ornstein-Uhlenbeck process), ``e_k ~ N(0, 1)`` i.i.d. and ``z_0`` drawn from
    the stationary distribution. Draws ``n + 1`` normals from ``rng``.
    """
    rho = math.exp(-step_s / correlation_s)
    z_init, eps = rng.standard_normal(), rng.standard_normal(n)
    z, _ = lfilter([math.sqrt(1.0 - rho * rho)], [1.0, -rho], eps, zi=[rho * z_init])
    return z
