"""Six-sided dice: a rounded box with geometric pips; the class is the face that ends up on top.

The die is one mesh with two material slots ("body", "pips") so a die and its pips share one
instance id. Faces carry their values in `up_faces`, so the label is read from the final pose
(after packing or physics), never from the value the generator was asked for.
"""

from __future__ import annotations

import numpy as np
import trimesh

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


class DieParams(Rule):
    size_m: number(minimum=0.001, maximum=1.0) = 0.016
    corner_radius: number(minimum=0.0, maximum=0.12) = 0.08  # fraction of the edge length
    pip_radius: number(minimum=0.03, maximum=0.1) = 0.085  # fraction of the edge length
    # The face the die is laid with when placed analytically (physics ignores it).
    top_face: number(integer=True, minimum=1, maximum=6) = {"randint": [1, 6]}


def die_mesh(
    size: float, corner_radius: float, pip_radius: float
) -> tuple[trimesh.Trimesh, np.ndarray, float]:
    """(mesh, face material slots, body volume) of a die with edge `size` (m).

    Pips are discs embedded in each face and standing 0.5% of the edge proud of it, so they read
    as dots from any view and never z-fight.
    """
    body = rounded_box((size, size, size), corner_radius * size)
    spacing = 0.27 * size
    disc_height = 0.04 * size
    parts = [body]
    for value, normal in DIE_FACE_NORMALS.items():
        to_face = trimesh.geometry.align_vectors([0.0, 0.0, 1.0], normal)
        for u, v in PIP_LAYOUTS[value]:
            disc = trimesh.creation.cylinder(radius=pip_radius * size, height=disc_height, sections=20)
            disc.apply_translation([u * spacing, v * spacing, size / 2 + 0.005 * size - disc_height / 2])
            disc.apply_transform(to_face)
            parts.append(disc)
    mesh = trimesh.util.concatenate(parts)
    slots = np.r_[np.zeros(len(body.faces), np.int32), np.ones(len(mesh.faces) - len(body.faces), np.int32)]
    return mesh, slots, float(body.volume)


def rest_rotation(top_value: int) -> np.ndarray:
    """3×3 rotation that lays a die with face `top_value` up."""
    return trimesh.geometry.align_vectors(DIE_FACE_NORMALS[top_value], [0.0, 0.0, 1.0])[:3, :3]


def make_die(params: DieParams, rng: np.random.Generator) -> Generated:
    size = params.size_m.sample(rng)
    corner = params.corner_radius.sample(rng)
    pip = params.pip_radius.sample(rng)
    top = int(params.top_face.sample(rng))
    mesh, slots, volume = die_mesh(size, corner, pip)
    return Generated(
        mesh=mesh,
        face_materials=slots,
        slots=("body", "pips"),
        volume=volume,
        rest_rotation=rest_rotation(top),
        up_faces=[(normal, FACE_NAMES[value]) for value, normal in DIE_FACE_NORMALS.items()],
        attributes={"size_m": size, "corner_radius": corner, "pip_radius": pip},
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
