"""Physical placement: drop objects onto a support and let pybullet settle them.

Runs in `procedural` (never in Blender), headless and deterministic: the same inputs give the same
resting poses. Objects can land tilted, on an edge or on top of each other; generators with
`up_faces` (dice) then get `iscrowd` instead of a guessed class.

Collision is set up for millimetre parts as well as dice (measured: with pybullet's defaults a
0.7 mm washer sinks through a large concave triangle and resting parts float ~2 mm up):
- surfaces are split into connected pieces and every convex piece (boxes, drums, tray walls)
  collides as its convex hull; only non-convex pieces stay triangle meshes;
- objects placed earlier collide as their convex hulls, as they did while they settled;
- every shape gets a 0.1 mm margin, so objects rest within ~0.2 mm of what they lie on.
An object is kept only if its footprint ends on the support region and it has not sunk into it.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from scenesmith.console import output_silenced
from scenesmith.procedural.description import SceneObject
from scenesmith.procedural.params import Angle, Fraction, Length, Rule, number
from scenesmith.procedural.placements.pack import choose_support, footprint_radius, usable_region
from scenesmith.procedural.registry import (
    Generated,
    Placement,
    PlacementContext,
    PlacementSpec,
    Support,
    register,
)

with output_silenced((1, 2)):  # its build banner goes to stderr
    import pybullet

TIME_STEP = 1.0 / 240.0
MARGIN_M = 1e-4
# A piece is convex when its volume is within this fraction of its convex hull's.
CONVEX_TOLERANCE = 1e-3


class PhysicsRule(Rule):
    method: Literal["physics"]
    support: list[str]
    # Fraction (each side) of a bounded support (tray, belt, board) that objects may use, and of the
    # visible part of a view-limited support (table, ground): on a bare table objects stay central.
    extent_fraction: number(minimum=0.05, maximum=1.0) = 0.9
    view_fraction: number(minimum=0.05, maximum=1.0) = 0.8
    drop_height_m: Length = 0.02
    # Probability that an object is dropped in a uniformly random orientation (else its rest pose).
    tumble: Fraction = 1.0
    yaw_deg: Angle = {"uniform": [0, 360]}
    friction: number(minimum=0.0, maximum=5.0) = 0.5
    restitution: Fraction = 0.1
    max_seconds: number(minimum=0.1, maximum=30.0) = 4.0
    # How far a settled object may sink below the support top (contact slop) and still be kept.
    max_sink_m: Length = 0.001


def static_pieces(obj: SceneObject) -> list[tuple[trimesh.Trimesh, bool]]:
    """World-frame collision pieces of a static object, each flagged convex or not."""
    if obj.instance_id != 0:  # an object placed earlier: its convex hull, as it was simulated
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


def drop_poses(
    rule: PhysicsRule, rng: np.random.Generator, generated: list[Generated], support: Support, region: Any
) -> list[np.ndarray]:
    """Start poses in the support frame: spread in xy, stacked in z so no two overlap at t = 0."""
    centre, half = region
    tumble = rule.tumble.sample(rng)
    height = rule.drop_height_m.sample(rng)
    poses = []
    for item in generated:
        radius = footprint_radius(item)
        extent = float(np.linalg.norm(item.mesh.extents)) / 2
        free = np.maximum(half - radius, 0.0)
        x, y = rng.uniform(centre - free, centre + free)
        if rng.uniform() < tumble:
            rotation = Rotation.random(random_state=rng).as_matrix()
        else:
            yaw = math.radians(rule.yaw_deg.sample(rng))
            rotation = trimesh.transformations.rotation_matrix(yaw, [0, 0, 1])[:3, :3] @ item.rest_rotation
        height += extent
        local = np.eye(4)
        local[:3, :3] = rotation
        local[:3, 3] = [x, y, height]
        height += extent * 1.05
        poses.append(support.pose @ local)
    return poses


def settle(client: int, bodies: list[int], max_steps: int) -> None:
    """Step until every body has been (nearly) still for 1/8 s, or time runs out."""
    still_for = 0
    for _ in range(max_steps):
        pybullet.stepSimulation(physicsClientId=client)
        speeds = [
            np.linalg.norm(v) + 0.05 * np.linalg.norm(w)
            for v, w in (pybullet.getBaseVelocity(b, physicsClientId=client) for b in bodies)
        ]
        still_for = still_for + 1 if max(speeds, default=0.0) < 5e-3 else 0
        if still_for >= 30:
            return


def place_physics(
    rule: PhysicsRule, rng: np.random.Generator, generated: list[Generated], context: PlacementContext
) -> list[Placement | None]:
    support = choose_support(rule.support, context)
    if support is None or not generated:
        return [None] * len(generated)
    centre, half = usable_region(rule, rng, support, context)
    friction, restitution = rule.friction.sample(rng), rule.restitution.sample(rng)
    starts = drop_poses(rule, rng, generated, support, (centre, half))
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
        settle(client, bodies, int(rule.max_seconds.sample(rng) / TIME_STEP))
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
        # Fell off the support (or sank into it): drop it rather than publish an impossible pose.
        inside = np.all(np.abs(local[:, :2]) <= limit)
        placements.append(Placement(pose, support.name) if inside and local[:, 2].min() > -sink else None)
    return placements


register(PlacementSpec("physics", PhysicsRule, place_physics))
