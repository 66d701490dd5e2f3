"""Exact pixel-centre silhouette rasterizer (numpy only, no renderer).

Why: visibility and truncation need each object's *amodal* (unoccluded, un-cropped) mask. The
renderer's instance pass gives only what is visible, so we project the mesh ourselves. The rule
matches the instance pass: pixel (row i, col j) is covered iff its centre (j + 0.5, i + 0.5) lies
inside the projection of at least one triangle. Triangles are treated as closed sets (a centre
exactly on an edge counts) and the silhouette is their union, so no top-left tie-breaking rule is
needed. `cv2.fillPoly` is not used because its fill rule is not pixel-centre sampling.

Near plane: a triangle with any vertex at or behind `camera.clip_start` (camera Z <= clip_start)
is dropped rather than clipped. For labelled objects, which are in front of the camera, this never
matters; for a mesh crossing the camera plane the silhouette covers only its fully-in-front
triangles. Triangles entirely at or beyond `camera.clip_end` are dropped as the renderer would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from scenesmith.procedural.description import Camera

# Triangles whose pixel-centre bounding box fits in this many pixels per side are rasterized in
# vectorised batches; larger ones are looped over (there are few of them per mesh).
SMALL_TRIANGLE_PX = 32
# Upper bound on the number of pixel-centre tests evaluated per numpy call (memory bound).
_CHUNK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class Silhouette:
    """Covered pixels of a projected mesh, stored as a bool mask over its own bounding box.

    `mask[i, j]` is image pixel (row `y0 + i`, col `x0 + j`); rows/cols may be negative or beyond
    the frame when the silhouette was computed with padding. Pixels outside the mask are not
    covered.
    """

    mask: np.ndarray
    x0: int
    y0: int

    @property
    def count(self) -> int:
        """Number of covered pixels in the whole (possibly padded) region."""
        return int(np.count_nonzero(self.mask))

    def frame_mask(self, width: int, height: int) -> np.ndarray:
        """The covered pixels inside the frame [0, width) x [0, height) as an H×W bool mask."""
        out = np.zeros((height, width), dtype=bool)
        h, w = self.mask.shape
        r0, r1 = max(self.y0, 0), min(self.y0 + h, height)
        c0, c1 = max(self.x0, 0), min(self.x0 + w, width)
        if r0 < r1 and c0 < c1:
            out[r0:r1, c0:c1] = self.mask[r0 - self.y0 : r1 - self.y0, c0 - self.x0 : c1 - self.x0]
        return out

    def count_inside(self, width: int, height: int) -> int:
        """Number of covered pixels inside the frame [0, width) x [0, height)."""
        h, w = self.mask.shape
        r0, r1 = max(self.y0, 0), min(self.y0 + h, height)
        c0, c1 = max(self.x0, 0), min(self.x0 + w, width)
        if r0 >= r1 or c0 >= c1:
            return 0
        return int(np.count_nonzero(self.mask[r0 - self.y0 : r1 - self.y0, c0 - self.x0 : c1 - self.x0]))


def project_triangles(mesh_world: trimesh.Trimesh, camera: Camera) -> np.ndarray:
    """Project a world-space mesh to pixel coordinates: (N, 3, 2) float64 triangle corners.

    Drops triangles touching the near plane and those entirely beyond the far plane (see module
    docstring). Pixel coordinates are continuous: pixel column j spans [j, j + 1).
    """
    vertices = np.asarray(mesh_world.vertices, dtype=np.float64)
    faces = np.asarray(mesh_world.faces, dtype=np.int64)
    if len(faces) == 0:
        return np.zeros((0, 3, 2))
    pix, z = camera.project(vertices)
    z_tri = z[faces]
    keep = np.all(z_tri > camera.clip_start, axis=1) & ~np.all(z_tri >= camera.clip_end, axis=1)
    return pix[faces[keep]]


def _edge_coefficients(tri: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge functions e_k(x, y) = A_k x + B_k y + C_k, oriented so the interior is e_k >= 0.

    Returns (coefficients (N, 3, 3) as [A, B, C] per edge, nondegenerate mask (N,)).
    """
    a = tri
    b = np.roll(tri, -1, axis=1)
    ax, ay, bx, by = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    coef_a = -(by - ay)
    coef_b = bx - ax
    coef_c = (by - ay) * ax - (bx - ax) * ay
    # Twice the signed area: edge 0 evaluated at the third vertex.
    area2 = coef_a[:, 0] * tri[:, 2, 0] + coef_b[:, 0] * tri[:, 2, 1] + coef_c[:, 0]
    sign = np.sign(area2)[:, None]
    coef = np.stack([coef_a * sign, coef_b * sign, coef_c * sign], axis=-1)
    return coef, area2 != 0


