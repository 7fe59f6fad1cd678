"""Seeded sampling of large inputs, so millions of rows do not exhaust memory.

The strategy: when a frame has more than ``monitoring.max_rows`` rows, keep
``max_rows`` of them drawn uniformly at random without replacement with
``numpy.random.default_rng(monitoring.seed)``, in their original order. The
same rows come back for the same data, size and seed, so checks are
reproducible; a uniform sample keeps each column's distribution unbiased, which
is what the drift tests compare.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["STRATEGY", "sample_positions"]

STRATEGY = "uniform random rows without replacement, original order kept"


def sample_positions(
    n_rows: int, max_rows: int, seed: int
) -> tuple[npt.NDArray[np.int64] | None, dict[str, Any]]:
    """Row positions to keep (None: keep all) and a description for the result.

    Example:
        >>> positions, info = sample_positions(10, 4, seed=42)
        >>> len(positions), info["applied"], info["rows_used"]
        (4, True, 4)
    """
    info: dict[str, Any] = {"applied": False, "rows_in": n_rows, "rows_used": n_rows}
    if max_rows <= 0 or n_rows <= max_rows:
        return None, info
    rng = np.random.default_rng(seed)
    positions = np.sort(rng.choice(n_rows, size=max_rows, replace=False)).astype(np.int64)
    info.update(applied=True, rows_used=max_rows, max_rows=max_rows, seed=seed, strategy=STRATEGY)
    return positions, info
