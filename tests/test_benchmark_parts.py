"""Benchmark building blocks against answers known by construction: scores, targets, crops, splits."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from scenesmith.benchmark import runner
from scenesmith.benchmark import train as train_module
from scenesmith.benchmark.arms import Arm
from scenesmith.benchmark.augment import AugmentConfig, augmented_crop
from scenesmith.benchmark.config import TrainConfig
from scenesmith.benchmark.data import DetectionSet, Sample, draw_fraction, fraction_count, split_validation
from scenesmith.benchmark.evaluate import (
    IMAGE_RESAMPLES,
    Detections,
    coco_evaluation,
    evaluate,
    resampled_map,
)
from scenesmith.benchmark.model import (
    CLASS_CELL_STRENGTH,
    STRIDE,
    CenterNet,
    decode,
    detection_loss,
    encode_targets,
)
from scenesmith.benchmark.report import (
    _fmt,
    _interval,
    _mean_per_class_ap,
    aggregate,
    budget_warnings,
    difference_interval,
    headline,
    real_data_equivalence,
    summarize,
)
from scenesmith.benchmark.train import learning_rate, train_arm
from scenesmith.cli import main

CLASSES = ("one", "two", "three")


def _dataset() -> DetectionSet:
    rng = np.random.default_rng(0)
    samples = []
    for image_id in range(1, 6):
        boxes, labels = [], []
        for k in range(4):
            x, y = 20 + 70 * k, 30 + 40 * (image_id % 3)
            size = rng.uniform(20, 40)
            boxes.append([x, y, x + size, y + size])
            labels.append(int(rng.integers(3)))
        samples.append(
            Sample(
                image_id,
                f"{image_id}.png",
                np.zeros((320, 320, 3), np.uint8),
                np.array(boxes, np.float32),
                np.array(labels),
            )
        )
    return DetectionSet(CLASSES, tuple(samples))


def _perfect(dataset: DetectionSet, relabel=lambda labels: labels) -> Detections:
    return Detections(
        {s.image_id: s.boxes.copy() for s in dataset.samples},
        {s.image_id: np.linspace(0.9, 0.5, len(s.boxes)) for s in dataset.samples},
        {s.image_id: relabel(s.labels) for s in dataset.samples},
    )


def test_perfect_predictions_score_one() -> None:
    scores = evaluate(_dataset(), _perfect(_dataset()))
    assert scores["map"] == pytest.approx(1.0)
    assert scores["map50"] == pytest.approx(1.0)
    assert scores["die_map"] == pytest.approx(1.0)
    assert all(ap == pytest.approx(1.0) for ap in scores["per_class_ap"].values())
    assert scores["map_image_resamples"] == pytest.approx([1.0] * IMAGE_RESAMPLES)


def _jittered(dataset: DetectionSet) -> Detections:
    """Boxes moved by a few pixels, one class in five wrong: a score strictly between 0 and 1.

    Scores are all different, so no tie makes the result depend on the order images are listed in.
    """
    rng = np.random.default_rng(3)
    base = _perfect(dataset)
    return Detections(
        {i: b + rng.normal(0, 3, b.shape) for i, b in base.boxes.items()},
        {i: rng.uniform(0.3, 1.0, len(b)) for i, b in base.boxes.items()},
        {i: np.where(rng.random(len(lab)) < 0.2, (lab + 1) % 3, lab) for i, lab in base.labels.items()},
    )


def test_a_resampled_test_set_scores_as_pycocotools_scores_that_set_built_from_scratch() -> None:
    dataset, detections = _dataset(), _jittered(_dataset())
    evaluation = coco_evaluation(dataset, detections)
    ids = dataset.image_ids
    assert 0.2 < evaluation.stats[0] < 0.9
    assert resampled_map(evaluation, ids) == pytest.approx(evaluation.stats[0])
    # images 2, 4, 4, 5: the same set scored from scratch, the repeated image under a new id
    by_id = {s.image_id: s for s in dataset.samples}
    repeated = Sample(99, "99.png", by_id[4].image, by_id[4].boxes, by_id[4].labels)
    drawn = DetectionSet(dataset.class_names, (by_id[2], by_id[4], repeated, by_id[5]))
    drawn_detections = Detections(
        *(
            {**{i: part[i] for i in (2, 4, 5)}, 99: part[4]}
            for part in (detections.boxes, detections.scores, detections.labels)
        )
    )
    expected = coco_evaluation(drawn, drawn_detections).stats[0]
    assert resampled_map(evaluation, [2, 4, 4, 5]) == pytest.approx(expected)
    assert resampled_map(evaluation, [2, 4, 4, 5]) != pytest.approx(evaluation.stats[0])
    resamples = evaluate(dataset, detections)["map_image_resamples"]
    assert len(resamples) == IMAGE_RESAMPLES and len(set(resamples)) > 10
    assert min(resamples) < evaluation.stats[0] < max(resamples)
    assert evaluate(dataset, detections)["map_image_resamples"] == resamples  # the same draws every time


def test_empty_predictions_score_zero() -> None:
    empty = Detections(
        {s.image_id: np.zeros((0, 4)) for s in _dataset().samples},
        {s.image_id: np.zeros(0) for s in _dataset().samples},
        {s.image_id: np.zeros(0, int) for s in _dataset().samples},
    )
    scores = evaluate(_dataset(), empty)
    assert scores["map"] == 0.0 and scores["die_map50"] == 0.0
    assert scores["map_image_resamples"] == [0.0] * IMAGE_RESAMPLES


def test_a_class_without_ground_truth_has_no_ap() -> None:
    """A class absent from the test split is left out (None, "—" in the report), not scored AP 0."""
    dataset = _dataset()
    without_three = DetectionSet(
        CLASSES,
        tuple(
            replace(s, boxes=s.boxes[s.labels != 2], labels=s.labels[s.labels != 2]) for s in dataset.samples
        ),
    )
    scores = evaluate(without_three, _perfect(without_three))
    assert scores["map"] == pytest.approx(1.0)
    assert scores["per_class_ap"]["three"] is None
    assert scores["per_class_ap"]["one"] == pytest.approx(1.0)
    nothing = Detections(
        *({s.image_id: np.zeros(shape) for s in dataset.samples} for shape in ((0, 4), 0, 0))
    )
    assert evaluate(without_three, nothing)["per_class_ap"] == {"one": 0.0, "two": 0.0, "three": None}
    table = _mean_per_class_ap([scores["per_class_ap"], {"one": 0.5, "two": 0.5, "three": None}])
    assert table == {"one": pytest.approx(0.75), "two": pytest.approx(0.75), "three": None}


def test_wrong_classes_keep_the_class_agnostic_score() -> None:
    scores = evaluate(_dataset(), _perfect(_dataset(), lambda labels: (labels + 1) % 3))
    assert scores["map"] == pytest.approx(0.0)
    assert scores["die_map"] == pytest.approx(1.0)


def test_one_die_guessed_as_two_classes_is_one_detection_class_agnostically() -> None:
    dataset = _dataset()
    base = _perfect(dataset)
    doubled = Detections(
        {i: np.concatenate([b, b + 0.5]) for i, b in base.boxes.items()},
        {i: np.concatenate([s, s - 0.3]) for i, s in base.scores.items()},
        {i: np.concatenate([labels, (labels + 1) % 3]) for i, labels in base.labels.items()},
    )
    assert evaluate(dataset, doubled)["die_map"] == pytest.approx(1.0, abs=0.01)


def test_a_die_found_for_sure_but_read_in_doubt_outranks_a_doubtful_find() -> None:
    """The detector scores each class at a centre as centre × class probability. The die score kept
    the best class's (0.3 here), so a false find read confidently (0.5) ranked above a sure die
    (centre 0.9) it could not read, and the die score halved; merged, the die scores 0.9."""
    one_die = Sample(
        1, "1.png", np.zeros((64, 64, 3), np.uint8), np.array([[10, 10, 30, 30]], np.float32), np.array([0])
    )
    empty = Sample(
        2, "2.png", np.zeros((64, 64, 3), np.uint8), np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
    )
    dataset = DetectionSet(CLASSES, (one_die, empty))
    detections = Detections(
        {1: np.array([[10, 10, 30, 30]] * 3, np.float32), 2: np.array([[5, 5, 25, 25]], np.float32)},
        {1: np.array([0.3, 0.3, 0.3]), 2: np.array([0.5])},
        {1: np.array([0, 1, 2]), 2: np.array([1])},
    )
    assert evaluate(dataset, detections)["die_map50"] == pytest.approx(1.0)


def test_encoded_targets_decode_back_to_the_boxes() -> None:
    boxes = np.array([[10.0, 12.0, 50.0, 44.0], [100.0, 80.0, 121.0, 111.0]], np.float32)
    labels = np.array([2, 0])
    targets = encode_targets(boxes, labels, (160, 160), 3)
    heat = torch.from_numpy(targets["heatmap"])[None].clamp(1e-6, 1 - 1e-6)
    classes = torch.from_numpy(targets["classes"])
    outputs = {
        "heatmap": torch.log(heat / (1 - heat)),
        "classes": 20.0 * F.one_hot(classes.clamp(min=0), 3).permute(2, 0, 1)[None].float(),
        "size": torch.from_numpy(targets["size"])[None],
        "offset": torch.from_numpy(targets["offset"])[None],
    }
    found_boxes, scores, found_labels = decode(outputs, max_detections=2)[0]
    order = np.argsort(found_boxes[:, 0])
    np.testing.assert_allclose(found_boxes[order], boxes, atol=1e-4)
    assert found_labels[order].tolist() == [2, 0]
    assert targets["mask"].sum() == 2 and targets["heatmap"].shape == (1, 160 // STRIDE, 160 // STRIDE)


def test_cells_near_a_centre_carry_its_class_and_the_nearer_centre_wins_where_two_meet() -> None:
    boxes = np.array([[40.0, 40.0, 72.0, 72.0], [64.0, 40.0, 96.0, 72.0]], np.float32)
    targets = encode_targets(boxes, np.array([1, 2]), (160, 160), 3)
    classes = targets["classes"]
    assert classes[56 // STRIDE, 56 // STRIDE] == 1 and classes[56 // STRIDE, 80 // STRIDE] == 2
    assert classes[0, 0] == -1 and set(np.unique(classes)) == {-1, 1, 2}
    labelled = classes >= 0
    assert (targets["heatmap"][0][labelled] >= CLASS_CELL_STRENGTH).all()


def test_loss_is_finite_for_a_batch_without_objects() -> None:
    empty = encode_targets(np.zeros((0, 4), np.float32), np.zeros(0, int), (64, 64), 3)
    targets = {key: torch.from_numpy(value)[None] for key, value in empty.items()}
    model = CenterNet(3, width=8)
    loss = detection_loss(model(torch.zeros(1, 3, 64, 64)), targets)
    assert torch.isfinite(loss)
    loss.backward()


@pytest.mark.parametrize("seed", range(8))
def test_augmented_boxes_stay_on_their_objects(seed: int) -> None:
    """Paint each box a unique colour; after crop, scale, turn and flip the box must frame that colour."""
    image = np.full((400, 400, 3), 128, np.uint8)
    boxes = np.array([[40, 60, 100, 100], [200, 150, 260, 230], [300, 300, 360, 350]], np.float32)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    for (x0, y0, x1, y1), colour in zip(boxes.astype(int), colours, strict=True):
        image[y0:y1, x0:x1] = colour
    sample = Sample(1, "x.png", image, boxes, np.arange(3))
    config = AugmentConfig(crop=192, colour=0.0, hue_degrees=0.0, blur_probability=0, noise_probability=0)
    crop, out_boxes, labels = augmented_crop(sample, config, np.random.default_rng(seed))
    for (x0, y0, x1, y1), label in zip(out_boxes, labels, strict=True):
        channel = crop[..., int(label)] > 200
        ys, xs = np.nonzero(channel & (crop.sum(axis=2) < 400))
        assert xs.min() == pytest.approx(x0, abs=1.5) and xs.max() + 1 == pytest.approx(x1, abs=1.5)
        assert ys.min() == pytest.approx(y0, abs=1.5) and ys.max() + 1 == pytest.approx(y1, abs=1.5)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(1, 10_000), min_size=3, max_size=300, unique=True),
    st.integers(0, 2**16),
    st.data(),
)
def test_splits_are_fixed_disjoint_and_nested(ids: list[int], seed: int, data: st.DataObject) -> None:
    val_count = data.draw(st.integers(1, len(ids) - 1))
    pool, val = split_validation(ids, val_count, seed)
    assert (pool, val) == split_validation(list(reversed(ids)), val_count, seed)
    assert not set(pool) & set(val) and sorted(pool + val) == sorted(ids) and len(val) == val_count
    previous: set[int] = set()
    for fraction in (0.01, 0.05, 0.1, 0.25, 0.5, 1.0):
        drawn = draw_fraction(pool, fraction, seed)
        assert len(drawn) == fraction_count(len(pool), fraction) >= 1
        assert previous <= set(drawn) <= set(pool)
        previous = set(drawn)
    assert previous == set(pool)


def test_fraction_rounds_to_whole_images() -> None:
    assert fraction_count(160, 0.10) == 16
    assert fraction_count(160, 0.01) == 2
    assert fraction_count(40, 0.01) == 1


def test_real_data_equivalence_interpolates_on_log_fraction() -> None:
    curve = {0.01: 0.1, 0.1: 0.3, 1.0: 0.5}
    assert real_data_equivalence(curve, 0.3)["fraction"] == pytest.approx(0.1)
    assert real_data_equivalence(curve, 0.4)["fraction"] == pytest.approx(10**-0.5)
    assert real_data_equivalence(curve, 0.6)["text"].startswith("> 100%")
    assert real_data_equivalence(curve, 0.05)["text"].startswith("<= 1% (")


def test_fractions_that_round_to_the_same_photos_are_one_point_of_the_curve() -> None:
    """A pool of 20: 1% and 5% both train on 1 photo; the curve pools their runs, neither is lost."""

    def arm(values: list[float], fraction: float, drawn: float) -> dict:
        return {
            "map": {"mean": float(np.mean(values)), "values": values},
            "real_fraction": fraction,
            "real_train_fraction": drawn,
            "ratio_to_real_100": {"map": None},
        }

    arms = {
        "real_1": arm([0.10, 0.12], 0.01, 0.05),
        "real_5": arm([0.20, 0.22], 0.05, 0.05),
        "real_100": arm([0.5, 0.5], 1.0, 1.0),
        "synthetic_to_10": arm([0.16, 0.16], 0.1, 0.1),
    }
    equivalence = headline(arms)["real_data_equivalence"]
    assert equivalence["real_fractions"] == [0.05, 1.0] and equivalence["text"].startswith("<= 5%")
    arms["synthetic_to_10"] = arm([0.3, 0.3], 0.1, 0.1)
    pooled = 0.16  # the mean of the four 1-photo runs
    expected = 0.05 * 20 ** ((0.3 - pooled) / (0.5 - pooled))
    assert headline(arms)["real_data_equivalence"]["fraction"] == pytest.approx(expected)


def test_a_student_is_no_point_of_the_fraction_curve_and_the_equivalence_names_its_arm() -> None:
    """A self-training student trains on the same 10% as its teacher: two points at 10% on the
    synthetic → real curve would read as a sweep. With --fraction 0.05 the headline is about 5%."""
    from scenesmith.benchmark.report import _fraction_points

    def arm(mean: float, fraction: float, teacher: str | None = None) -> dict:
        return {
            "map": {"mean": mean, "sd": 0.01, "values": [mean]},
            "real_fraction": fraction,
            "real_train_fraction": fraction,
            "teacher": teacher,
            "ratio_to_real_100": {"map": None},
        }

    arms = {
        "real_5": arm(0.2, 0.05),
        "real_100": arm(0.5, 1.0),
        "synthetic_to_5": arm(0.3, 0.05),
        "synthetic_to_5_selftrain": arm(0.31, 0.05, teacher="synthetic_to_5"),
    }
    assert [point[0] for point in _fraction_points(arms, "synthetic_to_")] == [0.05]
    assert headline(arms, "5")["real_data_equivalence"]["arm"] == "synthetic_to_5"


def test_real_data_equivalence_names_its_curve_and_maps_the_scores_interval() -> None:
    """The same score reads differently on a curve of 2 or of 3 real-only arms: the report says which
    arms drew it, and what the score's own 95% interval spans in fractions."""
    two = real_data_equivalence({0.1: 0.3, 1.0: 0.5}, 0.4, [0.35, 0.45])
    three = real_data_equivalence({0.1: 0.3, 0.25: 0.45, 1.0: 0.5}, 0.4, [0.35, 0.45])
    assert two["fraction"] == pytest.approx(10**-0.5) and three["fraction"] < 0.25
    assert "real-only arms at 10, 100%" in two["text"] and "at 10, 25, 100%" in three["text"]
    assert two["range"] == [f"{100 * 10**-0.75:.1f}%", f"{100 * 10**-0.25:.1f}%"]
    assert two["range"][0] in two["text"] and two["range"][1] in two["text"]
    assert "range" not in real_data_equivalence({0.1: 0.3, 1.0: 0.5}, 0.4)


