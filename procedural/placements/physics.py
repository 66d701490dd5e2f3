"""Physical placement: drop objects onto a support and let pybullet settle them.

Runs in `procedural` (never in Blender), headless and deterministic: the same inputs give the same
resting poses. Objects can land tilted, on an edge or on top of each other; generators with
`up_faces` (dice) then get `iscrowd` instead of a guessed class.

Collision is set up for millimetre parts as well as dice (measured: with pybullet's defaults a
0.7 mm washer sinks through a large concave triangle and resting parts float ~2 mm up):
- surfaces are split into connected pieces and every convex piece (boxes, drums, tray walls)
  collides as its convex hull; only non-convex pieces stay triangle meshes;
- objects placed earlier collide as their convex hulls, as they did while they settled; a generator
  may give a `collision_mesh` to use instead of its mesh (a die: its body grown to the pip tops);
- every shape gets a 0.1 mm margin, so objects rest within ~0.2 mm of what they lie on.
An object is kept only if its footprint ends on the support region, it has not sunk into it,
some of it is in the picture, and nothing it rests on was left out. Drop spots lie in the camera's
view of the support (`view_region`).
"""

from __future__ import annotations

import math
import threading
from typing import Literal

import numpy as np
import trimesh
from scipy.spatial.transform import Rotation

from scenesmith.console import output_silenced
from scenesmith.procedural.description import SceneObject
from scenesmith.procedural.params import Angle, Fraction, Length, Rule, Supports, number
from scenesmith.procedural.placements.pack import choose_support, footprint_radius
from scenesmith.procedural.placements.rows import SurfaceTop
from scenesmith.procedural.registry import (
    Generated,
    Placement,
    PlacementContext,
    PlacementSpec,
    Support,
    register,
)
from scenesmith.procedural.view_region import Region, in_view, usable_region

with output_silenced((1, 2)):  # its build banner goes to stderr
    import pybullet

TIME_STEP = 1.0 / 240.0
DROP_TRIES = 16  # drop spots drawn per object; the first in view is used
MARGIN_M = 1e-4
# A piece is convex when its volume is within this fraction of its convex hull's.
CONVEX_TOLERANCE = 1e-3
# At rest: every body below this speed (|v| + 0.05 m · |ω|) for REST_STEPS consecutive steps (1/8 s).
REST_SPEED_M_S = 5e-3
REST_STEPS = 30
# A contact bears weight when its normal points up by more than this (z of the unit normal; 0.25 is
# 75° from vertical), so dice side by side do not count as resting on each other.
RESTING_NORMAL_Z = 0.25


class PhysicsRule(Rule):
    method: Literal["physics"]
    support: Supports
    # Fraction (each side) of a bounded support (tray, board) that objects may use; a view-limited
    # support (table, ground, conveyor belt, apron) takes `view_fraction` of its visible part instead:
    # on a bare table objects stay central.
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


def static_pieces(
    obj: SceneObject, shape: trimesh.Trimesh | None = None
) -> list[tuple[trimesh.Trimesh, bool]]:
    """World-frame collision pieces of a static object, each flagged convex or not.

    An object placed earlier collides as a convex hull, as it was simulated: that of `shape`
    (object frame; see `convex_shape`) when given, else its mesh's.
    """
    if obj.instance_id != 0:
        shape = obj.mesh.convex_hull if shape is None else shape
        return [(shape.copy().apply_transform(obj.pose), True)]
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


class _Client:
    """A pybullet DIRECT client owned by one thread; disconnected when the thread's data goes."""

    def __init__(self) -> None:
        self.id = pybullet.connect(pybullet.DIRECT)

    def __del__(self) -> None:
        try:
            pybullet.disconnect(physicsClientId=self.id)
        except Exception:  # interpreter shutdown, or already gone
            pass


_THREAD = threading.local()


def empty_world() -> int:
    """A pybullet client with an empty world, for this thread only.

    One client per thread, reset between uses: `resetSimulation` gives the same world as a new
    connection (settled poses are bit-identical) without connecting, which costs ~20 ms of CPU
    per call inside a scene build.
    """
    client: _Client | None = getattr(_THREAD, "client", None)
    if client is not None and pybullet.isConnected(physicsClientId=client.id):
        pybullet.resetSimulation(physicsClientId=client.id)
    else:
        client = _THREAD.client = _Client()
    return client.id


