"""physics placement: dice settle (at rest before the time limit), colliding as their envelope; a
reused pybullet world settles exactly like a new connection."""

from __future__ import annotations

import numpy as np
import pybullet
import pytest
import trimesh

from scenesmith.procedural.build import build_scene
from scenesmith.procedural.camera import intrinsics, look_at
from scenesmith.procedural.description import Camera, SceneObject
from scenesmith.procedural.generators.dice import PIP_PROUD, DieParams, make_die
from scenesmith.procedural.loader import load_scene
from scenesmith.procedural.placements import physics
from scenesmith.procedural.registry import Generated, PlacementContext, Support

RULES = load_scene("dice_tray").rules


def test_die_collides_as_its_body_grown_to_the_pip_tops() -> None:
    die = make_die(DieParams(size_m=0.016), np.random.default_rng(0))
    envelope = die.collision_mesh
    assert envelope is not None and envelope.is_watertight
    size = die.attributes["size_m"]
    # The envelope's faces are the planes of the pip tops: flat, and no pip stands beyond them.
    np.testing.assert_allclose(envelope.extents, die.mesh.extents, rtol=1e-9)
    assert np.abs(die.mesh.vertices).max() == pytest.approx(size / 2 + PIP_PROUD * size, rel=1e-9)
    # Everything but the pips lies inside it.
    body = die.mesh.submesh([np.flatnonzero(die.face_materials == 0)], append=True)
    assert envelope.convex_hull.contains(body.vertices * 0.999).all()


def test_dice_tray_settles_at_rest_before_the_time_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[tuple[int, int, float]] = []
    settle = physics.settle

    def recording(client: int, bodies: list[int], max_steps: int) -> int:
        steps = settle(client, bodies, max_steps)
        speeds = [
            np.linalg.norm(v) + 0.05 * np.linalg.norm(w)
            for v, w in (pybullet.getBaseVelocity(b, physicsClientId=client) for b in bodies)
        ]
        runs.append((steps, max_steps, max(speeds)))
        return steps

    monkeypatch.setattr(physics, "settle", recording)
    for index in range(8):
        build_scene(RULES, 0, index)
    assert len(runs) == 8
    for steps, max_steps, speed in runs:
        assert steps < max_steps and speed < physics.REST_SPEED_M_S


def test_reused_world_settles_exactly_like_a_new_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    def poses() -> list[bytes]:
        return [o.pose.tobytes() for k in (2, 3) for o in build_scene(RULES, 9, k).objects]

    reused = poses()
    clients: list[int] = []

    def new_connection() -> int:
        clients.append(pybullet.connect(pybullet.DIRECT))
        return clients[-1]

    monkeypatch.setattr(physics, "empty_world", new_connection)
    try:
        assert poses() == reused
    finally:
        for client in clients:
            pybullet.disconnect(physicsClientId=client)


def _block(size: float) -> Generated:
    return Generated(trimesh.creation.box([size] * 3), np.zeros(12, int), ("body",))