def _inside(coef: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Closed point-in-triangle test; coef (..., 3, 3) broadcast against x, y."""
    inside = None
    for k in range(3):
        e = coef[..., k, 0] * x + coef[..., k, 1] * y + coef[..., k, 2] >= 0
        inside = e if inside is None else inside & e
    return inside


def rasterize_triangles(tri: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """Pixel-centre coverage of 2-D triangles over the pixel region [x0, x1) x [y0, y1).

    `tri` is (N, 3, 2) in continuous pixel coordinates. Returns a (y1 - y0, x1 - x0) bool mask
    whose entry [i, j] is pixel (row y0 + i, col x0 + j), covered iff its centre lies in a
    triangle.
    """
    mask = np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), dtype=bool)
    if len(tri) == 0 or mask.size == 0:
        return mask
    coef, ok = _edge_coefficients(np.asarray(tri, dtype=np.float64))
    tri = tri[ok]
    coef = coef[ok]
    # Inclusive range of pixel indices whose centres can fall in each triangle's box.
    cmin = np.maximum(np.ceil(tri[..., 0].min(axis=1) - 0.5), x0)
    cmax = np.minimum(np.floor(tri[..., 0].max(axis=1) - 0.5), x1 - 1)
    rmin = np.maximum(np.ceil(tri[..., 1].min(axis=1) - 0.5), y0)
    rmax = np.minimum(np.floor(tri[..., 1].max(axis=1) - 0.5), y1 - 1)
    nonempty = (cmin <= cmax) & (rmin <= rmax)
    coef, cmin, cmax = coef[nonempty], cmin[nonempty], cmax[nonempty]
    rmin, rmax = rmin[nonempty], rmax[nonempty]
    w = (cmax - cmin + 1).astype(np.int64)
    h = (rmax - rmin + 1).astype(np.int64)
    cmin = cmin.astype(np.int64)
    rmin = rmin.astype(np.int64)
    side = np.maximum(w, h)

    small = side <= SMALL_TRIANGLE_PX
    # Bucket small triangles by the power of two that holds their box to limit wasted tests.
    bucket = np.where(small, np.ceil(np.log2(np.maximum(side, 1))).astype(np.int64), -1)
    for b in np.unique(bucket[small]):
        s = 1 << int(b)
        idx = np.flatnonzero(bucket == b)
        step = max(1, _CHUNK_ELEMENTS // (s * s))
        offs = np.arange(s)
        for start in range(0, len(idx), step):
            sel = idx[start : start + step]
            cols = cmin[sel, None, None] + offs[None, None, :]
            rows = rmin[sel, None, None] + offs[None, :, None]
            valid = (offs[None, None, :] < w[sel, None, None]) & (offs[None, :, None] < h[sel, None, None])
            hit = valid & _inside(coef[sel, None, None], cols + 0.5, rows + 0.5)
            n, i, j = np.nonzero(hit)
            mask[rmin[sel][n] + i - y0, cmin[sel][n] + j - x0] = True

    for t in np.flatnonzero(~small):
        cols = np.arange(cmin[t], cmin[t] + w[t])
        strip = max(1, _CHUNK_ELEMENTS // int(w[t]))
        for r_start in range(int(rmin[t]), int(rmin[t] + h[t]), strip):
            rows = np.arange(r_start, min(r_start + strip, int(rmin[t] + h[t])))
            hit = _inside(coef[t], cols[None, :] + 0.5, rows[:, None] + 0.5)
            mask[rows[0] - y0 : rows[-1] + 1 - y0, cols[0] - x0 : cols[-1] + 1 - x0] |= hit
    return mask


def silhouette(mesh_world: trimesh.Trimesh, camera: Camera, pad: int = 0) -> Silhouette:
    """Amodal silhouette of a world-space mesh over the region [-pad, W+pad) x [-pad, H+pad).

    `pad > 0` extends the canvas beyond the frame so truncation can be measured by counting the
    pixel centres that fall outside it. The returned mask is cropped to the projection's
    bounding box within that region, so a large pad costs nothing for objects that stay inside.
    """
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    tri = project_triangles(mesh_world, camera)
    finite = np.all(np.isfinite(tri), axis=(1, 2))
    tri = tri[finite]
    if len(tri) == 0:
        return Silhouette(np.zeros((0, 0), dtype=bool), 0, 0)
    lo_x, lo_y = -pad, -pad
    hi_x, hi_y = camera.width + pad, camera.height + pad
    x0 = int(max(np.floor(tri[..., 0].min()), lo_x))
    y0 = int(max(np.floor(tri[..., 1].min()), lo_y))
    x1 = int(min(np.ceil(tri[..., 0].max()) + 1, hi_x))
    y1 = int(min(np.ceil(tri[..., 1].max()) + 1, hi_y))
    if x0 >= x1 or y0 >= y1:
        return Silhouette(np.zeros((0, 0), dtype=bool), 0, 0)
    return Silhouette(rasterize_triangles(tri, x0, y0, x1, y1), x0, y0)
