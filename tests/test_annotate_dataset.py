"""Labels, dataset files, COCO, YOLO and contact sheet on a hand-built scene, without Blender.

Render passes are synthesised by ray casting pixel centres with trimesh, independently of the
rasterizer that `annotate` uses for amodal masks.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import trimesh
import yaml
from pycocotools import mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from scenesmith.annotate.box_convention import BoxConvention
from scenesmith.annotate.contact_sheet import instance_color, labelled_tile, make_contact_sheet
from scenesmith.annotate.dataset_writer import (
    completed_indices,
    read_depth,
    read_instance,
    write_coco,
    write_sample,
)
from scenesmith.annotate.labels import label_image
from scenesmith.annotate.yolo import export_yolo
from scenesmith.errors import UserError
from scenesmith.procedural.description import Camera, Material, SceneDescription, SceneObject, World
from scenesmith.render.passes import RenderPasses

W, H, FOCAL, CAM_Z = 64, 48, 60.0, 1.0
CATEGORIES = [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}, {"id": 3, "name": "three"}]
NAMES = {c["id"]: c["name"] for c in CATEGORIES}


def look_down_camera() -> Camera:
    """Camera at (0, 0, CAM_Z) looking straight down, image +X = world +X, image +Y = world −Y."""
    cam_to_world = np.eye(4)
    cam_to_world[:3, :3] = np.diag([1.0, -1.0, -1.0])
    cam_to_world[:3, 3] = [0.0, 0.0, CAM_Z]
    K = np.array([[FOCAL, 0.0, W / 2], [0.0, FOCAL, H / 2], [0.0, 0.0, 1.0]])
    return Camera(width=W, height=H, K=K, world_to_camera=np.linalg.inv(cam_to_world))


def plate(
    iid: int, x: tuple[float, float], y: tuple[float, float], z: tuple[float, float], category_id: int | None
) -> SceneObject:
    """Axis-aligned box spanning the given world ranges; the mesh is centred, the pose translates."""
    extents = [x[1] - x[0], y[1] - y[0], z[1] - z[0]]
    mesh = trimesh.creation.box(extents=extents)
    pose = trimesh.transformations.rotation_matrix(0.0, [0, 0, 1])
    pose[:3, 3] = [sum(x) / 2, sum(y) / 2, sum(z) / 2]
    return SceneObject(
        instance_id=iid,
        name=f"obj{iid}",
        mesh=mesh,
        face_materials=np.zeros(len(mesh.faces), dtype=np.int32),
        materials=[Material("grey", (0.5, 0.5, 0.5))],
        pose=pose,
        category_id=category_id,
        category=NAMES.get(category_id),
        physical={"mass_kg": np.float64(0.01), "volume_m3": float(np.prod(extents))},
        attributes={"colour": "red"},
    )


def make_scene() -> SceneDescription:
    objects = [
        plate(10, (-1, 1), (-1, 1), (-0.01, 0.0), None),  # unlabelled table
        plate(1, (-0.35, -0.15), (0.0, 0.2), (0.02, 0.05), 1),  # fully visible
        plate(2, (0.05, 0.25), (-0.3, -0.1), (0.0, 0.005), 2),  # right half occluded by 3
        plate(3, (0.105, 0.3), (-0.25, -0.05), (0.3, 0.305), 3),  # occluder
        plate(4, (-0.633, -0.433), (0.1, 0.3), (0.0, 0.005), 1),  # cut by the left frame edge
        plate(5, (-0.3, -0.2), (0.05, 0.15), (0.0, 0.005), 2),  # hidden under 1
        plate(6, (0.3, 0.45), (0.1, 0.3), (0.0, 0.005), 3),  # crowd
    ]
    objects[-1].iscrowd = True
    return SceneDescription(
        scene_name="test_plates",
        image_index=0,
        seed=123,
        camera=look_down_camera(),
        objects=objects,
        lights=[],
        world=World((0.1, 0.1, 0.1), 1.0),
        categories=CATEGORIES,
        factors={"camera.height": CAM_Z, "plates": np.int64(6)},
    )


def pixel_rays(camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    jj, ii = np.meshgrid(np.arange(camera.width), np.arange(camera.height))
    pix = np.stack([jj.ravel() + 0.5, ii.ravel() + 0.5, np.ones(jj.size)], axis=1)
    cam_to_world = camera.camera_to_world
    dirs = pix @ np.linalg.inv(camera.K).T @ cam_to_world[:3, :3].T
    return np.broadcast_to(cam_to_world[:3, 3], dirs.shape).copy(), dirs


def raycast_passes(objects: list[SceneObject], camera: Camera) -> RenderPasses:
    """Instance, depth and normal passes of the given objects by ray casting pixel centres."""
    meshes = [o.world_mesh for o in objects]
    combined = trimesh.util.concatenate(meshes)
    face_owner = np.repeat([o.instance_id for o in objects], [len(m.faces) for m in meshes])
    origins, dirs = pixel_rays(camera)
    locations, ray_idx, tri_idx = combined.ray.intersects_location(origins, dirs, multiple_hits=False)
    instance = np.zeros(camera.height * camera.width, dtype=np.int32)
    depth = np.full(camera.height * camera.width, np.nan, dtype=np.float32)
    normal = np.zeros((camera.height * camera.width, 3), dtype=np.float32)
    instance[ray_idx] = face_owner[tri_idx]
    depth[ray_idx] = (np.c_[locations, np.ones(len(locations))] @ camera.world_to_camera.T)[:, 2]
    normal[ray_idx] = combined.face_normals[tri_idx]
    rgb = (np.stack([instance * 37 % 256, instance * 91 % 256, instance * 53 % 256], -1)).astype(np.uint8)
    shape = (camera.height, camera.width)
    return RenderPasses(
        rgb=rgb.reshape(*shape, 3),
        instance=instance.reshape(shape),
        depth=depth.reshape(shape),
        normal=normal.reshape(*shape, 3),
        settings={"samples": 1, "view_transform": "Standard"},
        timings={"render": 0.0},
    )


@pytest.fixture(scope="module")
def scene() -> SceneDescription:
    return make_scene()


@pytest.fixture(scope="module")
def passes(scene: SceneDescription) -> RenderPasses:
    return raycast_passes(scene.objects, scene.camera)


@pytest.fixture(scope="module")
def labels(scene: SceneDescription, passes: RenderPasses):
    return label_image(scene, passes, image_id=1)


def by_instance(items: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {item["instance_id"]: item for item in items}


def test_visibility_and_truncation(scene, passes, labels) -> None:
    objs = by_instance(labels.objects)
    assert set(objs) == {1, 2, 3, 4, 5, 6}
    assert objs[1]["visibility"] == 1.0 and objs[1]["truncation"] == 0.0
    assert objs[3]["visibility"] == 1.0
    # Half-occluded: also equal to the ray-cast ratio visible / (object rendered alone).
    alone = raycast_passes([scene.object_by_instance(2)], scene.camera).instance == 2
    assert objs[2]["unoccluded_pixels"] == alone.sum()
    assert objs[2]["visibility"] == pytest.approx((passes.instance == 2).sum() / alone.sum())
    assert objs[2]["visibility"] == pytest.approx(0.5, abs=0.1)
    assert objs[2]["truncation"] == 0.0
    assert objs[4]["truncation"] == pytest.approx(0.5, abs=0.05)
    assert objs[4]["visibility"] == 1.0


def test_fully_hidden_object_is_only_in_meta(labels) -> None:
    hidden = by_instance(labels.objects)[5]
    assert hidden["visibility"] == 0.0 and hidden["visible_pixels"] == 0
    assert hidden["annotation_id"] is None and hidden["bbox"] is None
    assert hidden["unoccluded_pixels"] > 0
    assert 5 not in by_instance(labels.annotations)


def test_annotation_fields(passes, labels) -> None:
    anns = by_instance(labels.annotations)
    assert set(anns) == {1, 2, 3, 4, 6}
    assert anns[6]["iscrowd"] == 1 and anns[1]["iscrowd"] == 0
    for iid, ann in anns.items():
        visible = passes.instance == iid
        assert ann["id"] == 1000 + iid and ann["image_id"] == 1
        assert ann["area"] == visible.sum()
        np.testing.assert_array_equal(mask_util.decode(ann["segmentation"]).astype(bool), visible)
        rle = {"size": ann["segmentation"]["size"], "counts": ann["segmentation"]["counts"].encode()}
        assert list(mask_util.toBbox(rle)) == ann["bbox"]
    # Fully visible object: visible box within 1 px of the analytic projected box.
    x, y, w, h = anns[1]["bbox"]
    ax, ay, aw, ah = anns[1]["amodal_bbox"]
    assert abs(x - ax) <= 1 and abs(y - ay) <= 1
    assert abs((x + w) - (ax + aw)) <= 1 and abs((y + h) - (ay + ah)) <= 1
    # Truncated object: the amodal box extends past the left edge, the visible one does not.
    assert anns[4]["amodal_bbox"][0] < 0 and anns[4]["bbox"][0] == 0


def test_meta_poses_and_camera(scene, labels) -> None:
    obj = by_instance(labels.objects)[1]
    np.testing.assert_allclose(obj["pose_world"]["translation"], [-0.25, 0.1, 0.035])
    np.testing.assert_allclose(obj["pose_world"]["quaternion_wxyz"], [1, 0, 0, 0], atol=1e-12)
    # Object → camera: 0.965 m in front, left (-X) and up (-Y) in the image.
    np.testing.assert_allclose(obj["pose_camera"]["translation"], [-0.25, -0.1, 0.965], atol=1e-12)
    np.testing.assert_allclose(np.abs(obj["pose_camera"]["quaternion_wxyz"]), [0, 1, 0, 0], atol=1e-12)
    assert obj["physical"]["mass_kg"] == 0.01 and obj["attributes"] == {"colour": "red"}
    cam = labels.camera
    np.testing.assert_allclose(np.array(cam["camera_to_world"]) @ np.array(cam["world_to_camera"]), np.eye(4))
    assert labels.scene["factors"] == {"camera.height": 1.0, "plates": 6}
    assert labels.scene["seed"] == 123


def test_poses_and_camera_under_a_tilted_offset_camera_reproject_onto_the_mask() -> None:
    """The look-down camera's world→camera matrix is its own inverse, so pose tests under it could not
    tell world→camera from camera→world. Here the camera is tilted, offset and turned, the object
    yawed: its published camera-frame pose must be world→camera × world pose, and its origin, projected
    with the published K and world→camera alone, must fall inside its mask."""
    from scipy.spatial.transform import Rotation

    from scenesmith.procedural.camera import look_at

    tilted = make_scene()
    world_to_camera = look_at(
        np.array([0.3, -0.5, 0.9]), np.array([-0.2, 0.1, 0.0]), np.array([1.0, 0.2, 0.0])
    )
    assert not np.allclose(world_to_camera, np.linalg.inv(world_to_camera))
    tilted.camera = Camera(width=W, height=H, K=tilted.camera.K, world_to_camera=world_to_camera)
    obj = tilted.objects[1]
    obj.pose = obj.pose @ trimesh.transformations.rotation_matrix(np.radians(35), [0, 0, 1])
    passes = raycast_passes(tilted.objects, tilted.camera)
    labels = label_image(tilted, passes, image_id=1)
    published = labels.camera
    np.testing.assert_allclose(published["world_to_camera"], world_to_camera, atol=1e-12)
    entry = by_instance(labels.objects)[obj.instance_id]
    expected = world_to_camera @ obj.pose
    np.testing.assert_allclose(entry["pose_camera"]["translation"], expected[:3, 3], atol=1e-9)
    rotation = Rotation.from_quat(entry["pose_camera"]["quaternion_wxyz"], scalar_first=True).as_matrix()
    np.testing.assert_allclose(rotation, expected[:3, :3], atol=1e-9)
    origin = np.array(published["world_to_camera"]) @ np.append(obj.pose[:3, 3], 1.0)
    u, v, w = np.array(published["K"]) @ origin[:3]
    assert passes.instance[int(v / w), int(u / w)] == obj.instance_id


def test_instance_ids_must_fit_annotation_ids(scene, passes) -> None:
    bad = make_scene()
    bad.objects[1].instance_id = 1000
    with pytest.raises(ValueError, match="instance_id"):
        label_image(bad, passes, image_id=1)


def test_a_sample_that_cannot_be_written_whole_leaves_no_file(scene, passes, tmp_path: Path) -> None:
    """A category that fits no uint8 mask was found after the image and instance PNGs were written, and
    a depth pass of the wrong size was written as it was."""
    from dataclasses import replace

    bad = make_scene()
    bad.objects[1].category_id = 300
    with pytest.raises(ValueError, match="category_id 300"):
        write_sample(tmp_path / "a", 0, bad, passes)
    small_depth = replace(passes, depth=passes.depth[:-1])
    with pytest.raises(ValueError, match=r"depth pass is \(\d+, \d+\), camera is"):
        write_sample(tmp_path / "b", 0, scene, small_depth)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, scene, passes) -> Path:
    out = tmp_path_factory.mktemp("dataset")
    write_sample(out, 0, scene, passes)
    second = make_scene()
    second.image_index = 1
    second.objects[3].pose[:3, 3] += [0.3, 0.0, 0.0]  # move the occluder away
    write_sample(out, 1, second, raycast_passes(second.objects, second.camera), image_format="jpg")
    write_coco(out, info={"description": "test"})
    return out


def test_sample_files(dataset: Path, passes: RenderPasses) -> None:
    assert completed_indices(dataset) == {0, 1}
    assert (dataset / "images/000000.png").exists() and (dataset / "images/000001.jpg").exists()
    np.testing.assert_array_equal(read_instance(dataset / "masks/000000_instance.png"), passes.instance)
    raw = cv2.imread(str(dataset / "masks/000000_instance.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    semantic = cv2.imread(str(dataset / "masks/000000_semantic.png"), cv2.IMREAD_UNCHANGED)
    assert semantic.dtype == np.uint8
    expected = np.select([passes.instance == i for i in (1, 2, 3, 4, 5, 6)], [1, 2, 3, 1, 2, 3], 0)
    np.testing.assert_array_equal(semantic, expected)
    depth = read_depth(dataset / "depth/000000.exr")
    assert depth.dtype == np.float32
    np.testing.assert_array_equal(depth, passes.depth)
    rgb = cv2.cvtColor(cv2.imread(str(dataset / "images/000000.png")), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(rgb, passes.rgb)
    meta = json.loads((dataset / "meta/000001.json").read_text())
    assert meta["image"] == {"id": 2, "file_name": "images/000001.jpg", "width": W, "height": H}
    assert meta["files"]["depth"] == "depth/000001.exr"
    assert meta["render"]["settings"]["samples"] == 1
    assert not [p for p in dataset.rglob(".*")]  # no temp files left


def test_coco_loads_and_evaluates(dataset: Path) -> None:
    coco = COCO(str(dataset / "annotations.json"))
    assert sorted(coco.getImgIds()) == [1, 2]
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["one", "two", "three"]
    assert coco.dataset["info"] == {"description": "test"}
    dets = [dict(a, score=1.0) for a in coco.dataset["annotations"] if not a["iscrowd"]]
    for iou_type in ("bbox", "segm"):
        ev = COCOeval(coco, coco.loadRes([dict(d) for d in dets]), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        assert ev.stats[0] == pytest.approx(1.0)


def test_yolo_export(dataset: Path, tmp_path: Path) -> None:
    data_yaml = export_yolo(dataset, tmp_path / "yolo")
    data = yaml.safe_load(data_yaml.read_text())
    assert data["names"] == {0: "one", 1: "two", 2: "three"} and data["nc"] == 3
    image = tmp_path / "yolo/images/000000.png"
    assert image.is_symlink() and image.read_bytes() == (dataset / "images/000000.png").read_bytes()
    rows = [line.split() for line in (tmp_path / "yolo/labels/000000.txt").read_text().splitlines()]
    coco = json.loads((dataset / "annotations.json").read_text())
    anns = [a for a in coco["annotations"] if a["image_id"] == 1 and not a["iscrowd"]]
    assert len(rows) == len(anns) == 4  # crowd (6) skipped, hidden (5) absent
    for row, ann in zip(rows, anns, strict=True):
        x, y, w, h = ann["bbox"]
        assert int(row[0]) == ann["category_id"] - 1
        expected = [(x + w / 2) / W, (y + h / 2) / H, w / W, h / H]
        np.testing.assert_allclose([float(v) for v in row[1:]], expected, atol=1e-6)


def test_yolo_export_refuses_labels_that_lag_the_finished_images(dataset: Path, tmp_path: Path) -> None:
    """A run that grew a finished set and was stopped leaves the older annotations.json: exporting it
    would silently leave out the newer images, which stats and the contact sheet (meta/) count."""
    grown = shutil.copytree(dataset, tmp_path / "grown")
    coco = json.loads((grown / "annotations.json").read_text())
    older = {
        **coco,
        "images": coco["images"][:1],
        "annotations": [a for a in coco["annotations"] if a["image_id"] == 1],
    }
    (grown / "annotations.json").write_text(json.dumps(older))
    with pytest.raises(UserError, match=r"annotations\.json: lists 1 images, but 2 are finished"):
        export_yolo(grown, tmp_path / "yolo")
    assert not (tmp_path / "yolo").exists()


def test_yolo_export_again_replaces_the_earlier_export_and_refuses_foreign_folders(
    dataset: Path, tmp_path: Path
) -> None:
    out = tmp_path / "yolo"
    export_yolo(dataset, out)
    (out / "images/000099.png").write_bytes(b"an image of a larger, earlier export")
    (out / "labels/000099.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    (out / "labels.cache").write_bytes(b"Ultralytics' cache of the earlier labels")
    (out / "data.yaml").unlink()  # as if the earlier export was killed before its last file
    export_yolo(dataset, out, convention=BoxConvention(square=True))
    assert sorted(p.name for p in (out / "labels").iterdir()) == ["000000.txt", "000001.txt"]
    assert sorted(p.name for p in (out / "images").iterdir()) == ["000000.png", "000001.jpg"]
    assert not (out / "labels.cache").exists() and (out / "data.yaml").is_file()
    assert "square" in yaml.safe_load((out / "data.yaml").read_text())["box_convention"]
    foreign = tmp_path / "photos"
    (foreign / "images").mkdir(parents=True)
    (foreign / "images/holiday.jpg").write_bytes(b"a user's own photo")
    with pytest.raises(UserError, match="holds no scenesmith YOLO export"):
        export_yolo(dataset, foreign)
    assert (foreign / "images/holiday.jpg").read_bytes() == b"a user's own photo"
    (out / "notes.txt").write_text("a user's notes")
    with pytest.raises(UserError, match="notes.txt: not part of a YOLO export"):
        export_yolo(dataset, out)


def test_a_re_export_cut_short_leaves_no_data_yaml_of_the_earlier_labels_and_copies_whole(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-export with another box convention, stopped halfway: the old data.yaml said `exact` beside
    labels already padded. Without a data.yaml the export is plainly unfinished."""
    from scenesmith.annotate import yolo

    out = tmp_path / "yolo"
    export_yolo(dataset, out, copy=True)
    real_write = yolo.atomic_write_text

    def stopped_after_one_label(path, text):  # noqa: ANN001, ANN202
        if path.name == "000001.txt":
            raise KeyboardInterrupt
        return real_write(path, text)

    monkeypatch.setattr(yolo, "atomic_write_text", stopped_after_one_label)
    with pytest.raises(KeyboardInterrupt):
        export_yolo(dataset, out, copy=True, convention=BoxConvention(padding=0.2))
    assert not (out / "data.yaml").exists()
    monkeypatch.setattr(yolo, "atomic_write_text", real_write)
    export_yolo(dataset, out, copy=True, convention=BoxConvention(padding=0.2))
    assert "padded 0.2" in yaml.safe_load((out / "data.yaml").read_text())["box_convention"]
    for image in (out / "images").iterdir():  # copies, written through temp files
        assert not image.is_symlink() and image.read_bytes() == (dataset / "images" / image.name).read_bytes()
    assert not [p for p in (out / "images").iterdir() if p.name.startswith(".")]


