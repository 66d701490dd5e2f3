"""A patch of tilled field soil: a displaced heightfield with crop ridges, plus optional clods.

The soil is a regular grid whose heights are multi-octave value noise (made in numpy from the rng
it is given) plus, optionally, a cosine ridge profile across the surface's y axis with crests at
y = k · furrow_spacing_m: crop rows run along the surface's x axis on the crests (the `rows`
placement puts its rows at the same y). The support is named after the surface and limited to the
view, so plants are placed where the camera looks; placements that need the soil height ask for
the top of the surface object that shares the support's name (see `placements/rows.py`).
Clods/stones are one unlabelled object, named `<surface>_clods`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import trimesh
from pydantic import model_validator

from scenesmith.procedural.description import SceneObject
from scenesmith.procedural.generators.plants import grid_faces
from scenesmith.procedural.materials import sample_material
from scenesmith.procedural.params import (
    Fraction,
    Length,
    MaterialRule,
    Placed,
    PositiveLength,
    Probability,
    Rule,
    number,
)
from scenesmith.procedural.registry import Support, SurfaceResult, SurfaceSpec, register
from scenesmith.procedural.surfaces.tabletop import placed_pose


class ClodRule(Rule):
    """Soil clods and small stones lying on the soil: lumpy flattened spheres."""

    count: number(integer=True, minimum=0, maximum=2000) = {"randint": [20, 80]}
    size_m: PositiveLength = {"uniform": [0.01, 0.04]}
    spread_m: PositiveLength = 1.5  # clods lie within ±spread of the centre
    material: MaterialRule


MAX_GRID_CELLS = 2000  # a side of the soil heightfield: 4 million vertices
MAX_NOISE_CELLS = 4096  # a side of the finest noise lattice


class FieldRule(Placed):
    kind: Literal["field"]
    probability: Probability = 1.0
    size_m: number(minimum=0.1, maximum=50.0) = 5.0
    cell_m: number(minimum=0.002, maximum=0.5) = 0.025  # grid spacing
    roughness_m: Length = 0.01  # amplitude of the noise displacement
    noise_scale_m: PositiveLength = 0.5  # wavelength of the coarsest octave
    octaves: number(integer=True, minimum=1, maximum=8) = 4
    persistence: Fraction = 0.5  # amplitude ratio between successive octaves
    furrow_spacing_m: PositiveLength = 0.5  # crest-to-crest distance of the ridges (= row spacing)
    ridge_height_m: Length = 0.0  # crest-to-furrow height; 0 = flat field
    material: MaterialRule
    clods: ClodRule | None = None

    @model_validator(mode="after")
    def _grids_fit_in_memory(self) -> FieldRule:
        """The finest grids these ranges can draw, checked before an image asks for gigabytes."""
        size, cell = self.size_m.support()[1], self.cell_m.support()[0]
        if size / cell > MAX_GRID_CELLS:
            raise ValueError(
                f"size_m up to {size:g} over cell_m down to {cell:g} is a grid of {size / cell:.0f} cells a "
                f"side; at most {MAX_GRID_CELLS}: raise cell_m or lower size_m"
            )
        finest = self.noise_scale_m.support()[0] / 2 ** (self.octaves.support()[1] - 1)
        if size / finest > MAX_NOISE_CELLS:
            raise ValueError(
                f"noise_scale_m down to {self.noise_scale_m.support()[0]:g} with up to "
                f"{self.octaves.support()[1]:g} octaves puts {size / finest:.0f} noise cells along size_m; "
                f"at most {MAX_NOISE_CELLS}: raise noise_scale_m or lower octaves"
            )
        return self


def value_noise(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, scale: float, octaves: int, persistence: float
) -> np.ndarray:
    """Fractal value noise in about [−1, 1]: random lattice values, smoothstep-interpolated, summed."""
    total, amplitude, norm = np.zeros_like(x), 1.0, 0.0
    for octave in range(octaves):
        cell = scale / 2**octave
        gx, gy = x / cell, y / cell
        ix, iy = np.floor(gx).astype(int), np.floor(gy).astype(int)
        fx, fy = gx - ix, gy - iy
        fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
        ix, iy = ix - ix.min(), iy - iy.min()
        lattice = rng.uniform(-1.0, 1.0, (ix.max() + 2, iy.max() + 2))
        top = lattice[ix, iy] * (1 - fx) + lattice[ix + 1, iy] * fx
        bottom = lattice[ix, iy + 1] * (1 - fx) + lattice[ix + 1, iy + 1] * fx
        total += amplitude * (top * (1 - fy) + bottom * fy)
        norm += amplitude
        amplitude *= persistence
    return total / norm


def soil_heightfield(
    rule: FieldRule, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """(x, y, z) grids in the surface frame and the factors drawn; z is zero-mean over the ridges."""
    size, cell = rule.size_m.sample(rng), rule.cell_m.sample(rng)
    n = max(int(round(size / cell)), 2) + 1
    axis = np.linspace(-size / 2, size / 2, n)
    x, y = np.meshgrid(axis, axis, indexing="ij")
    roughness, scale = rule.roughness_m.sample(rng), rule.noise_scale_m.sample(rng)
    octaves, persistence = int(rule.octaves.sample(rng)), rule.persistence.sample(rng)
    spacing, ridge = rule.furrow_spacing_m.sample(rng), rule.ridge_height_m.sample(rng)
    z = roughness * value_noise(x, y, rng, scale, octaves, persistence)
    z += 0.5 * ridge * np.cos(2 * np.pi * y / spacing)
    factors = {
        "size_m": size,
        "cell_m": cell,
        "roughness_m": roughness,
        "noise_scale_m": scale,
        "octaves": octaves,
        "persistence": persistence,
        "furrow_spacing_m": spacing,
        "ridge_height_m": ridge,
    }
    return x, y, z, factors


def grid_height(x: np.ndarray, y: np.ndarray, z: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Height of the grid mesh (triangulated as `grid_faces`) at points (px, py) inside it."""
    dx, dy = x[1, 0] - x[0, 0], y[0, 1] - y[0, 0]
    gx = np.clip((px - x[0, 0]) / dx, 0, x.shape[0] - 1.000001)
    gy = np.clip((py - y[0, 0]) / dy, 0, x.shape[1] - 1.000001)
    i, j = np.floor(gx).astype(int), np.floor(gy).astype(int)
    u, v = gx - i, gy - j
    z00, z10, z11, z01 = z[i, j], z[i + 1, j], z[i + 1, j + 1], z[i, j + 1]
    # Cells split along the (0,0)–(1,1) diagonal: triangle (00, 10, 11) where u ≥ v, else (00, 11, 01).
    return np.where(u >= v, z00 + u * (z10 - z00) + v * (z11 - z10), z00 + v * (z01 - z00) + u * (z11 - z01))