def test_real_data_equivalence_on_a_curve_that_dips() -> None:
    """A few seeds per fraction can put real-50% above real-100%; the claims must stay true."""
    curve = {0.1: 0.30, 0.5: 0.53, 1.0: 0.52}
    between = real_data_equivalence(curve, 0.525)  # above the 100% arm, under the 50% one
    assert between["fraction"] == pytest.approx(0.1 * 5 ** ((0.525 - 0.30) / 0.23))
    assert "beats" not in between["text"]
    assert "(real-only curve not monotone: also reached at 70.7%)" in between["text"]  # 50% · 2^0.5
    assert real_data_equivalence(curve, 0.54)["text"].startswith(
        "> 100% (beats every real-only arm, best 50%"
    )
    dip = real_data_equivalence({0.1: 0.30, 0.25: 0.45, 0.5: 0.40, 1.0: 0.50}, 0.42)
    assert dip["fraction"] < 0.25 and "not monotone: also reached at" in dip["text"]
    assert dip["text"].split(" (curve")[0].count("%") == 3  # up to 25%, down to 50%, up to 100%


def test_arms_short_of_seeds_are_warned_about_and_show_no_interval() -> None:
    def arm(values: list[float]) -> dict:
        return {"map": summarize(values), "seeds": [{}] * len(values), "runs_stopped_by_step_cap": 0}

    arms = {"real_100": arm([0.5, 0.52, 0.48]), "real_25": arm([0.45])}
    (warning,) = budget_warnings(arms, seeds=3)
    assert "real_25 (1)" in warning and "real_100" not in warning
    assert budget_warnings({"real_100": arms["real_100"]}, seeds=3) == []
    (warning,) = budget_warnings({"real_100": arms["real_100"]}, seeds=3, planned=["real_100", "real_50"])
    assert "real_50 (0)" in warning  # planned, nothing finished yet (--report-only mid-sweep)
    assert _interval(arms["real_25"]["map"]) == "n/a" and _fmt(arms["real_25"]["map"]) == "0.450"


