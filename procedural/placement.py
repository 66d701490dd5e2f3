"""2D packing of objects on a flat support: analytic rest poses without interpenetration.

Each object is bounded by a disc (its footprint's circumradius); discs are placed by rejection
sampling inside a rectangle, so no two objects can touch whatever their yaw. Objects that do not fit
after `attempts` tries are dropped, and the caller records how many were placed.
"""

from __future__ import annotations

import numpy as np


def pack_discs(
    rng: np.random.Generator,
    radii: list[float],
    half_extent: tuple[float, float],
    centre: tuple[float, float] = (0.0, 0.0),
    gap: float = 0.0,
    attempts: int = 200,
) -> list[tuple[float, float] | None]:
    """Centres for discs of `radii` inside the rectangle centre ± half_extent; None where one didn't fit."""
    placed: list[tuple[float, float, float]] = []
    out: list[tuple[float, float] | None] = []
    for radius in radii:
        hx, hy = half_extent[0] - radius, half_extent[1] - radius
        position = None
        if hx >= 0 and hy >= 0:
            candidates = rng.uniform([-hx, -hy], [hx, hy], size=(attempts, 2)) + np.asarray(centre)
            for x, y in candidates:
                if all((x - px) ** 2 + (y - py) ** 2 >= (radius + pr + gap) ** 2 for px, py, pr in placed):
                    position = (float(x), float(y))
                    break
        if position is not None:
            placed.append((*position, radius))
        out.append(position)
    return out
