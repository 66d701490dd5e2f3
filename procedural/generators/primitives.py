"""Simple solids for clutter and distractors: rounded boxes of sampled size (rulers, strips, blocks).

Unlabelled groups of these (no `category`) add the edges, shadows and occlusion that real scenes
have around the objects of interest, without adding classes.
"""

from __future__ import annotations

import numpy as np

from scenesmith.procedural.meshes import rounded_box
from scenesmith.procedural.params import Rule, number
from scenesmith.procedural.registry import Generated, GeneratorSpec, register


class BoxParams(Rule):
    size_x_m: number(minimum=1e-4, maximum=100) = 0.1
    size_y_m: number(minimum=1e-4, maximum=100) = 0.1
    size_z_m: number(minimum=1e-4, maximum=100) = 0.1
    corner_radius_m: number(minimum=0, maximum=10) = 0.0


def make_box(params: BoxParams, rng: np.random.Generator) -> Generated:
    """Rounded boxes (one material slot, 'body'), lying on their largest face."""
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
