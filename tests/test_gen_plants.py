"""Plant generators (maize, pigweed, dandelion, grass weed): valid, deterministic, as parametrised.

Leaves are thin open sheets, so plants are not watertight and declare no volume; what is checked
instead is that every vertex is finite, no triangle is degenerate, the leaf count and the size
follow the params, and the origin is the base (nothing hangs below the soil except the stem).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scenesmith.procedural.generators import plants

GENERATORS = {
    "maize": (plants.make_maize, plants.MaizeParams),
    "pigweed": (plants.make_pigweed, plants.PigweedParams),
    "dandelion": (plants.make_dandelion, plants.DandelionParams),
    "grass_weed": (plants.make_grass, plants.GrassParams),
}
# Faces of one leaf instance per generator: 2 · (n_along − 1) · (n_across − 1) of its template.
LEAF_FACES = {"maize": 2 * 19 * 4, "pigweed": 2 * 13 * 4, "dandelion": 2 * 39 * 4, "grass_weed": 2 * 15 * 2}


def _make(name: str, seed: int, **params: object):  # noqa: ANN202
    make, model = GENERATORS[name]
    return make(model(**params), np.random.default_rng(seed))


@pytest.mark.parametrize("name", sorted(GENERATORS))
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_plants_are_valid_meshes(name: str, seed: int) -> None:
    item = _make(name, seed)
    mesh = item.mesh
    assert np.isfinite(mesh.vertices).all()
    assert mesh.faces.min() >= 0 and mesh.faces.max() < len(mesh.vertices)
    assert mesh.area_faces.min() > 1e-12
    assert item.volume is None and item.smooth
    assert np.array_equal(item.rest_rotation, np.eye(3))
    assert len(item.face_materials) == len(mesh.faces)
    assert set(np.unique(item.face_materials)) == {0, 1} and item.slots == ("leaf", "stem")
    # Origin at the base: the stem reaches just below the soil line, leaves stay above it.
    leaves = mesh.vertices[mesh.faces[item.face_materials == 0].ravel()]
    assert leaves[:, 2].min() >= plants.LEAF_FLOOR_M - 1e-12
    assert -0.05 < mesh.vertices[:, 2].min() <= 0.0


@pytest.mark.parametrize("name", sorted(GENERATORS))
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_plants_are_deterministic_per_seed(name: str, seed: int) -> None:
    a, b = _make(name, seed), _make(name, seed)
    assert np.array_equal(a.mesh.vertices, b.mesh.vertices) and np.array_equal(a.mesh.faces, b.mesh.faces)
    assert np.array_equal(a.face_materials, b.face_materials) and a.attributes == b.attributes


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_different_seeds_give_different_plants(name: str) -> None:
    shapes = {_make(name, seed).mesh.vertices.tobytes() for seed in range(5)}
    assert len(shapes) == 5


@pytest.mark.parametrize("name", sorted(GENERATORS))
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(3, 9))
def test_leaf_count_follows_params(name: str, seed: int, count: int) -> None:
    extra = {"branch_count": 1} if name == "pigweed" else {}
    item = _make(name, seed, leaf_count=count, **extra)
    assert item.attributes["leaf_count"] == count
    assert (item.face_materials == 0).sum() == count * LEAF_FACES[name]


@pytest.mark.parametrize("name", ["maize", "pigweed", "grass_weed"])
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_plant_height_is_within_the_param_range(name: str, seed: int) -> None:
    item = _make(name, seed, height_m={"uniform": [0.07, 0.2]})
    top = item.mesh.vertices[:, 2].max()
    assert 0.07 - 1e-9 <= top <= 0.2 + 1e-9
    assert item.attributes["height_m"] == pytest.approx(top)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_dandelion_spread_is_within_the_param_range_and_flat(seed: int) -> None:
    item = _make("dandelion", seed, diameter_m={"uniform": [0.1, 0.25]})
    spread = 2 * np.linalg.norm(item.mesh.vertices[:, :2], axis=1).max()
    assert 0.1 - 1e-9 <= spread <= 0.25 + 1e-9
    assert item.mesh.vertices[:, 2].max() < 0.5 * spread  # a rosette, not an upright plant


def test_maize_is_distichous_and_pigweed_spirals() -> None:
    """Maize leaves point two opposite ways; pigweed's spiral (golden angle) covers every direction."""

    def leaf_directions(item, per_leaf: int) -> np.ndarray:  # noqa: ANN001
        leaf_vertices = item.mesh.vertices[item.mesh.faces[item.face_materials == 0]]
        centres = leaf_vertices.reshape(-1, per_leaf * 3, 3).mean(1)[:, :2]
        return np.arctan2(centres[:, 1], centres[:, 0])

    maize = _make("maize", 3, leaf_count=6, azimuth_jitter_deg=0)
    doubled = np.exp(2j * leaf_directions(maize, LEAF_FACES["maize"]))
    assert abs(doubled.mean()) > 0.6  # axial alignment: angles agree modulo 180°
    weed = _make("pigweed", 3, leaf_count=8, branch_count=0)
    assert abs(np.exp(1j * leaf_directions(weed, LEAF_FACES["pigweed"])).mean()) < 0.5
