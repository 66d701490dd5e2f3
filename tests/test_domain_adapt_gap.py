"""The gap measures on sets whose answer is known: one distribution split in two vs two obviously
different ones (smooth gradients vs noise textures)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from scenesmith.cli import main
from scenesmith.domain_adapt import gap_classifier
from scenesmith.domain_adapt.encoder import default_weights, encode, load_encoder
from scenesmith.domain_adapt.gap import CLASSIFIER_REPEATS
from scenesmith.domain_adapt.gap_classifier import auc, two_sample_test
from scenesmith.domain_adapt.gap_stats import kid


def textures(count: int, seed: int, size: int = 48) -> np.ndarray:
    """Blotchy colour noise: one distribution."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (count, 6, 6, 3)).astype(np.uint8)
    images = np.stack([cv2.resize(s, (size, size), interpolation=cv2.INTER_CUBIC) for s in small])
    return np.clip(images + rng.normal(0, 20, images.shape), 0, 255).astype(np.uint8)


def gradients(count: int, seed: int, size: int = 48) -> np.ndarray:
    """Smooth two-colour ramps: obviously another distribution."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, size)[None, :, None]
    out = []
    for _ in range(count):
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        out.append(np.broadcast_to(a * (1 - t) + b * t, (size, size, 3)))
    return np.stack(out).astype(np.uint8)


def test_auc_matches_its_definition() -> None:
    assert auc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 1.0
    assert auc(np.array([0.9, 0.8, 0.2, 0.1]), np.array([0, 0, 1, 1])) == 0.0
    assert auc(np.array([0.5, 0.5, 0.5, 0.5]), np.array([0, 1, 0, 1])) == 0.5


def test_two_halves_of_one_set_are_indistinguishable() -> None:
    images = textures(80, seed=0)
    result = two_sample_test(images[::2], images[1::2], steps=40, folds=3, seed=0)
    assert abs(result["auc"] - 0.5) < 0.2
    assert result["ci95"][0] < 0.5 < result["ci95"][1]


def test_repeats_put_the_classifiers_spread_into_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two classifiers that disagree (AUC 1.0 and about 0.6 on the same sets) and are each sure of
    themselves: one classifier's interval holds only its own AUC, the repeats' interval must hold both."""
    labels = np.repeat([0, 1], 50)
    sure = np.concatenate([np.linspace(0, 1, 50), np.linspace(2, 3, 50)])
    unsure = np.concatenate([np.linspace(0, 1, 50), np.linspace(0.1, 1.1, 50)])
    unsure_auc = auc(unsure, labels)
    assert 0.55 < unsure_auc < 0.65
    scores_of = {}

    def fake_held_out_scores(a, b, steps, folds, seed, groups=None):
        scores_of.setdefault(seed, sure if not scores_of else unsure)
        return scores_of[seed], labels, None

    monkeypatch.setattr(gap_classifier, "held_out_scores", fake_held_out_scores)
    one = two_sample_test(None, None, steps=1, folds=2, seed=5)
    two = two_sample_test(None, None, steps=1, folds=2, seed=5, repeats=2)
    assert one["auc"] == 1.0 and one["ci95"] == [1.0, 1.0] and one["repeats"] == 1
    assert list(scores_of)[0] == 5  # the first repeat is the plain test's seed
    assert two["auc_by_repeat"] == [1.0, unsure_auc]
    assert two["auc"] == pytest.approx((1.0 + unsure_auc) / 2)
    assert two["ci95"][0] < unsure_auc and two["ci95"][1] == 1.0
    assert two["ci95_over"] == "held-out images and classifier repeats"


def test_repeats_of_real_classifiers_differ_and_the_first_is_the_plain_test() -> None:
    images = textures(40, seed=0)
    plain = two_sample_test(images[::2], images[1::2], steps=10, folds=2, seed=3)
    repeated = two_sample_test(images[::2], images[1::2], steps=10, folds=2, seed=3, repeats=3)
    assert repeated["auc_by_repeat"][0] == plain["auc"]
    assert len(set(repeated["auc_by_repeat"])) >= 2  # independent draws, not one classifier thrice
    assert repeated["auc"] == pytest.approx(np.mean(repeated["auc_by_repeat"]))