def test_capped_runs_are_named_and_those_still_rising_told_apart() -> None:
    """Reaching the cap after levelling off is not under-training; a best at the last evaluation may be."""

    def run(seed: int, steps: int, best_step: int, stopped_by: str) -> dict:
        return {"seed": seed, "steps": steps, "best_step": best_step, "stopped_by": stopped_by}

    def arm(*runs: dict) -> dict:
        capped = sum(r["stopped_by"] == "step_cap" for r in runs)
        return {"map": summarize([0.5] * len(runs)), "seeds": list(runs), "runs_stopped_by_step_cap": capped}

    levelled = {
        "real_100": arm(run(0, 6000, 5000, "step_cap"), run(1, 4500, 3000, "early_stopping")),
        "real_10": arm(run(0, 4000, 2500, "early_stopping")),
    }
    (warning,) = budget_warnings(levelled, seeds=1)
    assert warning.startswith("1 of 3 runs reached the step cap") and "real_100 1/2" in warning
    assert "real_10 " not in warning and "none of them scored its best at its last evaluation" in warning

    rising = {
        **levelled,
        "synthetic_only": arm(run(0, 6000, 6000, "step_cap"), run(1, 6000, 5750, "step_cap")),
    }
    (warning,) = budget_warnings(rising, seeds=1)
    assert warning.startswith("3 of 5 runs") and "synthetic_only 2/2" in warning
    assert "1 of them scored their best at their last evaluation" in warning
    assert "(synthetic_only seed 0)" in warning and "under-trained" in warning
    assert budget_warnings({"real_10": levelled["real_10"]}, seeds=1) == []


