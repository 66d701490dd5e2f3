"""Apron ground vehicles (tugs, vans, fuel/catering trucks, buses) as unlabelled clutter.

Seen from a satellite these are small bright or dark boxes next to the aircraft, which is what a
detector must learn to ignore; a rounded box body and a separate cab are enough at 0.3–0.6 m/px.
Frame: +X forward, origin at the footprint centre on the ground. Body and cab are disjoint closed
boxes (a 5 cm gap between them), so the volume is exact.
"""

from __future__ import annotations

import numpy as np
import trimesh

from scenesmith.procedural.meshes import rounded_box
from scenesmith.procedural.params import Rule, choice_of
from scenesmith.procedural.registry import Generated, GeneratorSpec, register

KINDS = ("tug", "van", "truck", "bus")
# kind → (length, width, height) ranges of the whole vehicle (m) and the cab's share of the length.
DIMENSIONS: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float], float]] = {
    "tug": ((2.5, 3.5), (1.5, 2.0), (1.1, 1.6), 0.0),
    "van": ((4.5, 5.8), (1.9, 2.1), (1.9, 2.5), 0.25),
    "truck": ((7.0, 10.0), (2.4, 2.55), (2.8, 3.5), 0.22),
    "bus": ((11.0, 14.0), (2.5, 3.0), (2.9, 3.2), 0.0),
}
GAP_M = 0.05


class VehicleParams(Rule):
    kind: choice_of(*KINDS) = {"choice": {"values": list(KINDS), "weights": [3, 3, 2, 1]}}


def make_vehicle(params: VehicleParams, rng: np.random.Generator) -> Generated:
    """Apron vehicle (unlabelled clutter): a rounded box body and, for vans and trucks, a cab."""
    kind = str(params.kind.sample(rng))
    length_range, width_range, height_range, cab_share = DIMENSIONS[kind]
    length, width, height = (float(rng.uniform(*r)) for r in (length_range, width_range, height_range))
    cab_length = cab_share * length
    body_length = length - cab_length - (GAP_M if cab_length else 0.0)
    body = rounded_box((body_length, width, height), 0.08 * min(width, height), segments=2)
    body.apply_translation([-length / 2 + body_length / 2, 0.0, height / 2])
    parts = [body]
    if cab_length:
        cab_height = min(height, 2.4) * 0.9
        cab = rounded_box((cab_length, width * 0.98, cab_height), 0.12 * min(width, cab_height), segments=2)
        cab.apply_translation([length / 2 - cab_length / 2, 0.0, cab_height / 2])
        parts.append(cab)
    mesh = trimesh.util.concatenate(parts)
    slots = np.r_[np.zeros(len(body.faces), np.int32), np.ones(len(mesh.faces) - len(body.faces), np.int32)]
    return Generated(
        mesh=mesh,
        face_materials=slots,
        slots=("body", "cab"),
        volume=float(sum(p.volume for p in parts)),
        attributes={"kind": kind, "length_m": length, "width_m": width, "height_m": height},
    )


register(GeneratorSpec(name="vehicle", params=VehicleParams, make=make_vehicle, slots=("body", "cab")))
