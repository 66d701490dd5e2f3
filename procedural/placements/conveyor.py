"""Physics for millimetre parts: drop and settle small parts on a belt without losing or floating them.

`physics` gives statics to pybullet as concave triangle meshes and keeps pybullet's default collision
margins (about 1 mm per shape). For M4–M12 parts both fail: a 0.7 mm washer or a 4 mm nut sinks
through a large belt triangle, and parts that do rest float 2 mm above it. `conveyor_drop` uses the
same drop and settle (`physics._drop_poses`, `physics._settle`) but collides exactly:

- surfaces are split into their connected pieces (belt, bed, guards, drums), and each convex piece
  becomes a convex hull: box and cylinder assemblies collide exactly and never let parts through;
- parts placed earlier collide as their convex hulls, as they did while they settled;
- every shape gets a 0.1 mm margin, so parts rest within 0.2 mm of what they lie on.

A part is kept only if its whole footprint ends on the support region (the belt's usable width
between the guards) and it did not sink into it; others are dropped, as with `physics`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from scenesmith.procedural.description import SceneObject
from scenesmith.procedural.params import Length
from scenesmith.procedural.placements.pack import choose_support, view_region
from scenesmith.procedural.placements.physics import TIME_STEP, PhysicsRule, _drop_poses, _settle, pybullet
from scenesmith.procedural.registry import Generated, Placement, PlacementContext, PlacementSpec, register

MARGIN_M = 1e-4
# A piece is convex when its volume is within this fraction of its convex hull's.
CONVEX_TOLERANCE = 1e-3


class ConveyorDropRule(PhysicsRule):
    method: Literal["conveyor_drop"]  # type: ignore[assignment]
    # How far a settled part may sink below the support top (contact slop) and still be kept.
    max_sink_m: Length = 0.001


def static_pieces(obj: SceneObject) -> list[tuple[trimesh.Trimesh, bool]]:
    """World-frame collision pieces of a static object, each flagged convex or not."""
    if obj.instance_id != 0:  # a part placed earlier: its convex hull, as it was simulated (cached)
        return [(obj.mesh.convex_hull.copy().apply_transform(obj.pose), True)]
    world = trimesh.Trimesh(obj.world_mesh.vertices, obj.world_mesh.faces)  # merges shading splits
    pieces = []
    for piece in world.split(only_watertight=False):
        convex = piece.is_watertight and piece.volume >= (1 - CONVEX_TOLERANCE) * piece.convex_hull.volume
        pieces.append((piece.convex_hull if convex else piece, convex))
    return pieces


def _body(client: int, mesh: trimesh.Trimesh, convex: bool, mass: float, pose: np.ndarray | None) -> int:
    if convex:
        shape = pybullet.createCollisionShape(
            pybullet.GEOM_MESH, vertices=mesh.vertices.tolist(), physicsClientId=client
        )
    else:
        shape = pybullet.createCollisionShape(
            pybullet.GEOM_MESH,
            vertices=mesh.vertices.tolist(),
            indices=mesh.faces.ravel().tolist(),
            flags=pybullet.GEOM_FORCE_CONCAVE_TRIMESH,
            physicsClientId=client,
        )
    position, orientation = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]
    if pose is not None:
        position, orientation = pose[:3, 3].tolist(), Rotation.from_matrix(pose[:3, :3]).as_quat().tolist()
    body = pybullet.createMultiBody(
        mass, shape, basePosition=position, baseOrientation=orientation, physicsClientId=client
    )
    pybullet.changeDynamics(body, -1, collisionMargin=MARGIN_M, physicsClientId=client)
    return body


def place_conveyor_drop(
    rule: ConveyorDropRule, rng: np.random.Generator, generated: list[Generated], context: PlacementContext
) -> list[Placement | None]:
    support = choose_support(rule.support, context)
    if support is None or not generated:
        return [None] * len(generated)
    centre, half = view_region(support, context)
    half = half * rule.extent_fraction.sample(rng)
    friction, restitution = rule.friction.sample(rng), rule.restitution.sample(rng)
    starts = _drop_poses(rule, rng, generated, support, (centre, half))
    max_steps = int(rule.max_seconds.sample(rng) / TIME_STEP)
    sink = rule.max_sink_m.sample(rng)
    client = pybullet.connect(pybullet.DIRECT)
    try:
        pybullet.setGravity(0, 0, -9.81, physicsClientId=client)
        pybullet.setTimeStep(TIME_STEP, physicsClientId=client)
        statics = [
            _body(client, piece, convex, 0.0, None)
            for obj in context.placed
            for piece, convex in static_pieces(obj)
        ]
        bodies = []
        for item, start in zip(generated, starts, strict=True):
            hull = item.mesh.convex_hull
            mass = max(float(item.volume or hull.volume), 1e-9) * 1000.0
            bodies.append(_body(client, hull, True, mass, start))
        for body in statics + bodies:
            pybullet.changeDynamics(
                body,
                -1,
                lateralFriction=friction,
                restitution=restitution,
                rollingFriction=1e-4,
                spinningFriction=1e-4,
                physicsClientId=client,
            )
        _settle(client, bodies, max_steps)
        finals = [pybullet.getBasePositionAndOrientation(b, physicsClientId=client) for b in bodies]
    finally:
        pybullet.disconnect(physicsClientId=client)

    world_to_support = np.linalg.inv(support.pose)
    limit = np.asarray(support.half_extent)
    placements: list[Placement | None] = []
    for item, (position, quat_xyzw) in zip(generated, finals, strict=True):
        pose = np.eye(4)
        pose[:3, :3] = Rotation.from_quat(quat_xyzw).as_matrix()
        pose[:3, 3] = position
        local = trimesh.transform_points(item.mesh.vertices, world_to_support @ pose)
        inside = np.all(np.abs(local[:, :2]) <= limit)
        placements.append(Placement(pose, support.name) if inside and local[:, 2].min() > -sink else None)
    return placements


register(PlacementSpec("conveyor_drop", ConveyorDropRule, place_conveyor_drop))