def test_summary_has_mean_sd_and_a_t_interval_that_reaches_past_three_seeds() -> None:
    """With 3 seeds the 95% interval is mean ± t(0.975, 2)·sd/√3 = ± 4.30·0.2/√3, well beyond the
    seeds' own range (a bootstrap of 3 seeds could never leave it, and covers ~75%)."""
    summary = summarize([0.2, 0.4, 0.6])
    assert summary["mean"] == pytest.approx(0.4) and summary["sd"] == pytest.approx(0.2)
    half = 4.302653 * 0.2 / np.sqrt(3)
    assert summary["ci95"] == pytest.approx([0.4 - half, 0.4 + half], abs=1e-5)
    assert summary["ci95_over"] == "seeds"


def test_an_map_interval_stays_within_0_and_1() -> None:
    """Three scattered seeds near 0: the t interval's lower end would be negative, an impossible mAP."""
    assert summarize([0.01, 0.15, 0.3])["ci95"][0] < 0
    low, high = summarize([0.01, 0.15, 0.3], bounds=(0.0, 1.0))["ci95"]
    assert low == 0.0 and high == pytest.approx(summarize([0.01, 0.15, 0.3])["ci95"][1])


def test_the_baseline_has_no_ratio_interval_to_itself() -> None:
    """real-100% over real-100% is 1 by definition, not an interval as if two arms were compared."""
    photos = np.random.default_rng(5).normal(0, 0.02, 50)

    def runs(arm: str, scores: list[float]) -> list[dict]:
        return [
            {
                "arm": arm,
                "seed": k,
                "test": {
                    **{m: v for m in ("map", "map50", "die_map", "die_map50")},
                    "map_image_resamples": list(v + photos),
                    "per_class_ap": {"one": v},
                },
                "real_val": {"map": v},
                "steps": 100,
                "train_seconds": 1.0,
                "stopped_by": "patience",
            }
            for k, v in enumerate(scores)
        ]

    records = runs("real_100", [0.5, 0.52, 0.48]) + runs("real_10", [0.3, 0.35, 0.32])
    arms = aggregate(records, {"real_100": {}, "real_10": {}})
    assert arms["real_100"]["ratio_to_real_100"]["map"] == 1.0
    assert arms["real_100"]["ratio_to_real_100_ci95"] is None
    low, high = arms["real_10"]["ratio_to_real_100_ci95"]
    assert low < 0.32 / 0.5 < high