def drop_poses(
    rule: PhysicsRule, rng: np.random.Generator, generated: list[Generated], support: Support, region: Region
) -> list[np.ndarray]:
    """Start poses in the support frame: spread in xy, stacked in z so no two overlap at t = 0.

    Each xy is the first of `DROP_TRIES` draws in the region's box that falls in view (the box's
    centre when none does), so every object uses as many draws whether or not the view is a box.
    """
    tumble = rule.tumble.sample(rng)
    height = rule.drop_height_m.sample(rng)
    poses = []
    for item in generated:
        radius = footprint_radius(item)
        extent = float(np.linalg.norm(item.mesh.extents)) / 2
        free = np.maximum(region.half - radius, 0.0)
        candidates = rng.uniform(region.centre - free, region.centre + free, size=(DROP_TRIES, 2))
        seen = region.fits(candidates, radius)
        x, y = candidates[int(np.argmax(seen))] if seen.any() else region.centre
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


def _moving(client: int, bodies: list[int]) -> bool:
    """True while some body moves faster than `REST_SPEED_M_S` (|v| + 0.05 m · |ω|)."""
    for body in bodies:
        (vx, vy, vz), (wx, wy, wz) = pybullet.getBaseVelocity(body, physicsClientId=client)
        speed = math.sqrt(vx * vx + vy * vy + vz * vz) + 0.05 * math.sqrt(wx * wx + wy * wy + wz * wz)
        if speed >= REST_SPEED_M_S:
            return True
    return False


def settle(client: int, bodies: list[int], max_steps: int) -> int:
    """Step until every body has been (nearly) still for 1/8 s, or time runs out; returns the steps."""
    still_for = 0
    for step in range(1, max_steps + 1):
        pybullet.stepSimulation(physicsClientId=client)
        still_for = 0 if _moving(client, bodies) else still_for + 1
        if still_for >= REST_STEPS:
            return step
    return max_steps


def convex_shape(item: Generated) -> trimesh.Trimesh:
    """Points (object frame) whose convex hull an object collides as: its mesh's hull, or its
    generator's `collision_mesh` as is (pybullet reduces a convex shape's points to their hull)."""
    return item.mesh.convex_hull if item.collision_mesh is None else item.collision_mesh


def cached_static_pieces(obj: SceneObject, context: PlacementContext) -> list[tuple[trimesh.Trimesh, bool]]:
    """`static_pieces(obj)`, computed once per scene: later groups reuse the pieces of earlier objects
    (and an object settled by physics collides as the shape it was simulated with)."""
    key = ("physics.static_pieces", id(obj))
    hit = context.memo.get(key)
    if hit is None or hit[0] is not obj or hit[1] is not obj.mesh or not np.array_equal(hit[2], obj.pose):
        simulated = context.memo.get(("physics.shape", id(obj.mesh)))
        shape = simulated[1] if simulated is not None and simulated[0] is obj.mesh else None
        hit = (obj, obj.mesh, np.array(obj.pose, copy=True), static_pieces(obj, shape))
        context.memo[key] = hit
    return hit[3]


