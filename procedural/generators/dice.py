"""Six-sided dice: a rounded box with geometric pips; the class is the face that ends up on top.

The die is one mesh with two material slots ("body", "pips") so a die and its pips share one
instance id. Faces carry their values in `up_faces`, so the label is read from the final pose
(after packing or physics), never from the value the generator was asked for.
"""

from __future__ import annotations

import functools

import numpy as np
import trimesh
from pydantic import model_validator

from scenesmith.procedural.meshes import rounded_box
from scenesmith.procedural.params import Rule, number
from scenesmith.procedural.registry import Generated, GeneratorSpec, register

# Die faces: value → outward unit normal in the die's frame. Opposite faces sum to 7.
DIE_FACE_NORMALS: dict[int, tuple[float, float, float]] = {
    1: (0.0, 0.0, 1.0),
    6: (0.0, 0.0, -1.0),
    2: (1.0, 0.0, 0.0),
    5: (-1.0, 0.0, 0.0),
    3: (0.0, 1.0, 0.0),
    4: (0.0, -1.0, 0.0),
}
FACE_NAMES = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}

# Pip centres on a face in units of the pip spacing (u, v), standard Western layout.
PIP_LAYOUTS: dict[int, list[tuple[int, int]]] = {
    1: [(0, 0)],
    2: [(-1, -1), (1, 1)],
    3: [(-1, -1), (0, 0), (1, 1)],
    4: [(-1, -1), (-1, 1), (1, -1), (1, 1)],
    5: [(-1, -1), (-1, 1), (0, 0), (1, -1), (1, 1)],
    6: [(-1, -1), (-1, 0), (-1, 1), (1, -1), (1, 0), (1, 1)],
}


# Pips stand this fraction of the edge proud of their face.
PIP_PROUD = 0.005


# A pip's edge keeps at least this fraction of the edge length from where the face starts to round.
PIP_MARGIN = 0.01


class DieParams(Rule):
    size_m: number(minimum=0.001, maximum=1.0) = 0.016
    # Fractions of the edge length. Dice differ: cheap rounded dice have big pips close together.
    corner_radius: number(minimum=0.0, maximum=0.2) = 0.08  # capped so every pip stays on the flat face
    pip_radius: number(minimum=0.03, maximum=0.14) = 0.085
    pip_spacing: number(minimum=0.12, maximum=0.3) = 0.27  # face centre to the outer pips' centres
    # The face the die is laid with when placed analytically (physics ignores it).
    top_face: number(integer=True, minimum=1, maximum=6) = {"randint": [1, 6]}

    @model_validator(mode="after")
    def _pips_of_a_six_never_overlap(self) -> DieParams:
        """A six's pips stand one `pip_spacing` apart in each column, so two pips of `pip_radius`
        overlap into one blob at any draw with spacing < 2 × radius: refused over every draw, as the
        label is read from pips that must stay countable. Touching (spacing = 2 × radius, the edge of
        benchmark/iterations/dice_tray_v8.yaml's ranges) still shows two pips."""
        spacing, radius = self.pip_spacing.support()[0], self.pip_radius.support()[1]
        if spacing < 2 * radius:
            raise ValueError(
                f"pip_spacing down to {spacing:g} with pip_radius up to {radius:g} overlaps the pips of a "
                f"six; expected pip_spacing >= 2 × pip_radius at every draw, here >= {2 * radius:g}"
            )
        return self


@functools.cache
def _face_transform(normal: tuple[float, float, float]) -> np.ndarray:
    """4×4 rotation taking +Z to a face normal (read-only: shared between dice)."""
    matrix = trimesh.geometry.align_vectors([0.0, 0.0, 1.0], normal)
    matrix.flags.writeable = False
    return matrix