def test_an_object_resting_on_one_left_out_is_left_out_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A block out of the picture is left out; one stacked on it and still in view used to be kept,
    floating over the empty spot. The camera sees x in [-0.1, 0.1] of the table."""
    table = SceneObject(0, "table", trimesh.creation.box([1.0, 1.0, 0.02]), np.zeros(12, int), [], np.eye(4))
    table.pose[2, 3] = -0.01
    support = Support("table", np.eye(4), (0.5, 0.5), limit_to_view=True)
    down = look_at(np.array([0.0, 0.0, 2.0]), np.zeros(3), np.array([0.0, 1.0, 0.0]))
    camera = Camera(100, 100, intrinsics(100, 100, 2 * np.degrees(np.arctan(0.05))), down)
    context = PlacementContext({"table": support}, camera, [table])
    under, over, alone = _block(0.06), _block(0.04), _block(0.04)
    spots = {id(under): (0.13, 0.031), id(over): (0.105, 0.08), id(alone): (0.0, 0.021)}

    def fixed_spots(rule, rng, generated, support, region) -> list[np.ndarray]:  # noqa: ANN001
        return [
            trimesh.transformations.translation_matrix([*spots[id(g)][:1], 0.0, spots[id(g)][1]])
            for g in generated
        ]

    monkeypatch.setattr(physics, "drop_poses", fixed_spots)
    rule = physics.PhysicsRule.model_validate({"method": "physics", "support": ["table"], "tumble": 0.0})
    placed = physics.place_physics(rule, np.random.default_rng(0), [under, over, alone], context)
    assert placed[2] is not None and placed[2].pose[2, 3] == pytest.approx(0.02, abs=1e-3)
    assert placed[0] is None  # wholly beyond x = 0.1
    assert placed[1] is None  # in view (x from 0.085), but it rested on the block left out


def test_leaving_out_carries_up_a_stack_and_not_sideways() -> None:
    # 0 left out; 1 rests on 0, 2 on 1; 3 only touches 2 from the side (no supporter).
    assert physics.without_unsupported([False, True, True, True], [set(), {0}, {1}, set()]) == [
        False,
        False,
        False,
        True,
    ]


def test_nothing_is_dropped_where_the_camera_sees_no_support(monkeypatch: pytest.MonkeyPatch) -> None:
    """Looking at the sky, every drop spot was the support's centre, simulated for nothing."""
    table = Support("table", np.eye(4), (0.5, 0.5), limit_to_view=True)
    up = look_at(np.array([0.0, 0.0, 0.2]), np.array([0.0, 0.0, 1.0]), np.array([0.0, 1.0, 0.0]))
    context = PlacementContext({"table": table}, Camera(100, 100, intrinsics(100, 100, 60.0), up), [])

    def no_world() -> int:
        raise AssertionError("simulated a scene with nothing in view")

    monkeypatch.setattr(physics, "empty_world", no_world)
    rule = physics.PhysicsRule.model_validate({"method": "physics", "support": ["table"]})
    assert physics.place_physics(rule, np.random.default_rng(0), [_block(0.04)], context) == [None]


@pytest.mark.parametrize(("gap_m", "rests"), [(0.0, True), (0.0005, False)])
def test_only_a_touching_contact_bears_weight(gap_m: float, rests: bool) -> None:
    """pybullet also reports near misses (0.5 mm apart: a contact at +0.3 mm); they hold nothing up."""
    client = physics.empty_world()
    box = trimesh.creation.box([0.02] * 3)
    bodies = [
        physics._body(client, box, True, 1.0, trimesh.transformations.translation_matrix([0, 0, z]))
        for z in (0.0, 0.02 + gap_m)
    ]
    pybullet.performCollisionDetection(physicsClientId=client)
    assert physics.resting_on(client, bodies) == [set(), {0} if rests else set()]


def test_stones_dropped_on_a_ridged_field_rest_on_the_soil_and_are_kept(tmp_path) -> None:
    """Sinking was measured against the field's flat plane: stones resting in a furrow, below it, were
    dropped as sunk (3 to 10 of 20 kept, the survivors on ridge crests). No kept stone is buried at any
    vertex, the uphill corners of stones on a slope included."""
    from scenesmith.procedural.placements.rows import SurfaceTop

    rules = tmp_path / "stony.yaml"
    rules.write_text(
        "extends: crop_weeds\nname: stony\nobjects:\n  stones:\n    generator: box\n    count: 20\n"
        "    params: {size_x_m: 0.04, size_y_m: 0.03, size_z_m: 0.02, corner_radius_m: 0.005}\n"
        "    density_kg_m3: 2600\n    palette: [{materials: {body: {color: '#909090'}}}]\n"
        "    placement: {method: physics, support: [field], view_fraction: 0.8}\n"
    )
    loaded = load_scene(str(rules))
    for index in range(3):
        scene = build_scene(loaded.rules, 0, index)
        assert scene.factors["objects.stones.count_placed"] >= 18
        (soil,) = [o for o in scene.objects if o.name == "field"]
        top = SurfaceTop(soil.world_mesh, 0.0)
        for stone in (o for o in scene.objects if o.name.startswith("stones")):
            depth = max(top(v[:2]) - v[2] for v in stone.world_mesh.vertices)  # the deepest vertex
            assert depth < 0.001  # the rule's max_sink_m
