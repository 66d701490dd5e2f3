"""Where vertical lines cross triangles: the soil under a plant's leaves, the board above a shelf's.

A vertical ray cast done by hand (each point's barycentric coordinates in every triangle projected on
the xy plane), far cheaper than building a ray tree for a query of a few points, and vectorised, so
that every vertex of a plant is measured at once.
"""

from __future__ import annotations

import numpy as np


def crossings(
    triangles: np.ndarray, xy: np.ndarray, tolerance: float = 0.0, degenerate: float = 1e-12
) -> np.ndarray:
    """Heights (N × T) at which the vertical line through each of N points `xy` crosses each of T
    `triangles` (T × 3 × 3); NaN where it misses.

    `tolerance` widens every triangle by that much in barycentric terms, so that a point on an edge
    two triangles share hits both; a triangle whose projection's doubled area is `degenerate` or less
    (seen edge-on from above: a wall) is never hit.
    """
    a = triangles[:, 0]
    v0, v1 = (triangles[:, 1] - a)[:, :2], (triangles[:, 2] - a)[:, :2]
    det = v0[:, 0] * v1[:, 1] - v0[:, 1] * v1[:, 0]
    seen = np.abs(det) > degenerate
    det = np.where(seen, det, 1.0)
    d = np.asarray(xy, float)[:, None, :] - a[None, :, :2]
    s = (d[..., 0] * v1[:, 1] - d[..., 1] * v1[:, 0]) / det
    t = (v0[:, 0] * d[..., 1] - v0[:, 1] * d[..., 0]) / det
    inside = seen & (s >= -tolerance) & (t >= -tolerance) & (s + t <= 1 + tolerance)
    z = a[:, 2] + s * (triangles[:, 1, 2] - a[:, 2]) + t * (triangles[:, 2, 2] - a[:, 2])
    return np.where(inside, z, np.nan)