def _transformed(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """`points` moved by `matrix` with the arithmetic of `Trimesh.apply_transform`."""
    if trimesh.util.allclose(matrix, np.eye(4), 1e-8):  # apply_transform's early exit
        return points
    return trimesh.transformations.transform_points(points, matrix)


def die_mesh(
    size: float, corner_radius: float, pip_radius: float, pip_spacing: float = 0.27
) -> tuple[trimesh.Trimesh, np.ndarray, float]:
    """(mesh, face material slots, body volume) of a die with edge `size` (m).

    Pips are discs embedded in each face and standing 0.5% of the edge proud of it, so they read
    as dots from any view and never z-fight.
    """
    mesh, slots, body = _die_parts(size, corner_radius, pip_radius, pip_spacing)
    return mesh, slots, float(body.volume)


def flat_corner_radius(corner_radius: float, pip_radius: float, pip_spacing: float) -> float:
    """The corner radius capped so the outer pips lie on the flat part of the face.

    A pip reaching into the rounded band would float off the surface; big pips set wide apart win
    over a big rounding, since the pips are what the label is read from.
    """
    return max(0.0, min(corner_radius, 0.5 - pip_spacing - pip_radius - PIP_MARGIN))


def _die_parts(
    size: float, corner_radius: float, pip_radius: float, pip_spacing: float
) -> tuple[trimesh.Trimesh, np.ndarray, trimesh.Trimesh]:
    """(mesh, face material slots, body without pips) of a die; see `die_mesh`."""
    corner_radius = flat_corner_radius(corner_radius, pip_radius, pip_spacing)
    body = rounded_box((size, size, size), corner_radius * size)
    spacing = pip_spacing * size
    disc_height = 0.04 * size
    # One disc, copied to every pip position: the same vertices (bit for bit) as building each
    # disc with trimesh.creation.cylinder and moving it with apply_translation/apply_transform,
    # without 21 mesh constructions per die.
    disc = trimesh.creation.cylinder(radius=pip_radius * size, height=disc_height, sections=20)
    disc_vertices = np.asarray(disc.vertices)
    lift = size / 2 + PIP_PROUD * size - disc_height / 2
    pip_vertices = []
    for value, normal in DIE_FACE_NORMALS.items():
        to_face = _face_transform(normal)
        for u, v in PIP_LAYOUTS[value]:
            shift = np.eye(4)
            shift[:3, 3] = [u * spacing, v * spacing, lift]
            pip_vertices.append(_transformed(_transformed(disc_vertices, shift), to_face))
    count = len(pip_vertices)
    pip_faces = np.asarray(disc.faces)[None] + (np.arange(count) * len(disc_vertices))[:, None, None]
    pips = trimesh.Trimesh(
        np.concatenate(pip_vertices), pip_faces.reshape(-1, 3), metadata=dict(disc.metadata), process=False
    )
    mesh = trimesh.util.concatenate([body, pips])
    slots = np.r_[np.zeros(len(body.faces), np.int32), np.ones(len(mesh.faces) - len(body.faces), np.int32)]
    return mesh, slots, body


def collision_envelope(body: trimesh.Trimesh) -> trimesh.Trimesh:
    """What physics collides a die as: its rounded body grown to the pip tops on every face.

    Colliding with the pips themselves (the die's convex hull) lets a die that lies on its single
    pip rock on that disc for seconds, so most dice scenes used to hit the time limit unsettled.
    The envelope lies flat, and no pip ever dips into what the die rests on.
    """
    return trimesh.Trimesh(body.vertices * (1.0 + 2.0 * PIP_PROUD), body.faces, process=False)


def rest_rotation(top_value: int) -> np.ndarray:
    """3×3 rotation that lays a die with face `top_value` up."""
    return trimesh.geometry.align_vectors(DIE_FACE_NORMALS[top_value], [0.0, 0.0, 1.0])[:3, :3]


def make_die(params: DieParams, rng: np.random.Generator) -> Generated:
    size = params.size_m.sample(rng)
    corner = params.corner_radius.sample(rng)
    pip = params.pip_radius.sample(rng)
    top = int(params.top_face.sample(rng))
    spacing = params.pip_spacing.sample(rng)  # drawn last: rules written before it keep their dice
    corner = flat_corner_radius(corner, pip, spacing)
    mesh, slots, body = _die_parts(size, corner, pip, spacing)
    return Generated(
        mesh=mesh,
        face_materials=slots,
        slots=("body", "pips"),
        volume=float(body.volume),
        collision_mesh=collision_envelope(body),
        rest_rotation=rest_rotation(top),
        up_faces=[(normal, FACE_NAMES[value]) for value, normal in DIE_FACE_NORMALS.items()],
        attributes={"size_m": size, "corner_radius": corner, "pip_radius": pip, "pip_spacing": spacing},
    )


register(
    GeneratorSpec(
        name="die",
        params=DieParams,
        make=make_die,
        slots=("body", "pips"),
        categories=tuple(FACE_NAMES.values()),
    )
)