def test_the_t_interval_covers_the_true_mean_95_percent_of_the_time() -> None:
    """Coverage, the property the interval is for: 3 seeds with seed noise and a shared photo draw."""
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(400):
        photos = rng.normal(0, 0.015, 200)  # the draws of the test photos, shared by the seeds
        shift = rng.normal(0, 0.015)  # how far these 50 photos put every seed from the true score
        seeds = 0.5 + shift + rng.normal(0, 0.04, 3)
        low, high = summarize(list(seeds), [list(v + photos + 0.008) for v in seeds])["ci95"]
        hits += low <= 0.5 <= high
    assert 0.90 <= hits / 400 <= 0.98  # Welch–Satterthwaite: about 93%; the old seed bootstrap: about 80%


def test_the_interval_over_seeds_and_test_images_holds_both_spreads() -> None:
    """Three seeds that agree exactly still leave the test photos' spread; and it adds to the seeds'."""
    rng = np.random.default_rng(1)
    photos = rng.normal(0, 0.03, 200)  # how each shared test-set draw moves every run's score
    agreeing = summarize([0.4] * 3, test_resamples=[list(0.4 + photos)] * 3)
    assert agreeing["ci95_over"] == "seeds and test images"
    assert summarize([0.4] * 3)["ci95"] == pytest.approx([0.4, 0.4])
    low, high = agreeing["ci95"]
    assert low == pytest.approx(0.4 - 1.96 * 0.03, abs=0.01) and high == pytest.approx(
        0.4 + 1.96 * 0.03, abs=0.01
    )
    seeds = [0.35, 0.4, 0.45]
    both = summarize(seeds, test_resamples=[list(v + photos) for v in seeds])
    low, high = both["ci95"]
    assert (low + high) / 2 == pytest.approx(0.4) and high - low > agreeing["ci95"][1] - agreeing["ci95"][0]
    assert summarize(seeds, test_resamples=[list(photos)])["ci95_over"] == "seeds"  # draws of one seed only


def test_a_difference_between_arms_pairs_their_seeds_and_their_test_photos() -> None:
    """A pretraining that adds exactly 10 points on every seed's photos and every test draw: [10, 10],
    however much seeds and photos move both arms; unpaired seeds make it as wide as their spread."""
    rng = np.random.default_rng(2)
    photos = rng.normal(0, 0.03, 200)
    seed_effect = [-0.05, 0.0, 0.06]

    def runs(arm: str, offset: float, seeds: range, bias: float = 0.008) -> list[dict]:
        return [
            {
                "arm": arm,
                "seed": k,
                "test": {
                    "map": 0.3 + offset + seed_effect[k],
                    # resampled mAP runs above the full-set score, by more for some runs than others
                    "map_image_resamples": list(0.3 + offset + seed_effect[k] + photos + bias * (k + 1)),
                },
            }
            for k in seeds
        ]

    records = runs("synthetic_to_10", 0.1, range(3)) + runs("real_10", 0.0, range(3), bias=0.004)
    # The seeds' spread is that of their full-set scores (as for one arm), not of their draws' means.
    assert difference_interval(records, "synthetic_to_10", "real_10") == pytest.approx([10.0, 10.0])
    unpaired = runs("synthetic_to_10", 0.1, range(3)) + runs("real_10", 0.0, range(2))
    low, high = difference_interval(unpaired, "synthetic_to_10", "real_10")
    assert low < 7 and high > 13
    records[0]["test"].pop("map_image_resamples")
    assert difference_interval(records, "synthetic_to_10", "real_10") is None


def _tiny_set() -> DetectionSet:
    rng = np.random.default_rng(3)
    samples = []
    for image_id in range(1, 5):
        image = np.full((96, 96, 3), 90, np.uint8)
        x, y = rng.integers(10, 60, size=2)
        image[y : y + 20, x : x + 20] = (230, 40, 40)
        boxes = np.array([[x, y, x + 20, y + 20]], np.float32)
        samples.append(Sample(image_id, f"{image_id}.png", image, boxes, np.array([image_id % 3])))
    return DetectionSet(CLASSES, tuple(samples))


TINY = TrainConfig(width=8, batch=2, eval_every=2, max_steps=4, patience=5, augment=AugmentConfig(crop=64))
ANNEALED = replace(TINY, anneal_steps=4)


