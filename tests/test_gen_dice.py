"""The die generator: deterministic per seed, valid geometry, class read from the final pose."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh
from hypothesis import given, settings
from hypothesis import strategies as st

from scenesmith.procedural.build import up_category
from scenesmith.procedural.generators.dice import DIE_FACE_NORMALS, DieParams, make_die


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_die_is_deterministic_and_valid_for_any_seed(seed: int) -> None:
    params = DieParams(size_m={"uniform": [0.008, 0.03]}, corner_radius={"uniform": [0.0, 0.12]})
    a = make_die(params, np.random.default_rng(seed))
    b = make_die(params, np.random.default_rng(seed))
    assert np.array_equal(a.mesh.vertices, b.mesh.vertices) and np.array_equal(a.mesh.faces, b.mesh.faces)
    assert np.isfinite(a.mesh.vertices).all()
    assert a.volume > 0 and a.volume <= a.attributes["size_m"] ** 3
    assert (a.mesh.area_faces > 0).all()
    body = a.mesh.submesh([np.flatnonzero(a.face_materials == 0)], append=True)
    assert body.is_watertight


@settings(max_examples=30, deadline=None)
@given(top=st.integers(1, 6), yaw=st.floats(0, 2 * np.pi), tilt=st.floats(0, 40))
def test_class_is_the_face_within_15_degrees_of_up_else_iscrowd(top: int, yaw: float, tilt: float) -> None:
    die = make_die(DieParams(top_face=top), np.random.default_rng(0))
    pose = np.eye(4)
    pose[:3, :3] = (
        trimesh.transformations.rotation_matrix(np.radians(tilt), [1, 0, 0])[:3, :3]
        @ trimesh.transformations.rotation_matrix(yaw, [0, 0, 1])[:3, :3]
        @ die.rest_rotation
    )
    category, iscrowd, measured_tilt = up_category(die, pose)
    names = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
    if tilt < 44:  # the same face is still the most upward one
        assert category == names[top]
    assert np.isclose(measured_tilt, tilt, atol=1e-6) or tilt >= 44
    assert iscrowd == (measured_tilt > 15)
    assert set(DIE_FACE_NORMALS) == set(names)


# Big pips, and pips close together: a six's pips may touch, never overlap (refused at load).
@pytest.mark.parametrize(
    ("radii", "spacings"),
    [({"uniform": [0.03, 0.14]}, {"uniform": [0.28, 0.3]}), ({"uniform": [0.03, 0.06]}, 0.12)],
    ids=["big", "close"],
)
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_big_close_pips_and_round_corners_keep_every_pip_on_the_flat_face(
    radii: object, spacings: object, seed: int
) -> None:
    params = DieParams(corner_radius={"uniform": [0.0, 0.2]}, pip_radius=radii, pip_spacing=spacings)
    die = make_die(params, np.random.default_rng(seed))
    size, corner = die.attributes["size_m"], die.attributes["corner_radius"]
    pip_radius, spacing = die.attributes["pip_radius"], die.attributes["pip_spacing"]
    assert corner <= 0.2 and corner + spacing + pip_radius <= 0.5 - 0.01 + 1e-12
    pips = die.mesh.submesh([np.flatnonzero(die.face_materials == 1)], append=True)
    top = pips.vertices[pips.vertices[:, 2] > size / 2 - 0.05 * size]  # the "one" pip's face (+z)
    assert np.abs(top[:, :2]).max() <= (0.5 - corner) * size + 1e-9
    # the six face (−z) shows the full layout: its outer pips sit `spacing` from the centre
    bottom = pips.vertices[pips.vertices[:, 2] < -size / 2 + 0.05 * size]
    assert np.isclose(np.abs(bottom[:, 0]).max(), (spacing + pip_radius) * size, rtol=1e-6)


def test_rules_without_pip_spacing_keep_the_standard_layout() -> None:
    die = make_die(DieParams(), np.random.default_rng(0))
    assert die.attributes["pip_spacing"] == 0.27
    assert die.attributes["corner_radius"] == 0.08