def clods_mesh(
    rule: ClodRule, rng: np.random.Generator, x: np.ndarray, y: np.ndarray, z: np.ndarray
) -> tuple[trimesh.Trimesh | None, int]:
    """(mesh, count) of lumpy, flattened icospheres half sunk into the soil, merged (surface frame)."""
    count = int(rule.count.sample(rng))
    if count == 0:
        return None, 0
    spread = min(rule.spread_m.sample(rng), float(x.max()) * 0.95)
    base = trimesh.creation.icosphere(subdivisions=1)
    parts = []
    for _ in range(count):
        size = rule.size_m.sample(rng)
        cx, cy = rng.uniform(-spread, spread, 2)
        bumps = 1.0 + rng.uniform(-0.25, 0.25, len(base.vertices))[:, None]
        vertices = (
            base.vertices
            * bumps
            * (size / 2)
            * np.array([1.0, rng.uniform(0.6, 1.0), rng.uniform(0.35, 0.7)])
        )
        rotation = trimesh.transformations.rotation_matrix(rng.uniform(0, 2 * np.pi), [0, 0, 1])[:3, :3]
        ground = float(grid_height(x, y, z, np.array([cx]), np.array([cy]))[0])
        vertices = vertices @ rotation.T + np.array([cx, cy, ground])
        parts.append(trimesh.Trimesh(vertices, base.faces, process=False))
    return trimesh.util.concatenate(parts), count


def build_field(rule: FieldRule, rng: np.random.Generator, name: str) -> SurfaceResult:
    pose, factors = placed_pose(rule, rng)
    x, y, z, field_factors = soil_heightfield(rule, rng)
    factors |= field_factors
    material, material_factors = sample_material(rule.material, rng, f"{name}_soil")
    mesh = trimesh.Trimesh(np.stack([x, y, z], -1).reshape(-1, 3), grid_faces(*x.shape), process=False)
    soil = SceneObject(0, name, mesh, np.zeros(len(mesh.faces), np.int32), [material], pose, smooth=True)
    objects = [soil]
    factors |= {f"material.{k}": v for k, v in material_factors.items()}
    if rule.clods is not None:
        clods, count = clods_mesh(rule.clods, rng, x, y, z)
        clod_material, clod_factors = sample_material(rule.clods.material, rng, f"{name}_clods")
        if clods is not None:
            slots = np.zeros(len(clods.faces), np.int32)
            objects.append(SceneObject(0, f"{name}_clods", clods, slots, [clod_material], pose, smooth=True))
        factors["clods.count"] = count
        factors |= {f"clods.material.{k}": v for k, v in clod_factors.items()}
    half = float(x.max())
    support = Support(name, pose, (half, half), limit_to_view=True, relief=True)
    return SurfaceResult(objects, [support], factors)


register(SurfaceSpec("field", FieldRule, build_field))