def test_same_seed_trains_the_same_model(tmp_path: Path) -> None:
    data = _tiny_set()
    first = train_arm(data, data, TINY, 5, tmp_path / "a")
    second = train_arm(data, data, TINY, 5, tmp_path / "b")
    assert _same_curve(first, second)
    _assert_same_weights(tmp_path / "a" / "best.pt", tmp_path / "b" / "best.pt")


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
@pytest.mark.parametrize(("config", "killed_at"), [(TINY, 2), (ANNEALED, 4)], ids=["search", "anneal"])
def test_interrupted_training_resumes_to_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ema_decay: float, config: TrainConfig, killed_at: int
) -> None:
    """Weights, optimiser, random draws and the moving average (when kept) all resume where they were,
    in the search (killed after the step-2 checkpoint) and in the anneal (after the step-6 one)."""
    data = _tiny_set()
    straight = train_arm(data, data, config, 5, tmp_path / "straight", ema_decay=ema_decay)
    with _killed_at_evaluation(monkeypatch, killed_at), pytest.raises(KeyboardInterrupt):
        train_arm(data, data, config, 5, tmp_path / "resumed", ema_decay=ema_decay)
    assert (tmp_path / "resumed" / "state.pt").exists()
    resumed = train_arm(data, data, config, 5, tmp_path / "resumed", ema_decay=ema_decay)
    assert resumed["steps"] == straight["steps"] == 4 + config.anneal_steps
    assert resumed.get("anneal") == straight.get("anneal")
    assert _same_curve(straight, resumed)
    _assert_same_weights(tmp_path / "straight" / "best.pt", tmp_path / "resumed" / "best.pt")


def test_a_run_records_its_thread_counts_and_warns_when_resumed_with_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Losses summed in another order differ in the last bits: a resume with another thread count is
    not the uninterrupted run, and the result must say so."""
    data = _tiny_set()
    threads = torch.get_num_threads()
    with _killed_at_evaluation(monkeypatch, 2), pytest.raises(KeyboardInterrupt):
        train_arm(data, data, TINY, 5, tmp_path / "run")
    torch.set_num_threads(threads + 1)
    try:
        with caplog.at_level(logging.WARNING):
            result = train_arm(data, data, TINY, 5, tmp_path / "run")
    finally:
        torch.set_num_threads(threads)
    assert result["torch_threads"] == [threads, threads + 1]
    assert f"trained with {threads} and {threads + 1} torch threads" in caplog.text


@contextmanager
def _killed_at_evaluation(monkeypatch: pytest.MonkeyPatch, nth: int) -> Iterator[None]:
    """Training is interrupted at its `nth` evaluation (the checkpoint before it is on disk)."""
    calls = {"n": 0}
    real_evaluate = train_module.evaluate

    def evaluate_then_die(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == nth:
            raise KeyboardInterrupt
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(train_module, "evaluate", evaluate_then_die)
    try:
        yield
    finally:
        monkeypatch.setattr(train_module, "evaluate", real_evaluate)


def _same_curve(a: dict, b: dict) -> bool:
    """Same steps, and losses and validation scores equal to float precision (the resumed loss included)."""
    flat = [[c[k] for k in ("step", "loss", "val_map")] for c in a["curve"]]
    other = [[c[k] for k in ("step", "loss", "val_map")] for c in b["curve"]]
    return len(flat) == len(other) and all(x == pytest.approx(y) for x, y in zip(flat, other, strict=True))


def _assert_same_weights(a: Path, b: Path) -> None:
    left, right = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
    assert left.keys() == right.keys()
    for key in left:
        torch.testing.assert_close(left[key], right[key], rtol=0, atol=1e-6)


def test_an_anneal_follows_the_search_from_its_best_step(tmp_path: Path) -> None:
    result = train_arm(_tiny_set(), _tiny_set(), ANNEALED, 5, tmp_path / "arm")
    anneal = result["anneal"]
    assert anneal["from_step"] == 4 and result["steps"] == 8
    assert [point["step"] for point in result["curve"]] == [2, 4, 6, 8]
    assert anneal["start_learning_rate"] == pytest.approx(learning_rate(ANNEALED, anneal["best_step_before"]))
    assert result["best_val_map"] >= anneal["best_val_map_before"]
    assert not (tmp_path / "arm" / "state.pt").exists()


def test_annealing_a_run_finished_without_one_is_annealing_it_in_one_go(tmp_path: Path) -> None:
    """The anneal depends on the search's best weights alone: a run finished before annealing existed (or
    lent by a folder without it) and annealed later ends exactly where one annealed straight away does."""
    data = _tiny_set()
    straight = train_arm(data, data, ANNEALED, 5, tmp_path / "straight")
    searched = train_arm(data, data, TINY, 5, tmp_path / "later")
    assert "anneal" not in searched
    later = train_arm(data, data, ANNEALED, 5, tmp_path / "later")
    assert later["anneal"] == straight["anneal"]
    assert _same_curve(straight, later)
    _assert_same_weights(tmp_path / "straight" / "best.pt", tmp_path / "later" / "best.pt")
    again = train_arm(data, data, ANNEALED, 5, tmp_path / "later")  # finished: returned as it is
    assert again == json.loads(json.dumps(later))


def test_the_anneal_starts_from_the_best_weights_at_the_best_steps_rate(tmp_path: Path) -> None:
    config = replace(TINY, learning_rate=1.0, warmup_steps=1, max_steps=100, anneal_steps=10)
    best = CenterNet(len(CLASSES), config.width)
    torch.save(best.state_dict(), tmp_path / "best.pt")
    model = CenterNet(len(CLASSES), config.width)
    progress = {"step": 70, "best_step": 50, "best_score": 0.4}
    optimizer = train_module._start_anneal(tmp_path, model, None, config, 5, progress)
    for key, value in best.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)
    assert not optimizer.state  # a fresh optimizer: the stopped run's moments belong to other weights
    rates = [train_module.anneal_learning_rate(progress["anneal"], done, config) for done in range(10)]
    assert rates[0] == pytest.approx(0.5)  # the cosine at step 50 of 100
    assert rates == pytest.approx([0.5 * (1 - done / 10) for done in range(10)])


def test_learning_rate_warms_up_then_decays_to_zero_at_the_cap():
    config = TrainConfig(learning_rate=1.0, warmup_steps=10, max_steps=100)
    rates = [learning_rate(config, step) for step in range(101)]
    assert rates[0] == pytest.approx(0.1 * 0.5 * (1 + math.cos(0)))
    assert rates[9] == pytest.approx(0.5 * (1 + math.cos(math.pi * 9 / 100)))
    assert all(a >= b for a, b in zip(rates[9:-1], rates[10:], strict=True))
    assert rates[100] == pytest.approx(0.0, abs=1e-12)


def test_early_stopping_waits_for_min_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A flat or falling validation score before min_steps cannot end the arm; after it, patience counts."""
    scores = iter([0.5] + [0.1] * 20)
    monkeypatch.setattr(train_module, "evaluate", lambda *a, **k: {"map": next(scores), "die_map50": 0.0})
    config = TrainConfig(
        width=8, batch=2, eval_every=1, max_steps=12, min_steps=6, patience=2, augment=AugmentConfig(crop=64)
    )
    result = train_arm(_tiny_set(), _tiny_set(), config, 5, tmp_path / "arm")
    assert result["steps"] == 8  # steps 7 and 8 are the two evaluations past min_steps without gain
    assert result["best_step"] == 1


