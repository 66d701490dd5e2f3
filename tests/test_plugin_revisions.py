"""A fix to one plug-in renames only the datasets whose rules use it.

Why: `BUILD_VERSION` enters every dataset's identity and every cached benchmark set's name, so a fix
to the field's weeds used to rename the dice sets a running benchmark trains on. A plug-in's
`revision` moves instead, and only scenes that use that plug-in see it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from scenesmith.benchmark.synthetic import SyntheticSpec
from scenesmith.errors import DatasetMismatch
from scenesmith.pipeline import _check_output_folder, dataset_identity
from scenesmith.procedural.build import BUILD_VERSION, build_tag
from scenesmith.procedural.loader import load_scene
from scenesmith.procedural.registry import GENERATORS, PLACEMENTS, SURFACES

ROOT = Path(__file__).resolve().parents[1]
DICE_B2 = ROOT / "benchmark" / "results" / "runs" / "dice_b2" / "config.json"


def _revise(monkeypatch: pytest.MonkeyPatch, table: dict, name: str, revision: int = 1) -> None:
    monkeypatch.setitem(table, name, dataclasses.replace(table[name], revision=revision))


@pytest.fixture
def unrevised(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every plug-in at revision 0, as if BUILD_VERSION had just moved."""
    for table in (GENERATORS, PLACEMENTS, SURFACES):
        for name in list(table):
            _revise(monkeypatch, table, name, 0)


def _spec(scene: str) -> SyntheticSpec:
    return SyntheticSpec(scene, 8, 7, (64, 64), 2)


def test_the_built_in_scenes_name_the_revised_plug_ins_they_use() -> None:
    """`rows` lays low leaves over the soil and `pack` keeps under shelf boards (revision 1 each):
    the other scenes' identities and cache names are what they were before revisions existed."""
    for scene in ("dice_tray", "conveyor_parts", "retail_shelf"):
        assert build_tag(load_scene(scene).rules) == str(BUILD_VERSION)
        assert "plugin_revisions" not in dataset_identity(load_scene(scene), 0, "png")
    for scene, revised in (("crop_weeds", "placement.rows"), ("aerial_airplanes", "placement.pack")):
        loaded = load_scene(scene)
        assert build_tag(loaded.rules) == f"{BUILD_VERSION}+{revised}-r1"
        assert dataset_identity(loaded, 0, "png")["plugin_revisions"] == {revised: 1}


def test_the_dice_build_2_benchmark_sets_keep_their_names() -> None:
    """The build-2 sweep trains on these cached sets; its config records their names."""
    recorded = json.loads(DICE_B2.read_text())["synthetic_sets"]
    dice = SyntheticSpec(str(ROOT / "benchmark/iterations/dice_tray_v5.yaml"), 120, 7, (640, 640), 8)
    control = SyntheticSpec("conveyor_parts", 120, 7, (640, 640), 8)
    assert (dice.folder_name, control.folder_name) == (recorded["scene"], recorded["control"])


@pytest.mark.parametrize(
    ("table", "name", "tag"),
    [
        (PLACEMENTS, "rows", "placement.rows-r1"),
        (SURFACES, "field", "surface.field-r1"),
        (GENERATORS, "dandelion", "generator.dandelion-r1"),
    ],
)
@pytest.mark.usefixtures("unrevised")
def test_a_revised_plug_in_renames_only_the_scenes_that_use_it(
    monkeypatch: pytest.MonkeyPatch, table: dict, name: str, tag: str
) -> None:
    before = {
        scene: (_spec(scene).folder_name, dataset_identity(load_scene(scene), 3, "png"))
        for scene in ("crop_weeds", "dice_tray")
    }
    _revise(monkeypatch, table, name)
    crop, dice = load_scene("crop_weeds"), load_scene("dice_tray")
    assert build_tag(crop.rules) == f"{BUILD_VERSION}+{tag}"
    assert _spec("crop_weeds").folder_name == before["crop_weeds"][0].replace(
        f"_build{BUILD_VERSION}", f"_build{BUILD_VERSION}+{tag}"
    )
    identity = dataset_identity(crop, 3, "png")
    assert identity["plugin_revisions"] == {tag.removesuffix("-r1"): 1}
    assert identity["dataset_key"] != before["crop_weeds"][1]["dataset_key"]
    assert _spec("dice_tray").folder_name == before["dice_tray"][0]
    assert dataset_identity(dice, 3, "png") == before["dice_tray"][1]


@pytest.mark.usefixtures("unrevised")
def test_revisions_are_listed_in_a_fixed_order(monkeypatch: pytest.MonkeyPatch) -> None:
    _revise(monkeypatch, SURFACES, "field", 2)
    _revise(monkeypatch, PLACEMENTS, "rows")
    _revise(monkeypatch, GENERATORS, "maize", 3)
    assert build_tag(load_scene("crop_weeds").rules) == (
        f"{BUILD_VERSION}+generator.maize-r3+placement.rows-r1+surface.field-r2"
    )


@pytest.mark.usefixtures("unrevised")
def test_many_revisions_name_a_set_by_their_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spelled out, revisions would grow a cache folder's name past file-name limits."""
    crop = load_scene("crop_weeds").rules
    for name in ("maize", "pigweed", "dandelion", "grass_weed"):
        _revise(monkeypatch, GENERATORS, name, 12)
    tag = build_tag(crop)
    assert re.fullmatch(rf"{BUILD_VERSION}\+r[0-9a-f]{{10}}", tag)
    _revise(monkeypatch, GENERATORS, "maize", 13)
    assert build_tag(crop) != tag
    assert len(_spec("crop_weeds").folder_name) < 120


def _folder_made_by(identity: dict, tmp_path: Path) -> Path:
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"identity": identity, "count": 3}))
    (folder / "meta").mkdir()
    (folder / "meta" / "000000.json").write_text("{}")  # begun: one image finished
    return folder


@pytest.mark.usefixtures("unrevised")
@pytest.mark.parametrize("revised_before", [False, True])
def test_a_set_begun_before_or_after_a_revision_is_not_resumed_across_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, revised_before: bool
) -> None:
    """Either side may lack the key; the refusal names it all the same (not just "dataset key")."""
    unrevised = dataset_identity(load_scene("crop_weeds"), 3, "png")
    _revise(monkeypatch, PLACEMENTS, "rows")
    revised = dataset_identity(load_scene("crop_weeds"), 3, "png")
    existing, current = (revised, unrevised) if revised_before else (unrevised, revised)
    with pytest.raises(DatasetMismatch, match=r"differs in: plugin_revisions\)"):
        _check_output_folder(_folder_made_by(existing, tmp_path), current, 3)
