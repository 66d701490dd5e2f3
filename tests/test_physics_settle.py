"""physics placement: dice settle (at rest before the time limit), colliding as their envelope; a
reused pybullet world settles exactly like a new connection."""

from __future__ import annotations

import numpy as np
import pybullet
import pytest

from scenesmith.procedural.build import build_scene
from scenesmith.procedural.generators.dice import PIP_PROUD, DieParams, make_die
from scenesmith.procedural.loader import load_scene
from scenesmith.procedural.placements import physics

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