def test_best_pt_holds_the_weights_of_the_best_scored_evaluation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The benchmark scores real validation and test from best.pt: it must be the evaluated weights that
    scored best, not the last ones. (Smoke runs train 2 steps and score 0 everywhere, so they cannot
    tell.)"""
    snapshots: list[dict[str, torch.Tensor]] = []
    real_predict = train_module.predict

    def recording_predict(model, dataset, *args, **kwargs):
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return real_predict(model, dataset, *args, **kwargs)

    scores = iter([0.1, 0.6, 0.3, 0.2])
    monkeypatch.setattr(train_module, "predict", recording_predict)
    monkeypatch.setattr(train_module, "evaluate", lambda *a, **k: {"map": next(scores), "die_map50": 0.0})
    config = TrainConfig(
        width=8, batch=2, eval_every=1, max_steps=4, patience=10, augment=AugmentConfig(crop=64)
    )
    result = train_arm(_tiny_set(), _tiny_set(), config, 5, tmp_path / "arm")
    assert result["best_step"] == 2 and len(snapshots) == 4
    best = train_module.load_best(tmp_path / "arm", len(CLASSES), config, torch.device("cpu")).state_dict()
    assert all(torch.equal(best[k], snapshots[1][k]) for k in best)
    assert not all(torch.equal(best[k], snapshots[-1][k]) for k in best)


def test_a_replaying_fine_tune_draws_its_share_of_every_batch_from_the_replay_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four images a batch at share 0.25: three real then one replayed, every step; without replay, none."""
    real = _tiny_set()
    replay = DetectionSet(
        CLASSES, tuple(Sample(100 + s.image_id, "r", s.image, s.boxes, s.labels) for s in real.samples)
    )
    drawn: list[list[int]] = []
    real_crop = train_module.augmented_crop

    def recording_crop(sample, config, rng):
        drawn[-1].append(sample.image_id)
        return real_crop(sample, config, rng)

    real_batch = train_module._training_batch

    def recording_batch(*args):
        drawn.append([])
        return real_batch(*args)

    monkeypatch.setattr(train_module, "augmented_crop", recording_crop)
    monkeypatch.setattr(train_module, "_training_batch", recording_batch)
    config = TrainConfig(width=8, batch=4, eval_every=2, max_steps=4, augment=AugmentConfig(crop=64))
    result = train_arm(real, real, config, 5, tmp_path / "mixed", replay=replay, replay_share=0.25)
    assert result["replay_images_per_batch"] == 1
    assert [[i >= 100 for i in batch] for batch in drawn] == [[False, False, False, True]] * 4

    drawn.clear()
    assert train_arm(real, real, config, 5, tmp_path / "plain")["replay_images_per_batch"] == 0
    assert all(i < 100 for batch in drawn for i in batch)


def test_replay_count_is_the_rounded_share_of_a_batch_and_leaves_a_real_image() -> None:
    config = TrainConfig(batch=8)
    assert [train_module.replay_count(config, s) for s in (0.0, 0.01, 0.25, 0.5, 0.99)] == [0, 1, 2, 4, 7]


def test_a_replay_set_with_other_classes_is_refused(tmp_path: Path) -> None:
    other = DetectionSet(("bolt",), _tiny_set().samples)
    with pytest.raises(ValueError, match="replay classes"):
        train_arm(_tiny_set(), _tiny_set(), TINY, 5, tmp_path / "arm", replay=other, replay_share=0.5)