def test_yolo_export_labels_or_erases_crowd_objects_when_asked(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Skipped crowds are counted and announced; `label` boxes them; `erase` paints them out of a
    written copy of the image and leaves every pixel away from them as it was."""
    from scenesmith.annotate.yolo import CROWD_POLICIES
    from scenesmith.cli import build_parser, main

    coco = json.loads((dataset / "annotations.json").read_text())
    every_crowd = [a for a in coco["annotations"] if a["iscrowd"]]
    crowd = [a for a in every_crowd if a["image_id"] == 1]
    assert len(crowd) == 1 and len(every_crowd) == 2
    out = tmp_path / "yolo"
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "yolo", str(dataset), str(out)])
    assert exit_info.value.code == 0 and "2 crowd objects" in capsys.readouterr().out
    assert yaml.safe_load((out / "data.yaml").read_text())["crowd"] == {"policy": "skip", "objects": 2}

    with pytest.raises(SystemExit):
        main(["export", "yolo", str(dataset), str(out), "--copy"])
    copied = out / "images/000001.jpg"  # an export that stands alone: no link back into the dataset
    assert not copied.is_symlink() and copied.read_bytes() == (dataset / "images/000001.jpg").read_bytes()

    export_yolo(dataset, out, crowd="label")
    rows = (out / "labels/000000.txt").read_text().splitlines()
    x, y, w, h = crowd[0]["bbox"]
    assert len(rows) == 5 and f"{crowd[0]['category_id'] - 1} {(x + w / 2) / W:.6f}" in "\n".join(rows)

    export_yolo(dataset, out, crowd="erase")
    assert len((out / "labels/000000.txt").read_text().splitlines()) == 4
    erased_path = out / "images/000000.png"
    assert not erased_path.is_symlink()
    original, erased = cv2.imread(str(dataset / "images/000000.png")), cv2.imread(str(erased_path))
    in_crowd = mask_util.decode(crowd[0]["segmentation"]).astype(bool)
    near = cv2.dilate(in_crowd.astype(np.uint8), np.ones((13, 13), np.uint8)).astype(bool)
    assert np.array_equal(original[~near], erased[~near])
    assert np.abs(original[in_crowd].astype(int) - erased[in_crowd].astype(int)).max() > 0

    export_yolo(dataset, out)  # back to links: the erased copy is replaced, not left behind
    assert erased_path.is_symlink()
    for policy in CROWD_POLICIES:  # the CLI offers every policy (its list is spelled out for a fast start)
        assert build_parser().parse_args(["export", "yolo", "a", "b", "--crowd", policy]).crowd == policy


def test_a_tile_outlines_a_box_on_its_own_outer_pixels() -> None:
    """At full size the outline is the mask's first and last columns and rows, on all four sides
    (it sat one pixel outside on the right and bottom)."""
    instance = np.zeros((32, 32), np.int32)
    instance[10:15, 8:12] = 1  # rows 10–14, columns 8–11: COCO box [8, 10, 4, 5]
    entry = {"instance_id": 1, "iscrowd": 0, "category": "one"}
    annotation = {"instance_id": 1, "category_id": 1, "bbox": [8, 10, 4, 5]}
    canvas = labelled_tile(np.zeros((32, 32, 3), np.uint8), instance, [entry], [annotation], "", tile=32)
    outline = np.argwhere((canvas == np.array(instance_color(1), np.uint8)).all(axis=2))
    outline = outline[outline[:, 0] >= 10]  # below the category name, written above the box
    assert (outline[:, 0].min(), outline[:, 0].max()) == (10, 14)
    assert (outline[:, 1].min(), outline[:, 1].max()) == (8, 11)


def test_contact_sheet(dataset: Path, tmp_path: Path) -> None:
    out = make_contact_sheet(dataset, tmp_path / "sheet.png", cols=4, tile=96)
    sheet = cv2.imread(str(out))
    assert sheet.shape == (96, 2 * 96, 3)
    assert sheet.std() > 0
    (tmp_path / "unfinished" / "meta").mkdir(parents=True)
    with pytest.raises(UserError, match="unfinished: no finished image"):  # was a bare ValueError
        make_contact_sheet(tmp_path / "unfinished", tmp_path / "empty.png")


def test_yolo_erase_leaves_a_labelled_object_touching_a_crowd_object_whole(tmp_path: Path) -> None:
    """The crowd mask is grown to take its rim; the growth must stop at a touching labelled object,
    whose box still claims its pixels."""
    scene = make_scene()
    scene.objects[-1] = plate(6, (-0.15, -0.05), (0.0, 0.2), (0.02, 0.05), 3)  # beside plate 1
    scene.objects[-1].iscrowd = True
    passes = raycast_passes(scene.objects, scene.camera)
    touching = cv2.dilate((passes.instance == 6).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert (touching & (passes.instance == 1)).any()
    dataset = tmp_path / "touching"
    write_sample(dataset, 0, scene, passes)
    write_coco(dataset)
    export_yolo(dataset, tmp_path / "yolo", crowd="erase")
    original = cv2.imread(str(dataset / "images/000000.png"))
    erased = cv2.imread(str(tmp_path / "yolo/images/000000.png"))
    labelled = passes.instance == 1
    assert np.array_equal(original[labelled], erased[labelled])
    assert not np.array_equal(original[passes.instance == 6], erased[passes.instance == 6])


def test_yolo_export_names_a_missing_image_and_a_refused_folder_keeps_its_files(
    dataset: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(dataset, broken)
    (broken / "images/000000.png").unlink()
    for crowd in ("skip", "erase"):
        # Rerunning generate alone would not redo it: a run redoes only images without a meta file.
        with pytest.raises(UserError, match="000000.png: image missing") as refused:
            export_yolo(broken, tmp_path / f"out_{crowd}", crowd=crowd)
        assert f"delete {broken / 'meta' / '000000.json'} and rerun the command" in str(refused.value)
    with pytest.raises(FileNotFoundError, match="missing or unreadable image") as refused_sheet:
        make_contact_sheet(broken, tmp_path / "sheet.png")
    assert f"delete {broken / 'meta' / '000000.json'} and rerun the command" in str(refused_sheet.value)
    out = tmp_path / "yolo"
    export_yolo(dataset, out)
    (out / "labels.cache").write_bytes(b"cache")
    (out / "images" / "aug").mkdir()
    with pytest.raises(UserError, match="a folder inside a YOLO export"):
        export_yolo(dataset, out)
    assert (out / "labels.cache").read_bytes() == b"cache"


def test_a_damaged_meta_file_is_named_with_what_to_do(dataset: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged"
    shutil.copytree(dataset, damaged)
    meta = damaged / "meta/000001.json"
    meta.write_text(meta.read_text()[:100])  # a disk that lost the end of the file
    for read in (lambda: write_coco(damaged), lambda: make_contact_sheet(damaged, tmp_path / "sheet.png")):
        with pytest.raises(UserError, match=f"{meta}: damaged meta file .*delete it and rerun"):
            read()


def test_coco_assembled_from_pruned_metas_is_the_full_one(dataset: Path, tmp_path: Path) -> None:
    """write_coco reads only the keys it needs from each meta: the file must not change."""
    from scenesmith.annotate.dataset_writer import load_metas

    full = load_metas(dataset)
    expected = {
        "images": [m["image"] for m in full],
        "annotations": [a for m in full for a in m["annotations"]],
    }
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    coco = json.loads(write_coco(copy).read_text())
    assert {key: coco[key] for key in expected} == expected


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda coco: "{", "not a readable COCO JSON file"),
        (lambda coco: [], "expected a COCO object"),
        (lambda coco: {**coco, "images": None}, "images: expected a list"),
        (lambda coco: {k: v for k, v in coco.items() if k != "categories"}, "categories: expected a list"),
        (lambda coco: {**coco, "images": [{**coco["images"][0], "width": "big"}]}, r"images\[0\]\.width"),
        (
            lambda coco: {**coco, "annotations": [{**coco["annotations"][0], "category_id": 77}]},
            r"annotations\[0\]\.category_id: 77 is no category",
        ),
        (
            lambda coco: {**coco, "annotations": [{**coco["annotations"][0], "image_id": 999}]},
            r"annotations\[0\]\.image_id: 999 is no image",
        ),
    ],
)
def test_yolo_export_of_a_damaged_coco_file_names_the_file_and_the_record(
    dataset: Path, tmp_path: Path, damage, message: str
) -> None:
    """Each of these was a traceback (KeyError, TypeError, JSONDecodeError) from inside the export."""
    copy = shutil.copytree(dataset, tmp_path / "copy")
    coco = json.loads((copy / "annotations.json").read_text())
    damaged = damage(coco)
    (copy / "annotations.json").write_text(damaged if isinstance(damaged, str) else json.dumps(damaged))
    with pytest.raises(UserError, match=message):
        export_yolo(copy, tmp_path / "yolo")
