"""Simple solids for clutter and distractors: rounded boxes of sampled size (rulers, strips, blocks).

Unlabelled groups of these (no `category`) add the edges, shadows and occlusion that real scenes
have around the objects of interest, without adding classes.
"""

from __future__ import annotations

import numpy as np
import trimesh

from scenesmith.procedural.meshes import rounded_box
from scenesmith.procedural.params import Rule, number
from scenesmith.procedural.registry import Generated, GeneratorSpec, register


class BoxParams(Rule):
    size_x_m: number(minimum=1e-4, maximum=100) = 0.1
    size_y_m: number(minimum=1e-4, maximum=100) = 0.1
    size_z_m: number(minimum=1e-4, maximum=100) = 0.1
    corner_radius_m: number(minimum=0, maximum=10) = 0.0


def make_box(params: BoxParams, rng: np.random.Generator) -> Generated:
    """Rounded boxes (one material slot, 'body'), resting on the face spanned by size_x_m and size_y_m."""
    extents = (params.size_x_m.sample(rng), params.size_y_m.sample(rng), params.size_z_m.sample(rng))
    radius = min(params.corner_radius_m.sample(rng), min(extents) / 2 * 0.999)
    mesh = rounded_box(extents, radius)
    return Generated(
        mesh=mesh,
        face_materials=np.zeros(len(mesh.faces), np.int32),
        slots=("body",),
        volume=float(mesh.volume),
        attributes={"extents_m": list(extents), "corner_radius_m": radius},
    )


register(GeneratorSpec(name="box", params=BoxParams, make=make_box, slots=("body",)))


class DottedStripParams(BoxParams):
    """A flat strip with dark round marks on its top face, evenly spaced along its length."""

    dot_count: number(integer=True, minimum=0, maximum=20) = 2
    dot_diameter_fraction: number(minimum=0.01, maximum=0.95) = 0.35  # of the strip width (y)
    dot_inset_fraction: number(minimum=0.0, maximum=5.0) = 0.8  # end dots' centre from each end, in widths


def make_dotted_strip(params: DottedStripParams, rng: np.random.Generator) -> Generated:
    """A rounded strip ('body') with `dot_count` discs ('dots') just proud of its top face.

    Why: the photos of several domains show such clutter (a dice tray's clear lid strip with its two
    dark rivets); dark dots the size of a die's pips are exactly the hard negatives a detector
    trained on plain strips never sees. The discs stand 0.1 mm proud of the top so they render as
    marks on it without z-fighting.
    """
    body = make_box(params, rng)
    size_x, size_y, size_z = body.attributes["extents_m"]
    count = int(params.dot_count.sample(rng))
    radius = params.dot_diameter_fraction.sample(rng) * size_y / 2
    inset = min(params.dot_inset_fraction.sample(rng) * size_y, size_x / 2)
    xs = np.linspace(-size_x / 2 + inset, size_x / 2 - inset, count) if count > 1 else np.zeros(count)
    dots = [
        trimesh.creation.cylinder(radius=radius, height=2e-4, sections=24).apply_translation(
            (x, 0.0, size_z / 2)
        )
        for x in xs
    ]
    mesh = trimesh.util.concatenate([body.mesh, *dots])
    face_materials = np.concatenate([body.face_materials, np.ones(sum(len(d.faces) for d in dots), np.int32)])
    return Generated(
        mesh=mesh,
        face_materials=face_materials,
        slots=("body", "dots"),
        volume=body.volume,
        attributes=body.attributes | {"dot_count": count, "dot_radius_m": radius},
    )


register(
    GeneratorSpec(
        name="dotted_strip", params=DottedStripParams, make=make_dotted_strip, slots=("body", "dots")
    )
)