def test_an_averaging_run_scores_and_saves_the_moving_average_of_its_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training itself is unchanged; what is scored and saved is the average: the first step's weights,
    then decay × average + (1 − decay) × the new weights."""
    scores = iter([0.1, 0.2] * 2)  # every evaluation of both runs improves, so each one saves best.pt
    monkeypatch.setattr(train_module, "evaluate", lambda *a, **k: {"map": next(scores), "die_map50": 0.0})
    saved: list[dict[str, torch.Tensor]] = []
    real_save = train_module.atomic_save

    def recording_save(path: Path, write) -> None:
        real_save(path, write)
        if path.name == "best.pt":
            saved.append(torch.load(path, weights_only=True))

    monkeypatch.setattr(train_module, "atomic_save", recording_save)
    config = TrainConfig(width=8, batch=2, eval_every=1, max_steps=2, augment=AugmentConfig(crop=64))
    plain = train_arm(_tiny_set(), _tiny_set(), config, 5, tmp_path / "plain")
    averaged = train_arm(_tiny_set(), _tiny_set(), config, 5, tmp_path / "averaged", ema_decay=0.25)
    assert (plain["ema_decay"], averaged["ema_decay"]) == (0.0, 0.25)
    assert [c["loss"] for c in averaged["curve"]] == [c["loss"] for c in plain["curve"]]
    first, second, first_average, second_average = saved
    assert any(not torch.equal(first[k], second[k]) for k in first)  # the weights did move
    for key in first:
        torch.testing.assert_close(first_average[key], first[key])
        torch.testing.assert_close(second_average[key], 0.25 * first[key] + 0.75 * second[key])


def test_the_learning_rate_option_reaches_every_arms_training_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--learning-rate` sets the real-only arms' and pretrainings' rate; fine-tunes keep their own."""
    seen = []
    monkeypatch.setattr(
        runner, "run_benchmark", lambda config, command: seen.append(config) or {"headline": {}}
    )
    base = ["benchmark", "--real", "r.json", "--scene", "dice_tray", "--synthetic", "4", "--out", "o"]
    for extra in ([], ["--learning-rate", "0.001", "--finetune-learning-rate", "0.0005"]):
        with pytest.raises(SystemExit):
            main([*base, *extra])
    default, tuned = seen
    assert default.train.learning_rate == TrainConfig().learning_rate
    assert tuned.train.learning_rate == 0.001
    real_only = Arm("real_10", "real", real_fraction=0.1)
    finetune = Arm("synthetic_to_10", "real", real_fraction=0.1, pretrained="synthetic_only")
    assert runner.arm_train_config(real_only, tuned).learning_rate == 0.001
    assert runner.arm_train_config(finetune, tuned).learning_rate == 0.0005


def test_headline_keys_name_the_headline_fraction_10_whatever_it_is() -> None:
    """`--fraction 20`: every headline key still says `_to_10` (the headline fraction), the adapter's
    after-fine-tune gain included, so publishers read one set of names."""

    def arm(score: float, fraction: float, pretrained_from: str | None = None) -> dict:
        return {
            "map": {"mean": score},
            "ratio_to_real_100": {"map": score / 0.5},
            "real_fraction": fraction,
            "real_train_fraction": fraction,
            "pretrained_from": pretrained_from,
        }

    arms = {
        "real_100": arm(0.5, 1.0),
        "real_20": arm(0.3, 0.2),
        "synthetic_only": arm(0.3, 0.0),
        "synthetic_to_20": arm(0.4, 0.2, "synthetic_only"),
        "adapted_fda_only": arm(0.35, 0.0),
        "adapted_fda_to_20": arm(0.42, 0.2, "adapted_fda_only"),
    }
    keys = set(headline(arms, "20"))
    assert "adapted_fda_to_10_minus_synthetic_to_10_points" in keys
    assert "synthetic_to_10_minus_real_10_points" in keys
    assert not [key for key in keys if "_20" in key]


def test_a_ratio_interval_holds_both_arms_seed_noise_and_is_exact_without_noise() -> None:
    from scenesmith.benchmark.intervals import ratio_interval

    photos = np.random.default_rng(4).normal(0, 0.02, 200)
    flat = np.array([0.4, 0.4, 0.4]), np.array([0.5, 0.5, 0.5])
    exact = ratio_interval(
        flat[0], flat[0][:, None] * (1 + 0 * photos), flat[1], flat[1][:, None] + 0 * photos
    )
    assert exact == pytest.approx([0.8, 0.8])
    noisy, base = np.array([0.35, 0.4, 0.45]), np.array([0.48, 0.5, 0.52])
    low, high = ratio_interval(noisy, noisy[:, None] + photos, base, base[:, None] + photos)
    assert low < 0.8 < high and high - low > 0.2  # t with about 2 degrees of freedom: wide
    assert low * high == pytest.approx(0.8**2, rel=0.02)  # symmetric on the log scale, about 0.8


def test_an_adapted_arm_counts_the_real_photos_its_adapter_was_fitted_on(tmp_path: Path) -> None:
    """Labels unused is not photos unused: an adapted synthetic-only arm shows its adapter's fit set."""
    from scenesmith.benchmark.report import _labelled
    from scenesmith.benchmark.runner import _adapter_real_images

    (tmp_path / "fda").mkdir()
    (tmp_path / "fda/adapter.json").write_text(
        json.dumps({"method": "fda", "fitted_on": {"real_images": 200}})
    )
    (tmp_path / "sensor").mkdir()
    (tmp_path / "sensor/adapter.json").write_text(json.dumps({"method": "sensor"}))
    assert _adapter_real_images(str(tmp_path / "fda")) == 200 and _adapter_real_images(None) == 0
    assert _adapter_real_images(str(tmp_path / "sensor")) is None
    arm = {"real_train_images": 0, "labelled_real_images": 0, "adapter": str(tmp_path / "fda")}
    assert _labelled({**arm, "unlabelled_real_images": 200}) == "0 (+ 200 unlabelled)"
    assert _labelled({**arm, "unlabelled_real_images": None}) == "0 (+ the photos its adapter was fitted on)"
    assert _labelled({**arm, "adapter": None, "unlabelled_real_images": 0}) == "0"


@pytest.mark.parametrize("percent", ["150", "-5", "0", "nan"])
def test_a_headline_fraction_outside_0_to_100_percent_is_refused(percent: str, capsys) -> None:
    """`--fraction 150` trained on 100% under the name real_150; -5 made an arm that uses no photo."""
    from scenesmith.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["benchmark", "--out", "run", "--fraction", percent])
    assert "expected a percentage above 0 and at most 100" in capsys.readouterr().err
