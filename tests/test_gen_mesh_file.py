"""Users' own meshes (STL/OBJ/GLB via trimesh), placed by the same rules."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import trimesh

from scenesmith.cli import main
from scenesmith.procedural.build import build_scene
from scenesmith.procedural.loader import (
    BUILD_ORDER_KEY,
    SceneRuleError,
    build_order,
    builtin_scenes,
    load_scene,
)

SCENE = """
name: own_meshes
categories: [{id: 1, name: pill}, {id: 2, name: block}]
camera: {kind: top_down, height_m: 0.4, horizontal_fov_deg: 50}
surfaces:
  table: {kind: table, material: {color: "#d0d0d0"}}
objects:
  pills:
    generator: mesh_file
    count: 5
    category: pill
    params: {path: meshes/pill.stl, scale: 0.001}
    palette: [{materials: {body: {color: "#e0c020"}}}]
    placement: {method: pack, support: [table], extent_fraction: 0.8}
  blocks:
    generator: mesh_file
    count: 2
    category: block
    params: {path: meshes/block.glb, scale: 0.001, up_axis: y, rest: upright}
    palette: [{materials: {body: {color: "#3050c0"}}}]
    placement: {method: pack, support: [table], extent_fraction: 0.8}
"""


@pytest.fixture()
def scene_file(tmp_path: Path) -> Path:
    (tmp_path / "meshes").mkdir()
    trimesh.creation.capsule(height=40, radius=10).export(tmp_path / "meshes" / "pill.stl")
    trimesh.creation.box((30, 60, 10)).export(tmp_path / "meshes" / "block.glb")  # 60 mm along +Y = up
    path = tmp_path / "own.yaml"
    path.write_text(SCENE)
    return path


def test_own_meshes_are_loaded_scaled_and_rest_on_the_table(scene_file: Path) -> None:
    rules = load_scene(str(scene_file)).rules
    desc = build_scene(rules, 0, 0)
    pills = [o for o in desc.labelled_objects if o.category == "pill"]
    blocks = [o for o in desc.labelled_objects if o.category == "block"]
    assert len(pills) == 5 and len(blocks) == 2
    for obj in pills + blocks:
        world = obj.world_mesh
        assert world.bounds[0, 2] == pytest.approx(0.0, abs=1e-9)  # resting on the table top
        assert obj.physical["mass_kg"] > 0
    # A capsule's stable pose is lying down: its 60 mm length is horizontal.
    assert all(np.ptp(p.world_mesh.vertices[:, 2]) == pytest.approx(0.02, abs=1e-3) for p in pills)
    # Y-up file, upright: the 60 mm side of the box points up.
    assert all(np.ptp(b.world_mesh.vertices[:, 2]) == pytest.approx(0.06, abs=1e-6) for b in blocks)


@pytest.mark.parametrize(
    ("path", "message"), [("meshes/none.stl", "not found"), ("meshes/bad.obj", "cannot read")]
)
def test_missing_or_unreadable_mesh_exits_2(
    scene_file: Path, capsys: pytest.CaptureFixture[str], path: str, message: str
) -> None:
    (scene_file.parent / "meshes" / "bad.obj").write_text("this is not a mesh\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", str(scene_file), "--set", f"objects.pills.params.path={path}"])
    err = capsys.readouterr().err
    assert (
        exit_info.value.code == 2
        and "objects.pills.params.path" in err
        and message in err
        or "no triangles" in err
    )


def test_mesh_paths_are_relative_to_the_file_that_writes_them(scene_file: Path, tmp_path: Path) -> None:
    """A scene in another folder that extends (or includes from) the mesh scene still finds its meshes."""
    child_dir = tmp_path / "variants"
    child_dir.mkdir()
    child = child_dir / "more_pills.yaml"
    child.write_text(
        "extends: ../own.yaml\n"
        "objects:\n"
        "  pills: {count: 7}\n"
        "  blocks: {include: '../own.yaml#objects.blocks', count: 1}\n"
    )
    groups = load_scene(str(child)).rules.objects
    assert Path(groups["pills"].params.path) == scene_file.parent / "meshes" / "pill.stl"
    assert Path(groups["blocks"].params.path) == scene_file.parent / "meshes" / "block.glb"
    assert groups["pills"].count.value == 7
    # A middle file that sets only a path (its mapping does not say `generator: mesh_file`), extended
    # from a third folder; and params included from a part in a subfolder.
    (child_dir / "meshes").mkdir()
    trimesh.creation.box((10, 10, 10)).export(child_dir / "meshes" / "cube.stl")
    (child_dir / "parts").mkdir()
    (child_dir / "parts" / "lib.yaml").write_text("cube_params: {path: ../meshes/cube.stl, scale: 0.001}\n")
    middle = child_dir / "cubes.yaml"
    middle.write_text(
        "extends: ../own.yaml\nobjects:\n  pills: {params: {path: meshes/cube.stl}}\n"
        "  blocks: {params: {include: 'parts/lib.yaml#cube_params'}}\n"
    )
    (tmp_path / "top").mkdir()
    (tmp_path / "top" / "scene.yaml").write_text("extends: ../variants/cubes.yaml\n")
    for scene in (middle, tmp_path / "top" / "scene.yaml"):
        groups = load_scene(str(scene)).rules.objects
        assert {Path(g.params.path) for g in groups.values()} == {child_dir / "meshes" / "cube.stl"}


def test_a_flat_or_open_mesh_gets_a_clear_answer_instead_of_a_hang(scene_file: Path) -> None:
    """A flat card has no stable pose (trimesh's search never ended on its NaN centre of mass): the
    rules say so and name the key. An open box, and a closed one whose faces wind inside out
    (negative volume), still rest in their poses."""
    meshes = scene_file.parent / "meshes"
    trimesh.Trimesh([[0, 0, 0], [40, 0, 0], [40, 40, 0], [0, 40, 0]], [[0, 1, 2], [0, 2, 3]]).export(
        meshes / "card.obj"
    )
    open_box = trimesh.creation.box((30, 20, 10))
    open_box.update_faces(np.arange(len(open_box.faces)) > 1)  # the lid removed
    open_box.export(meshes / "tray.stl")
    with pytest.raises(
        SceneRuleError, match=r"objects.pills.params: mesh file .*card.obj is flat .* rest: upright"
    ):
        load_scene(str(scene_file), ["objects.pills.params.path=meshes/card.obj"])
    upright = load_scene(
        str(scene_file), ["objects.pills.params.path=meshes/card.obj", "objects.pills.params.rest=upright"]
    )
    assert len(build_scene(upright.rules, 0, 0).labelled_objects) == 7
    tray = load_scene(str(scene_file), ["objects.pills.params.path=meshes/tray.stl"])
    assert len(build_scene(tray.rules, 0, 0).labelled_objects) == 7
    trimesh.creation.box((20, 30, 40)).invert().export(meshes / "inside_out.stl")
    inside_out = load_scene(str(scene_file), ["objects.pills.params.path=meshes/inside_out.stl"])
    assert len(build_scene(inside_out.rules, 0, 0).labelled_objects) == 7


def test_a_path_that_is_not_text_is_refused_not_decoded(scene_file: Path) -> None:
    """YAML `!!binary` bytes are not a path: pydantic's lax mode decoded them into one."""
    pill = base64.b64encode(str(scene_file.parent / "meshes" / "pill.stl").encode()).decode()
    with pytest.raises(
        SceneRuleError, match=r"objects.pills.params.path: expected a mesh file path as text, got bytes$"
    ):
        load_scene(str(scene_file), [f"objects.pills.params.path=!!binary {pill}"])


def test_the_rules_hash_follows_the_mesh_bytes_and_place_not_the_folder(
    scene_file: Path, tmp_path: Path
) -> None:
    """The same project in two folders is one dataset (resume, benchmark cache); an overwritten mesh
    file, or the group pointed at another file, is a new one (a resume would mix objects)."""
    copy = tmp_path / "elsewhere" / "project"
    shutil.copytree(scene_file.parent, copy)
    first = load_scene(str(scene_file))
    assert load_scene(str(copy / scene_file.name)).rules_hash == first.rules_hash
    assert Path(first.rules.objects["pills"].params.path).is_absolute()  # the generator still opens it
    trimesh.creation.capsule(height=50, radius=10).export(copy / "meshes" / "pill.stl")
    assert load_scene(str(copy / scene_file.name)).rules_hash != first.rules_hash
    shutil.copy(scene_file.parent / "meshes" / "pill.stl", scene_file.parent / "meshes" / "same_pill.stl")
    moved = load_scene(str(scene_file), ["objects.pills.params.path=meshes/same_pill.stl"])
    assert moved.rules_hash != first.rules_hash
    (scene_file.parent / "meshes" / "same_pill.stl").unlink()
    with pytest.raises(SceneRuleError, match=r"own.yaml: cannot hash the rules: .*same_pill.stl"):
        _ = moved.rules_hash


def test_an_overwritten_mesh_file_is_read_anew_by_a_long_lived_process(scene_file: Path) -> None:
    """The API server loads many jobs in one process: a cached copy of the old file would be built
    into the dataset that the new file's hash names."""
    brick = scene_file.parent / "meshes" / "brick.stl"

    def block_heights() -> set[float]:
        rules = load_scene(str(scene_file), [f"objects.blocks.params.path={brick}"]).rules
        objects = build_scene(rules, 0, 0).labelled_objects
        return {round(np.ptp(o.world_mesh.vertices[:, 2]), 4) for o in objects if o.category == "block"}

    trimesh.creation.box((10, 30, 10)).export(brick)  # the blocks are Y-up and upright: 30 mm tall
    assert block_heights() == {0.03}
    trimesh.creation.box((10, 40, 10)).export(brick)
    assert block_heights() == {0.04}


def test_scenes_without_mesh_files_hash_their_plain_rules() -> None:
    """The identity of every scene that names no mesh file is the plain rules dump, as it always
    was: their cached datasets and benchmark sets keep their names."""
    iterations = Path(__file__).resolve().parent.parent / "benchmark" / "iterations"
    scenes = [*builtin_scenes(), *sorted(str(p) for p in iterations.glob("*.yaml"))]
    assert len(scenes) > 5
    for scene in scenes:
        loaded = load_scene(scene)
        dumped = loaded.rules.model_dump(mode="json")
        if order := build_order(dumped):  # groups, surfaces or lamps in file order, not sorted
            dumped[BUILD_ORDER_KEY] = order
        plain = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
        assert loaded.canonical_json == plain, scene


def test_an_inside_out_mesh_gets_the_mass_of_its_volume_not_a_negative_one(scene_file: Path) -> None:
    """Its faces wind inward, so its signed volume is negative: the labels said a negative mass and
    physics dropped it as a 1 mg body among the others."""
    inverted = trimesh.creation.box((20, 30, 40))
    inverted.invert()
    assert inverted.volume < 0
    inverted.export(scene_file.parent / "meshes" / "block.glb")
    desc = build_scene(load_scene(str(scene_file)).rules, 0, 0)
    blocks = [o for o in desc.labelled_objects if o.category == "block"]
    outward = trimesh.creation.box((20, 30, 40)).volume * 1e-9  # m³ after the 0.001 scale
    for block in blocks:
        assert block.physical["volume_m3"] == pytest.approx(outward)
        assert block.physical["mass_kg"] > 0
