"""Weighted draws and long-tailed amounts, all from the caller's one ``random.Random``."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence


def pick(rng: random.Random, weights: dict[str, float]) -> str:
    """A key of ``weights``, drawn in proportion to its value."""
    return rng.choices(list(weights), list(weights.values()))[0]


def cumulative(weights: Sequence[float]) -> list[float]:
    """Running totals, for ``rng.choices(..., cum_weights=...)`` and bisection."""
    total = 0.0
    cum = []
    for weight in weights:
        total += weight
        cum.append(total)
    return cum


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    """A positive amount around ``median`` with a long tail: delays, activity."""
    return rng.lognormvariate(math.log(median), sigma)
