"""Mesh primitives shared by generators and surfaces: pure functions of their parameters.

Meshes are trimesh objects in their own frame; several parts can share one mesh with a per-face
material index (`MultiMaterialMesh`), so e.g. a tray's floor and walls are one object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh


@dataclass
class MultiMaterialMesh:
    """A mesh whose faces index into a list of material slots."""

    mesh: trimesh.Trimesh
    face_materials: np.ndarray
    volume: float


def rounded_box(extents: tuple[float, float, float], radius: float, segments: int = 4) -> trimesh.Trimesh:
    """Watertight box with rounded edges and corners (radius in metres), centred at the origin.

    Each face is a grid whose lines cluster in the rounded band; grid points are pushed onto the
    rounded surface by p' = clamp(p) + r · normalize(p − clamp(p)).
    """
    half = np.asarray(extents, dtype=float) / 2.0
    radius = float(min(radius, half.min() * 0.999))
    if radius <= 0:
        return trimesh.creation.box(extents=extents)
    inner = half - radius

    def axis_ticks(h: float, r: float) -> np.ndarray:
        band = np.linspace(0.0, r, segments + 1)
        return np.unique(np.concatenate([-h + band, [0.0], h - band[::-1]]))

    ticks = [axis_ticks(h, radius) for h in half]
    vertices, faces = [], []
    for axis in range(3):
        u_axis, v_axis = [a for a in range(3) if a != axis]
        uu, vv = np.meshgrid(ticks[u_axis], ticks[v_axis], indexing="ij")
        for sign in (-1.0, 1.0):
            pts = np.zeros((uu.size, 3))
            pts[:, axis] = sign * half[axis]
            pts[:, u_axis] = uu.ravel()
            pts[:, v_axis] = vv.ravel()
            nu, nv = uu.shape
            idx = np.arange(uu.size).reshape(nu, nv) + sum(len(v) for v in vertices)
            quads = np.stack([idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]], axis=-1).reshape(-1, 4)
            tris = np.r_[quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]]
            # Wind every triangle of this face outward (the grid's handedness depends on the axis).
            e1, e2 = np.zeros(3), np.zeros(3)
            e1[u_axis], e2[v_axis] = 1.0, 1.0
            if np.cross(e1, e2)[axis] * sign < 0:
                tris = tris[:, ::-1]
            faces.append(tris)
            vertices.append(pts)
    pts = np.concatenate(vertices)
    clamped = np.clip(pts, -inner, inner)
    offset = pts - clamped
    norm = np.linalg.norm(offset, axis=1, keepdims=True)
    pts = clamped + radius * offset / np.maximum(norm, 1e-12)
    return trimesh.Trimesh(pts, np.concatenate(faces), process=True)  # process merges the seams


def tray(
    inner_width: float, inner_depth: float, wall_height: float, wall_thickness: float, floor_thickness: float
) -> MultiMaterialMesh:
    """An open rectangular tray: slot 0 floor, slot 1 walls. Origin at the floor's top-surface centre."""
    outer_w, outer_d = inner_width + 2 * wall_thickness, inner_depth + 2 * wall_thickness
    floor = trimesh.creation.box(extents=(outer_w, outer_d, floor_thickness))
    floor.apply_translation([0, 0, -floor_thickness / 2])
    walls = []
    for dx, dy, ex, ey in (
        (0, (inner_depth + wall_thickness) / 2, outer_w, wall_thickness),
        (0, -(inner_depth + wall_thickness) / 2, outer_w, wall_thickness),
        ((inner_width + wall_thickness) / 2, 0, wall_thickness, inner_depth),
        (-(inner_width + wall_thickness) / 2, 0, wall_thickness, inner_depth),
    ):
        wall = trimesh.creation.box(extents=(ex, ey, wall_height))
        wall.apply_translation([dx, dy, wall_height / 2])
        walls.append(wall)
    mesh = trimesh.util.concatenate([floor, *walls])
    face_materials = np.r_[
        np.zeros(len(floor.faces), np.int32), np.ones(len(mesh.faces) - len(floor.faces), np.int32)
    ]
    volume = float(floor.volume + sum(w.volume for w in walls))
    return MultiMaterialMesh(mesh=mesh, face_materials=face_materials, volume=volume)


def slab(width: float, depth: float, thickness: float) -> MultiMaterialMesh:
    """A flat box whose top surface is at z = 0 (a table top)."""
    mesh = trimesh.creation.box(extents=(width, depth, thickness))
    mesh.apply_translation([0, 0, -thickness / 2])
    return MultiMaterialMesh(
        mesh=mesh, face_materials=np.zeros(len(mesh.faces), np.int32), volume=float(mesh.volume)
    )
