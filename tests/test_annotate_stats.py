"""`annotate.stats` and `scenesmith stats` on tiny hand-drawn datasets (no Blender).

Images are grey backgrounds with filled coloured rectangles drawn by OpenCV at known pixel
positions, so every box statistic has an exact expected value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from scenesmith.annotate.stats import (
    BOX_SIZE_STATISTICS,
    HEATMAP_BINS,
    IMAGE_SHORT_SIDE,
    compare,
    compute_stats,
    load_coco,
    load_dataset,
)
from scenesmith.cli import main
from scenesmith.errors import UserError

CATEGORIES = [{"id": 1, "name": "red"}, {"id": 2, "name": "green"}]
COLORS = {1: (0, 0, 255), 2: (0, 255, 0)}  # BGR

Box = tuple[int, int, int, int, int]  # x, y, w, h, category id


def draw(width: int, height: int, background: int, boxes: list[Box]) -> np.ndarray:
    image = np.full((height, width, 3), background, np.uint8)
    for x, y, w, h, category in boxes:
        cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), COLORS[category], thickness=-1)
    return image


def write_coco(
    root: Path,
    images: list[dict[str, Any]],
    width: int = 100,
    height: int = 80,
    draw_missing: bool = True,
) -> Path:
    """COCO dataset in `root`; each image dict: name, background, boxes, optional split/crowd/missing."""
    records, annotations = [], []
    (root / "images").mkdir(parents=True, exist_ok=True)
    for image_id, spec in enumerate(images, start=1):
        record = {"id": image_id, "file_name": f"images/{spec['name']}", "width": width, "height": height}
        if "split" in spec:
            record["split"] = spec["split"]
        records.append(record)
        if not spec.get("missing"):
            cv2.imwrite(
                str(root / record["file_name"]), draw(width, height, spec["background"], spec["boxes"])
            )
        for x, y, w, h, category in spec["boxes"]:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category,
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": int(spec.get("crowd", 0)),
                }
            )
    path = root / "annotations.json"
    path.write_text(json.dumps({"images": records, "annotations": annotations, "categories": CATEGORIES}))
    return path


def random_images(
    rng: np.random.Generator, count: int, sizes: tuple[int, int], split: str = "train"
) -> list[dict[str, Any]]:
    """`count` images, 2–5 squares each with sides in `sizes`, varied backgrounds."""
    images = []
    for k in range(count):
        boxes: list[Box] = []
        for _ in range(int(rng.integers(2, 6))):
            side = int(rng.integers(*sizes))
            x, y = int(rng.integers(0, 100 - side)), int(rng.integers(0, 80 - side))
            boxes.append((x, y, side, side, int(rng.integers(1, 3))))
        images.append(
            {"name": f"{k:03d}.png", "background": int(rng.integers(90, 200)), "boxes": boxes, "split": split}
        )
    return images


def test_box_statistics_equal_known_values(tmp_path: Path) -> None:
    path = write_coco(
        tmp_path,
        [
            {"name": "a.png", "background": 128, "boxes": [(10, 10, 20, 10, 1), (50, 20, 10, 20, 2)]},
            {"name": "b.png", "background": 100, "boxes": [(0, 0, 40, 40, 1)], "crowd": 1},
            {"name": "c.png", "background": 150, "boxes": []},
        ],
    )
    stats = compute_stats(load_coco(path))
    v = stats.values
    # Images are 100×80; pixel sizes are reported at the common analysis size (short side 320).
    scale = IMAGE_SHORT_SIDE / 80
    np.testing.assert_allclose(v["box_width_px"], np.array([20, 10, 40]) * scale)
    np.testing.assert_allclose(v["box_height_px"], np.array([10, 20, 40]) * scale)
    np.testing.assert_allclose(v["box_width_frac"], [0.2, 0.1, 0.4])
    np.testing.assert_allclose(v["box_height_frac"], [10 / 80, 20 / 80, 0.5])
    np.testing.assert_allclose(v["box_aspect"], [2.0, 0.5, 1.0])
    np.testing.assert_allclose(v["box_area_px"], np.array([200, 200, 1600]) * scale**2)
    np.testing.assert_allclose(v["box_area_frac"], [200 / 8000, 200 / 8000, 0.2])
    np.testing.assert_allclose(v["box_center_x"], [0.2, 0.55, 0.2])
    np.testing.assert_allclose(v["box_center_y"], [15 / 80, 30 / 80, 0.25])
    np.testing.assert_allclose(v["objects_per_image"], [2, 1, 0])
    # a's two boxes (√200 px each) have centres √(35² + 15²) apart; b's lone box has no neighbour
    np.testing.assert_allclose(v["box_neighbour_distance"], [np.sqrt(1450 / 200)] * 2)
    assert "visibility" not in v and "truncation" not in v  # plain COCO records none
    assert stats.class_counts == {"red": 2, "green": 1}
    assert stats.iscrowd_fraction == pytest.approx(1 / 3)
    assert stats.center_heatmap.sum() == 3
    assert stats.center_heatmap[int(15 / 80 * HEATMAP_BINS), int(0.2 * HEATMAP_BINS)] == 1
    assert stats.center_heatmap[int(30 / 80 * HEATMAP_BINS), int(0.55 * HEATMAP_BINS)] == 1
    # Image c is uniform grey 150: brightness exact, no contrast, no saturation, no edges.
    assert v["brightness"][2] == pytest.approx(150)
    assert v["contrast"][2] == pytest.approx(0) and v["saturation"][2] == 0 and v["sharpness"][2] == 0
    assert stats.color_histogram.shape == (3, 32)
    np.testing.assert_allclose(stats.color_histogram.sum(axis=1), 1.0)


def test_object_statistics_equal_known_values(tmp_path: Path) -> None:
    """At the analysis size itself (320 px short side, no resampling) every object value is exact."""
    die = np.full((20, 20, 3), 255, np.uint8)
    die[8:12, 8:12] = 0  # one black 4×4 "pip" in the middle of a white 20×20 die
    image = np.full((320, 400, 3), 128, np.uint8)
    image[100:120, 50:70] = die
    cv2.rectangle(image, (200, 40), (219, 59), COLORS[1], thickness=-1)  # pure red 20×20
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.png"), image)
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 2, "bbox": [50, 100, 20, 20], "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [200, 40, 20, 20], "iscrowd": 0},
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [300, 200, 20, 20], "iscrowd": 1},  # ignored
    ]
    path = tmp_path / "annotations.json"
    record = {"id": 1, "file_name": "images/a.png", "width": 400, "height": 320}
    path.write_text(json.dumps({"images": [record], "annotations": annotations, "categories": CATEGORIES}))

    v = compute_stats(load_coco(path)).values
    # Core = central 60 % of the box = 12×12 px; the die's pip covers 16 of its 144 pixels.
    pip = 16 / 144
    np.testing.assert_allclose(v["object_brightness"], [255 * (1 - pip), 76])  # gray of BGR red: 76
    np.testing.assert_allclose(v["object_saturation"], [0, 255])
    np.testing.assert_allclose(v["object_contrast"], [255 * np.sqrt(pip * (1 - pip)), 0])
    # The ring outside each box is uniform background grey 128.
    np.testing.assert_allclose(v["object_surround_contrast"], [255 * (1 - pip) - 128, 128 - 76])


def test_identical_datasets_have_zero_distances(tmp_path: Path) -> None:
    path = write_coco(tmp_path, random_images(np.random.default_rng(0), 8, (10, 20)))
    stats = compute_stats(load_coco(path, "train"))
    distances = compare(stats, compute_stats(load_dataset(path)))
    assert {d.statistic for d in distances} >= {
        "box_width_px",
        "objects_per_image",
        "brightness",
        "color_r",
        "class_balance",
        "center_heatmap",
    }
    for d in distances:
        assert d.raw == pytest.approx(0, abs=1e-9) and d.normalised == pytest.approx(0, abs=1e-9), d


def test_shifted_box_sizes_rank_first(tmp_path: Path) -> None:
    real = write_coco(tmp_path / "real", random_images(np.random.default_rng(1), 16, (10, 16)))
    synthetic = write_coco(tmp_path / "syn", random_images(np.random.default_rng(2), 16, (20, 32)))
    distances = compare(compute_stats(load_coco(synthetic)), compute_stats(load_coco(real, "train")))
    assert distances[0].statistic in BOX_SIZE_STATISTICS
    assert distances[0].normalised > 1.0
    normalised = [d.normalised for d in distances]
    assert normalised == sorted(normalised, reverse=True)


def test_near_duplicate_flags_copy_only(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    (tmp_path / "images").mkdir()
    records = []
    for k in range(6):
        blocks = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)  # coarse random patterns: distinct hashes
        image = cv2.resize(blocks, (160, 120), interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(str(tmp_path / "images" / f"{k}.png"), image)
        records.append({"id": k + 1, "file_name": f"images/{k}.png", "width": 160, "height": 120})
    original = cv2.imread(str(tmp_path / "images" / "2.png"))
    noisy = np.clip(original.astype(int) + rng.integers(-6, 7, original.shape), 0, 255).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "images" / "copy.jpg"), cv2.resize(noisy, (200, 150)))  # resized, JPEG
    records.append({"id": 7, "file_name": "images/copy.jpg", "width": 200, "height": 150})
    path = tmp_path / "annotations.json"
    path.write_text(json.dumps({"images": records, "annotations": [], "categories": CATEGORIES}))

    dup = compute_stats(load_coco(path)).near_duplicates
    assert dup["pairs"] == 1
    assert dup["images_with_near_duplicate"] == 2
    assert dup["image_fraction"] == pytest.approx(2 / 7)
    assert dup["pair_fraction"] == pytest.approx(1 / 21)
    assert {dup["examples"][0]["a"], dup["examples"][0]["b"]} == {"images/2.png", "images/copy.jpg"}


def test_split_filter_opens_only_requested_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    images = random_images(rng, 4, (10, 20), "train") + [
        {**spec, "name": f"test_{spec['name']}", "missing": True}  # test files don't exist at all
        for spec in random_images(rng, 3, (10, 20), "test")
    ]
    path = write_coco(tmp_path, images)
    dataset = load_coco(path, "train")
    assert [im.image_id for im in dataset.images] == [1, 2, 3, 4]
    assert {a["image_id"] for a in dataset.annotations} <= {1, 2, 3, 4}
    stats = compute_stats(dataset)
    assert stats.num_images == 4
    assert stats.values["objects_per_image"].sum() == sum(len(s["boxes"]) for s in images[:4])
    with pytest.raises(UserError, match="missing or unreadable"):
        compute_stats(load_coco(path, "test"))
    with pytest.raises(UserError, match="no image has split 'val'"):
        load_coco(path, "val")


def test_cli_exit_2_on_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_coco(tmp_path / "real", random_images(np.random.default_rng(5), 2, (10, 20)))
    cases = [
        ["stats", str(tmp_path / "missing")],
        ["stats", str(path), "--against", str(path), "--split", "validation"],
        ["stats", str(path), "--against", str(tmp_path / "missing.json")],
        ["stats", str(path), "--split", "train"],  # --split without --against
    ]
    for argv in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2, argv
        assert "scenesmith: error:" in capsys.readouterr().err


def test_cli_writes_json_plots_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    real = write_coco(tmp_path / "real", random_images(np.random.default_rng(6), 6, (10, 16)))
    synthetic = write_coco(tmp_path / "syn", random_images(np.random.default_rng(7), 6, (20, 32)))
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["stats", str(synthetic), "--against", str(real), "--out", str(out)])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert "normalised" in printed and "class balance (TV)" in printed

    document = json.loads((out / "stats.json").read_text())
    assert document["settings"]["split"] == "train"
    assert document["real"]["num_images"] == 6
    normalised = [d["normalised"] for d in document["distances"]]
    assert normalised == sorted(normalised, reverse=True)
    assert document["synthetic"]["statistics"]["box_width_px"]["min"] >= 20
    for name in ("boxes", "box_centers", "class_balance", "images", "distances"):
        png = (out / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000, name
    assert not (out / "factors.png").exists()  # a plain COCO file has no scene factors


def write_scenesmith(root: Path, count: int = 3) -> None:
    """Minimal scenesmith folder: images/, meta/*.json with scene factors; no annotations.json."""
    (root / "images").mkdir(parents=True)
    (root / "meta").mkdir()
    for k in range(count):
        boxes: list[Box] = [(5 + 10 * k, 5, 12, 14, 1), (60, 40, 20, 20, 2)]
        cv2.imwrite(str(root / "images" / f"{k:06d}.png"), draw(100, 80, 100 + 20 * k, boxes))
        annotations = [
            {
                "id": (k + 1) * 1000 + i,
                "image_id": k + 1,
                "category_id": c,
                "bbox": [x, y, w, h],
                "area": w * h,
                "iscrowd": 0,
                "visibility": 1.0 - 0.1 * i,
                "truncation": 0.05 * k,
            }
            for i, (x, y, w, h, c) in enumerate(boxes, start=1)
        ]
        meta = {
            "image_id": k + 1,
            "files": {"image": f"images/{k:06d}.png"},
            "width": 100,
            "height": 80,
            "scene": {
                "name": "hand_made",
                "factors": {
                    "camera.height_m": 0.2 + 0.05 * k,
                    "tray.present": k % 2 == 0,
                    "table.srgb": [0.1 * k, 0.5, 0.9],
                    "light.kind": "area" if k else "sun",
                },
                "categories": CATEGORIES,
            },
            "annotations": annotations,
        }
        (root / "meta" / f"{k:06d}.json").write_text(json.dumps(meta))
    (root / "meta" / ".000009.json.tmp.json").write_text("{")  # an in-progress atomic write: ignored


def test_scenesmith_folder_smoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "ds"
    write_scenesmith(root)
    stats = compute_stats(load_dataset(root))
    np.testing.assert_allclose(stats.factors["camera.height_m"], [0.2, 0.25, 0.3])
    np.testing.assert_allclose(stats.factors["tray.present"], [1, 0, 1])
    np.testing.assert_allclose(stats.factors["table.srgb[0]"], [0.0, 0.1, 0.2])
    assert stats.categorical_factors == {"light.kind": {"area": 2, "sun": 1}}
    np.testing.assert_allclose(stats.values["visibility"], [0.9, 0.8] * 3)
    np.testing.assert_allclose(stats.values["truncation"], [0, 0, 0.05, 0.05, 0.1, 0.1])

    with pytest.raises(SystemExit) as exit_info:
        main(["stats", str(root)])  # default output folder: <dataset>/stats
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert "box width (px at 320)" in printed and "3 images, 6 boxes" in printed
    document = json.loads((root / "stats" / "stats.json").read_text())
    assert document["synthetic"]["factors"]["camera.height_m"]["mean"] == pytest.approx(0.25)
    assert document["synthetic"]["num_annotations"] == 6
    assert "distances" not in document
    for name in ("boxes", "box_centers", "class_balance", "images", "factors"):
        assert (root / "stats" / f"{name}.png").stat().st_size > 10_000, name


def test_a_plain_coco_file_is_compared_whole_and_all_takes_every_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A COCO file without `split` fields has nothing but its images to offer: it is compared whole,
    not refused for lacking a train split; `--split all` asks the same of a file with splits."""
    specs = random_images(np.random.default_rng(6), 6, (10, 16))
    plain = write_coco(tmp_path / "plain", [{k: v for k, v in s.items() if k != "split"} for s in specs])
    with_splits = write_coco(tmp_path / "split", specs)
    synthetic = write_coco(tmp_path / "syn", random_images(np.random.default_rng(7), 4, (20, 32)))
    for against, split, images in ((plain, [], 6), (with_splits, ["--split", "all"], 6)):
        out = tmp_path / f"out_{against.parent.name}"
        with pytest.raises(SystemExit) as exit_info:
            main(["stats", str(synthetic), "--against", str(against), *split, "--out", str(out)])
        assert exit_info.value.code == 0, capsys.readouterr().err
        document = json.loads((out / "stats.json").read_text())
        assert document["real"]["num_images"] == images and document["settings"]["split"] is None


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda coco: coco["images"][1].pop("width"), r"images\[1\]\.width: field required"),
        (lambda coco: coco["annotations"][0].pop("bbox"), r"annotations\[0\]\.bbox: field required"),
    ],
)
def test_a_coco_record_missing_a_key_is_named(tmp_path: Path, capsys, damage, message: str) -> None:
    path = write_coco(tmp_path / "real", random_images(np.random.default_rng(5), 3, (10, 20)))
    coco = json.loads(path.read_text())
    damage(coco)
    path.write_text(json.dumps(coco))
    with pytest.raises(SystemExit) as exit_info:
        main(["stats", str(path), "--against", str(path), "--split", "all"])
    assert exit_info.value.code == 2
    assert re.search(f"{re.escape(str(path))}: {message}", capsys.readouterr().err)


def test_a_damaged_meta_file_is_named(tmp_path: Path) -> None:
    """A meta file with `"width": "w"` (or no `files`) was a bare ValueError/KeyError from int()."""
    root = tmp_path / "ds"
    write_scenesmith(root)
    meta = json.loads((root / "meta/000001.json").read_text())
    (root / "meta/000001.json").write_text(json.dumps({**meta, "width": "w"}))
    with pytest.raises(UserError, match=r"meta/000001\.json: not a scenesmith meta file \(ValueError"):
        load_dataset(root)


def test_against_takes_a_real_sets_folder_as_benchmark_real_does(tmp_path: Path) -> None:
    """`--against /data/dice` said "no such COCO file" while `benchmark --real /data/dice` read it."""
    from scenesmith.annotate.stats import run_stats

    real = write_coco(tmp_path / "real", random_images(np.random.default_rng(6), 6, (10, 16)))
    synthetic = write_coco(tmp_path / "syn", random_images(np.random.default_rng(7), 6, (20, 32)))
    report = run_stats(synthetic, against=real.parent, out_dir=tmp_path / "out")
    assert report.real is not None and report.real.num_images == 6


def test_a_coco_file_nested_past_the_parsers_depth_is_named_not_a_traceback(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UserError, match="deep.json: not a readable COCO JSON file"):
        load_dataset(deep)


def test_a_coco_file_without_images_is_refused_not_reported_as_no_gap(tmp_path: Path) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"images": [], "annotations": [], "categories": CATEGORIES}))
    with pytest.raises(UserError, match="empty.json: holds no image"):
        load_dataset(empty)


def test_an_annotation_naming_no_category_is_refused_by_record_for_stats_and_benchmark(
    tmp_path: Path,
) -> None:
    """Statistics and the benchmark read real labels through one COCO reader: an annotation whose category
    the file does not list is named by file and record. The benchmark met it as a bare KeyError."""
    from scenesmith.benchmark.data import load_coco as load_detection_set

    path = write_coco(tmp_path / "real", random_images(np.random.default_rng(8), 3, (10, 16)))
    coco = json.loads(path.read_text())
    coco["annotations"][1]["category_id"] = 9
    path.write_text(json.dumps(coco))
    message = r"annotations\.json: annotations\[1\]\.category_id: 9 is no category of the file"
    for load in (load_coco, load_detection_set):
        with pytest.raises(UserError, match=message):
            load(path, "train")


def test_against_takes_a_scenesmith_dataset_folder_and_refuses_a_split_of_it(tmp_path: Path) -> None:
    """Comparing two renders (another build, an adapted copy) said "no such COCO file" of a folder that
    exists; a split of a set without splits is refused, not ignored."""
    from scenesmith.annotate.stats import run_stats

    write_scenesmith(tmp_path / "a", count=3)
    write_scenesmith(tmp_path / "b", count=2)
    report = run_stats(tmp_path / "a", against=tmp_path / "b", out_dir=tmp_path / "out")
    assert report.real is not None and report.real.num_images == 2
    with pytest.raises(UserError, match=r"b: a scenesmith dataset folder has no splits, so split 'train'"):
        run_stats(tmp_path / "a", against=tmp_path / "b", split="train", out_dir=tmp_path / "out2")


def test_an_unlabelled_coco_file_is_a_set_of_pictures_for_stats_but_not_for_the_benchmark(
    tmp_path: Path,
) -> None:
    """COCO's image_info files (and any unlabelled photo set an adapter or the gap metric takes) have
    no annotations or categories; the benchmark needs labels and says so by key."""
    from scenesmith.benchmark.data import load_coco as load_detection_set
    from scenesmith.domain_adapt.images import real_training_paths

    path = write_coco(tmp_path / "real", random_images(np.random.default_rng(9), 3, (10, 16)))
    coco = json.loads(path.read_text())
    path.write_text(json.dumps({"images": coco["images"]}))
    dataset = load_coco(path, "train")
    assert len(dataset.images) == 3 and dataset.annotations == [] and dataset.categories == {}
    assert len(real_training_paths(path, "train")) == 3
    with pytest.raises(UserError, match=r"annotations\.json: annotations: expected a list"):
        load_detection_set(path, "train")