def tinted_crops(images: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """8 crops per image sharing that image's random tint (its light); one distribution for any seed."""
    rng = np.random.default_rng(seed)
    tints = rng.uniform(40, 215, (images, 1, 1, 1, 3))
    crops = np.clip(tints + rng.normal(0, 12, (images, 8, 48, 48, 3)), 0, 255).astype(np.uint8)
    return crops.reshape(-1, 48, 48, 3), np.repeat(np.arange(images), 8)


def test_crops_of_one_image_are_held_out_together() -> None:
    """Two draws of one distribution: with folds by crop the classifier recognises each photo's tint
    in its other crops and 'separates' them (AUC ≈ 0.85); held out by image, it cannot."""
    (a, images_a), (b, images_b) = tinted_crops(30, seed=1), tinted_crops(30, seed=2)
    leaky = two_sample_test(a, b, steps=60, folds=3, seed=0)
    honest = two_sample_test(a, b, steps=60, folds=3, seed=0, groups=(images_a, images_b))
    assert leaky["ci95"][0] > 0.7
    assert honest["ci95"][0] < 0.5 < honest["ci95"][1] and honest["folds_and_bootstrap_by"] == "source image"


def test_trivially_different_sets_are_separated() -> None:
    result = two_sample_test(textures(40, seed=1), gradients(40, seed=2), steps=40, folds=3, seed=0)
    assert result["auc"] > 0.95 and result["ci95"][0] > 0.85


def test_kid_is_near_zero_within_a_set_and_larger_across_sets() -> None:
    encoder = load_encoder()
    same_a, same_b = encode(encoder, textures(60, seed=3)), encode(encoder, textures(60, seed=4))
    other = encode(encoder, gradients(60, seed=5))
    rng = np.random.default_rng(0)
    within = kid(same_a, same_b, rng, subsets=20, size=50)["mean"]
    across = kid(same_a, other, rng, subsets=20, size=50)["mean"]
    assert abs(within) < across / 10 and across > 0


def test_encoder_refuses_a_corrupted_weights_file(tmp_path: Path) -> None:
    corrupted = tmp_path / "encoder.pt"
    data = bytearray(default_weights().read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupted.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="SHA-256"):
        load_encoder(corrupted)


def test_cli_writes_json_markdown_and_plot_for_picture_folders(tmp_path: Path, capsys) -> None:
    for name, images in (("a", textures(24, seed=6)), ("b", gradients(24, seed=7))):
        (tmp_path / name).mkdir()
        for k, image in enumerate(images):
            cv2.imwrite(str(tmp_path / name / f"{k}.png"), image)
    out = tmp_path / "report"
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "gap",
                str(tmp_path / "a"),
                str(tmp_path / "b"),
                "--out",
                str(out),
                "--steps",
                "20",
                "--folds",
                "2",
                "--repeats",
                "2",
            ]
        )
    assert exit_info.value.code == 0
    assert "image AUC" in capsys.readouterr().out
    report = json.loads((out / "gap.json").read_text())
    assert report["classifier_images"]["images_per_set"] == 24
    assert (
        report["classifier_images"]["repeats"] == 2 and len(report["classifier_images"]["auc_by_repeat"]) == 2
    )
    assert report["classifier_bands"]["texture"]["repeats"] == 2
    assert "(24 per set; 2 classifiers, mean) |" in (out / "gap.md").read_text()
    assert "skipped" in report["classifier_crops"]  # picture folders carry no boxes
    assert report["kid"]["encoder_version"] == 1
    bands = report["classifier_bands"]
    assert {bands["layout"]["cells"], bands["texture"]["cells"]} == {16, 32}
    assert all(0 <= band["auc"] <= 1 and band["images_per_set"] == 24 for band in bands.values())
    assert "| whole images |" in (out / "gap.md").read_text()
    assert "| layout band (16×16 cell means) |" in (out / "gap.md").read_text()
    assert (out / "gap.png").stat().st_size > 5000


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--folds", "1"], "needs at least 2 folds"),
        (["--max-images", "2"], "--max-images 2: the gap measures need at least 4"),
        (["--folds", "9"], "--folds 9: more folds than images in the smaller set (8)"),
        (["--repeats", "0"], "argument --repeats: expected a whole number >= 1"),
    ],
)
def test_settings_that_leave_nothing_to_measure_are_refused(
    tmp_path: Path, capsys, options: list[str], message: str
) -> None:
    """One fold trains on nothing (it reported AUC 0); two images leave one per KID half (a 0/0)."""
    for name, images in (("a", textures(8, seed=6)), ("b", gradients(8, seed=7))):
        (tmp_path / name).mkdir()
        for k, image in enumerate(images):
            cv2.imwrite(str(tmp_path / name / f"{k}.png"), image)
    with pytest.raises(SystemExit) as exit_info:
        main(["gap", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "r"), *options])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_label_distances_need_boxes_in_both_sets(tmp_path: Path) -> None:
    """A set without boxes has no label statistics: comparing against it reported 'one object per
    image' as if its images held one box each."""
    from scenesmith.domain_adapt.gap import measure_gap

    sources = {}
    for name, images, boxes in (
        ("a", textures(8, seed=6), [[4, 4, 10, 10]]),
        ("b", gradients(8, seed=7), []),
    ):
        (tmp_path / name).mkdir()
        for k, image in enumerate(images):
            cv2.imwrite(str(tmp_path / name / f"{k}.png"), image)
        coco = {
            "images": [{"id": k + 1, "file_name": f"{k}.png", "width": 48, "height": 48} for k in range(8)],
            "annotations": [
                {
                    "id": k * 10 + j + 1,
                    "image_id": k + 1,
                    "category_id": 1,
                    "bbox": box,
                    "area": 100,
                    "iscrowd": 0,
                }
                for k in range(8)
                for j, box in enumerate(boxes)
            ],
            "categories": [{"id": 1, "name": "thing"}],
        }
        sources[name] = tmp_path / name / "annotations.json"
        sources[name].write_text(json.dumps(coco))
    report = measure_gap(sources["a"], sources["b"], steps=2, folds=2)
    assert "label_distances" not in report
    assert report["classifier_images"]["repeats"] == CLASSIFIER_REPEATS == 3  # the spread, by default
    assert "label_distances" in measure_gap(sources["a"], sources["a"], steps=2, folds=2)


