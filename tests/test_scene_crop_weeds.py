"""crop_weeds scene: validates, labels crops and weeds, rows are straight, plants stand on the soil.

The soil height a base should sit on is checked independently of the placement's own lookup: a
vertical ray cast (trimesh) at the soil mesh under each base.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from scenesmith.procedural.build import build_scene
from scenesmith.procedural.loader import SceneRuleError, load_scene

RULES = load_scene("crop_weeds").rules
CATEGORIES = {c.name for c in RULES.categories}
WEEDS = ("pigweed", "dandelion", "grass_weed")
ROW_SPACING = RULES.objects["maize"].placement.row_spacing_m.sample(np.random.default_rng(0))
MIN_PLANT_SPACING = 0.14
SINK = RULES.objects["maize"].placement.sink_m.sample(np.random.default_rng(0))


def _bases(desc, category: str | None = None) -> np.ndarray:  # noqa: ANN001
    return np.array([o.pose[:3, 3] for o in desc.labelled_objects if category in (None, o.category)]).reshape(
        -1, 3
    )


def _field(desc):  # noqa: ANN001, ANN202
    return next(o for o in desc.objects if o.name == "field")


def test_scene_validates_with_a_crop_and_at_least_two_weeds() -> None:
    assert "maize" in CATEGORIES and len(CATEGORIES & set(WEEDS)) >= 2


def test_a_plant_spacing_that_would_take_minutes_an_image_is_refused_at_load() -> None:
    """Each spot along each row is drawn in turn: 1e-5 m took 22 s an image, 1e-6 m with 50 rows hours."""
    with pytest.raises(SceneRuleError, match=r"plant_spacing_m: expected a number >= 0.005 \(got 1e-05\)"):
        load_scene("crop_weeds", ["objects.maize.placement.plant_spacing_m=0.00001"])


@pytest.mark.parametrize("index", range(20))
def test_every_image_has_labelled_plants_of_the_scene(index: int) -> None:
    desc = build_scene(RULES, 0, index)
    labelled = desc.labelled_objects
    assert len(labelled) >= 1
    assert {o.category for o in labelled} <= CATEGORIES
    assert any(o.category == "maize" for o in labelled)


@pytest.mark.parametrize("index", range(8))
def test_crops_lie_on_lines_along_the_ridges(index: int) -> None:
    desc = build_scene(RULES, 1, index)
    local = (
        np.linalg.inv(_field(desc).pose) @ np.c_[_bases(desc, "maize"), np.ones(len(_bases(desc, "maize")))].T
    ).T
    rows = np.round(local[:, 1] / ROW_SPACING)
    assert len(set(rows)) <= 3
    for row in set(rows):
        xy = local[rows == row, :2]
        if len(xy) < 3:
            continue
        slope, offset = np.polyfit(xy[:, 0], xy[:, 1], 1)
        residual = xy[:, 1] - (slope * xy[:, 0] + offset)
        assert np.sqrt(np.mean(residual**2)) < 0.25 * MIN_PLANT_SPACING
        assert abs(slope) < 0.1 and abs(offset - row * ROW_SPACING) < 0.05  # the row is on its crest


@pytest.mark.parametrize("index", range(6))
def test_plant_bases_sit_on_the_soil(index: int) -> None:
    desc = build_scene(RULES, 2, index)
    soil = _field(desc).world_mesh
    bases = _bases(desc)
    origins = bases + np.array([0.0, 0.0, 1.0])
    hits, rays, _ = soil.ray.intersects_location(origins, np.tile([0.0, 0.0, -1.0], (len(bases), 1)))
    ground = np.full(len(bases), -np.inf)
    np.maximum.at(ground, rays, hits[:, 2])
    assert np.isfinite(ground).all()
    # Asked: within 1 cm. In fact exact: the placement reads the same triangles.
    assert np.abs(bases[:, 2] + SINK - ground).max() < 1e-4


@pytest.mark.parametrize("index", [2, 4, 8, 10])  # ridges 3.6–5.5 cm high, 3–13 rosettes and tufts
def test_weed_leaves_lie_on_the_soil_on_ridge_flanks_too(index: int) -> None:
    """No leaf of a low weed goes into the soil, measured by vertical rays at the soil mesh.

    Before leaves followed the soil, grass blades and dandelion leaves sank up to 5 cm into the
    up-slope side of a ridge (the base was level with the soil only under itself)."""
    desc = build_scene(RULES, 2, index)
    assert desc.factors["surfaces.field.ridge_height_m"] > 0.03
    soil = _field(desc).world_mesh
    weeds = [o for o in desc.labelled_objects if o.category in ("dandelion", "grass_weed")]
    assert len(weeds) >= 3
    for weed in weeds:
        leaves = weed.world_mesh.vertices[::3]
        hits, rays, _ = soil.ray.intersects_location(
            leaves + [0.0, 0.0, 1.0], np.tile([0.0, 0.0, -1.0], (len(leaves), 1))
        )
        ground = np.full(len(leaves), -np.inf)
        np.maximum.at(ground, rays, hits[:, 2])
        off_the_base = np.linalg.norm(leaves[:, :2] - weed.pose[:2, 3], axis=1) > 0.02
        depth = (ground - leaves[:, 2])[off_the_base & np.isfinite(ground)]
        assert depth.max() < SINK + 0.004, (weed.name, depth.max())


@pytest.mark.parametrize("index", range(6))
def test_bases_never_coincide_and_weeds_keep_off_crop_stems(index: int) -> None:
    desc = build_scene(RULES, 3, index)
    plants = desc.labelled_objects
    for a, b in itertools.combinations(plants, 2):
        assert np.linalg.norm(a.pose[:2, 3] - b.pose[:2, 3]) >= 0.05 - 1e-9, (a.name, b.name)
    weeds = [o for o in plants if o.category in WEEDS]
    crops = _bases(desc, "maize")[:, :2]
    for weed in weeds:
        assert np.linalg.norm(crops - weed.pose[:2, 3], axis=1).min() >= 0.05 - 1e-9


def test_weeds_appear_across_images() -> None:
    seen = {o.category for k in range(10) for o in build_scene(RULES, 4, k).labelled_objects}
    assert set(WEEDS) <= seen


def test_scene_is_a_pure_function_of_seed_and_index() -> None:
    def signature(desc) -> list:  # noqa: ANN001
        return [(o.name, np.round(o.pose, 12).tolist()) for o in desc.objects] + [desc.factors]

    assert signature(build_scene(RULES, 5, 3)) == signature(build_scene(RULES, 5, 3))


def test_tiny_render_labels_plants_of_the_scene() -> None:
    from scenesmith.pipeline import iter_samples

    overrides = ["render.resolution=[64, 64]", "render.samples=4", "render.denoise=false"]
    (sample,) = iter_samples("crop_weeds", 1, seed=0, overrides=overrides)
    ids = {c.id for c in RULES.categories}
    assert sample.labels.annotations
    assert all(a["category_id"] in ids for a in sample.labels.annotations)