def place_physics(
    rule: PhysicsRule, rng: np.random.Generator, generated: list[Generated], context: PlacementContext
) -> list[Placement | None]:
    support = choose_support(rule.support, context)
    if support is None or not generated:
        return [None] * len(generated)
    region = usable_region(rule, rng, support, context)
    if np.any(region.half <= 0):  # the camera sees none of the support
        return [None] * len(generated)
    friction, restitution = rule.friction.sample(rng), rule.restitution.sample(rng)
    starts = drop_poses(rule, rng, generated, support, region)
    sink = rule.max_sink_m.sample(rng)
    client = empty_world()
    try:
        pybullet.setGravity(0, 0, -9.81, physicsClientId=client)
        pybullet.setTimeStep(TIME_STEP, physicsClientId=client)
        statics = [
            _body(client, piece, convex, 0.0, None)
            for obj in context.placed
            for piece, convex in cached_static_pieces(obj, context)
        ]
        bodies = []
        for item, start in zip(generated, starts, strict=True):
            shape = convex_shape(item)
            context.memo[("physics.shape", id(item.mesh))] = (item.mesh, shape)
            mass = max(float(item.volume or item.mesh.convex_hull.volume), 1e-9) * 1000.0
            bodies.append(_body(client, shape, True, mass, start))
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
        supporters = resting_on(client, bodies)
    finally:
        if pybullet.isConnected(physicsClientId=client):
            pybullet.resetSimulation(physicsClientId=client)  # release this scene's shapes now

    world_to_support = np.linalg.inv(support.pose)
    limit = np.asarray(support.half_extent)
    ground = _ground_height(support, context)
    kept: list[bool] = []
    poses = []
    for item, (position, quat_xyzw) in zip(generated, finals, strict=True):
        pose = np.eye(4)
        pose[:3, :3] = Rotation.from_quat(quat_xyzw).as_matrix()
        pose[:3, 3] = position
        world = trimesh.transform_points(item.mesh.vertices, pose)
        local = trimesh.transform_points(world, world_to_support)
        # Fell off the support (or sank into it): drop it rather than publish an impossible pose.
        inside = np.all(np.abs(local[:, :2]) <= limit) and _deepest_below(local, ground) < sink
        # Rolled wholly out of the picture: it would count as placed and show nowhere.
        kept.append(bool(inside and in_view(context.camera, world)))
        poses.append(pose)
    kept = without_unsupported(kept, supporters)
    return [Placement(pose, support.name) if keep else None for pose, keep in zip(poses, kept, strict=True)]


def _deepest_below(local: np.ndarray, ground: SurfaceTop | None) -> float:
    """How far the object's vertices (support frame) reach under the support's surface at their own xy.

    A flat support's surface is the plane z = 0. On relief the lowest vertex need not be the deepest one
    (a box on a slope buries its uphill corner), so every vertex of the lower half is measured.
    """
    z = local[:, 2]
    if ground is None:
        return float(-z.min())
    lower = np.unique(local[z <= z.min() + 0.5 * (z.max() - z.min())], axis=0)
    under = ground.within(lower[:, :2].min(0), lower[:, :2].max(0))
    return float(max(under(vertex[:2]) - vertex[2] for vertex in lower))


def _ground_height(support: Support, context: PlacementContext) -> SurfaceTop | None:
    """The support's surface height (support frame) at support-frame xy, or None for a flat support.

    On relief (a field's soil) it is the height of the soil's mesh, so that an object resting in a furrow
    is not taken for one sunk below the plane and dropped (which kept only the stones on ridge crests).
    """
    owners = [obj for obj in context.placed if obj.name == support.name] if support.relief else []
    if not owners:
        return None
    soil = trimesh.util.concatenate([obj.world_mesh for obj in owners])
    return SurfaceTop(soil.apply_transform(np.linalg.inv(support.pose)), 0.0)


def resting_on(client: int, bodies: list[int]) -> list[set[int]]:
    """For each body (by index), the bodies that bear some of its weight: a touching contact (closer
    than `MARGIN_M`; pybullet also reports near misses) whose normal, from the other body towards
    it, points up by more than `RESTING_NORMAL_Z`. Resting contacts measure within ±0.03 mm."""
    index = {body: i for i, body in enumerate(bodies)}
    supporters: list[set[int]] = [set() for _ in bodies]
    for i, body in enumerate(bodies):
        for contact in pybullet.getContactPoints(bodyA=body, physicsClientId=client):
            other, normal_on_other, distance = contact[2], contact[7], contact[8]
            if other in index and normal_on_other[2] > RESTING_NORMAL_Z and distance <= MARGIN_M:
                supporters[i].add(index[other])
    return supporters


def without_unsupported(kept: list[bool], supporters: list[set[int]]) -> list[bool]:
    """`kept`, also leaving out every object that rests (directly or through others) on one left out:
    published alone it would float over the empty spot."""
    kept = list(kept)
    changed = True
    while changed:
        changed = False
        for i, below in enumerate(supporters):
            if kept[i] and any(not kept[j] for j in below):
                kept[i], changed = False, True
    return kept


register(PlacementSpec("physics", PhysicsRule, place_physics))