def test_the_gap_to_a_coco_file_with_splits_takes_its_train_split_unless_told(tmp_path: Path) -> None:
    """The test photos are for reported scores only: a gap measured without --split-b must not read them."""
    (tmp_path / "a").mkdir()
    for k, image in enumerate(textures(8, seed=6)):
        cv2.imwrite(str(tmp_path / "a" / f"{k}.png"), image)
    (tmp_path / "real").mkdir()
    images = []
    for k, image in enumerate(gradients(10, seed=7)):
        cv2.imwrite(str(tmp_path / "real" / f"{k}.png"), image)
        split = "train" if k < 6 else "test"
        images.append({"id": k + 1, "file_name": f"{k}.png", "width": 48, "height": 48, "split": split})
    coco = tmp_path / "real" / "annotations.json"
    coco.write_text(json.dumps({"images": images, "annotations": [], "categories": []}))
    for split, expected in (([], ("train", 6)), (["--split-b", "none"], (None, 10))):
        out = tmp_path / f"gap_{len(split)}"
        with pytest.raises(SystemExit):
            main(
                [
                    "gap",
                    str(tmp_path / "a"),
                    str(coco),
                    "--out",
                    str(out),
                    "--steps",
                    "2",
                    "--folds",
                    "2",
                    *split,
                ]
            )
        b = json.loads((out / "gap.json").read_text())["b"]
        assert (b["split"], b["images"]) == expected


def test_the_gap_to_a_picture_folder_beside_a_coco_file_with_test_photos_is_refused_unless_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The folder alone says nothing of splits, but the COCO file beside it does: its test photos got in."""
    (tmp_path / "a").mkdir()
    for k, image in enumerate(textures(6, seed=6)):
        cv2.imwrite(str(tmp_path / "a" / f"{k}.png"), image)
    pictures = tmp_path / "real" / "images"
    pictures.mkdir(parents=True)
    images = []
    for k, image in enumerate(gradients(8, seed=7)):
        cv2.imwrite(str(pictures / f"{k}.png"), image)
        split = "train" if k < 5 else "test"
        images.append(
            {"id": k + 1, "file_name": f"images/{k}.png", "width": 48, "height": 48, "split": split}
        )
    coco = tmp_path / "real" / "annotations.json"
    coco.write_text(json.dumps({"images": images, "annotations": [], "categories": []}))
    gap = ["gap", str(tmp_path / "a"), str(pictures), "--steps", "2", "--folds", "2"]
    with pytest.raises(SystemExit) as refused:
        main([*gap, "--out", str(tmp_path / "refused")])
    assert refused.value.code == 2
    assert f"{coco} marks 3 of these pictures as test" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()
    with pytest.raises(SystemExit) as told:
        main([*gap, "--out", str(tmp_path / "all"), "--split-b", "none"])
    assert told.value.code == 0
    assert json.loads((tmp_path / "all" / "gap.json").read_text())["b"]["images"] == 8
