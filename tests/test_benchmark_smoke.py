"""A tiny benchmark run through the CLI: every arm (sweep and control included), evaluation, report, resume.

The "real" photos are a second rendered dice set with a `split` field, so the test needs no shared data
and stays seconds long; the numbers it produces mean nothing, the plumbing is what is checked.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from scenesmith.benchmark import runner, scoring
from scenesmith.benchmark import train as train_module
from scenesmith.benchmark.data import draw_fraction, split_validation
from scenesmith.benchmark.evaluate import Detections
from scenesmith.cli import main

TINY_RENDER = ["--resolution", "64x64", "--samples", "2", "--set", "render.denoise=false"]
TINY_TRAIN = ["--max-steps", "2", "--eval-every", "1", "--patience", "1", "--batch", "2", "--crop", "64"]


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return int(exit_info.value.code)


@pytest.fixture(scope="module")
def real_coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("real") / "dice"
    code = run_cli(
        [
            "generate",
            "dice_tray",
            "--count",
            "10",
            "--seed",
            "99",
            "--out",
            str(folder),
            "--quiet",
            *TINY_RENDER,
        ]
    )
    assert code == 0
    coco = json.loads((folder / "annotations.json").read_text())
    for image in coco["images"]:
        image["split"] = "train" if image["id"] <= 7 else "test"
    (folder / "annotations.json").write_text(json.dumps(coco))
    return folder


@pytest.fixture(scope="module")
def run(real_coco: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    root = tmp_path_factory.mktemp("bench")
    args = [
        "benchmark",
        "--real",
        str(real_coco),
        "--scene",
        "dice_tray",
        "--synthetic",
        "6",
        *TINY_RENDER,
        "--seeds",
        "2",
        "--val-count",
        "3",
        "--sweep",
        *TINY_TRAIN,
        "--out",
        str(root / "run"),
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SCENESMITH_CACHE", str(root / "cache"))
        assert run_cli(args) == 0
        yield root / "run", args


def test_every_arm_is_reported_with_its_data_use(run: tuple[Path, list[str]]) -> None:
    out, _ = run
    report = json.loads((out / "report.json").read_text())
    arms = report["arms"]
    expected = {
        "real_100",
        "real_10",
        "synthetic_only",
        "synthetic_to_10",
        "synthetic_to_100",
        "control_to_10",
    }
    expected |= {f"{kind}_{p}" for kind in ("real", "synthetic_to") for p in (1, 5, 25, 50)}
    assert expected <= set(arms)
    assert (
        report["real_pool_images"] == 4 and report["real_val_images"] == 3 and report["real_test_images"] == 3
    )
    assert arms["synthetic_only"]["labelled_real_images"] == 0
    assert arms["synthetic_only"]["synthetic_images"] == 6
    assert arms["real_100"]["labelled_real_images"] == 4 + 3
    assert arms["real_10"]["labelled_real_images"] == 1 + 3
    assert arms["real_10"]["real_train_fraction"] == 0.25  # 10% of 4 rounds to 1 image: the curve's x
    assert arms["control_to_10"]["pretrained_from"] == "control_only"
    for arm in arms.values():
        assert arm["map"]["n"] == 2 and 0.0 <= arm["map"]["mean"] <= 1.0
        assert arm["steps"]["mean"] >= 1
    assert set(report["headline"]) >= {"real_data_equivalence", "synthetic_to_10_over_real_100"}
    assert any("step cap" in warning for warning in report["warnings"])  # 2 steps: every run is capped
    assert not any(
        w.startswith("Not every arm") for w in report["warnings"]
    )  # control_only has no dice score
    for name in ("report.md", "bars.png", "fractions.png", "curves.png", "predictions.jpg"):
        assert (out / name).stat().st_size > 0
    markdown = (out / "report.md").read_text()
    assert "| synthetic_to_10 |" in markdown
    low, high = arms["real_100"]["map"]["ci95"]
    row = next(line for line in markdown.splitlines() if line.startswith("| real_100 |"))  # the arms table
    assert f"| [{low:.3f}, {high:.3f}] |" in row  # the interval beside mean ± sd
    assert all(arm["map"]["ci95_over"] == "seeds and test images" for arm in arms.values())
    assert "Student t interval over the seeds" in markdown and "draws of the test photos" in markdown
    ratio = report["headline"]["synthetic_only_over_real_100"]  # carries its interval when it has one
    if min(arms[name]["map"]["mean"] for name in ("synthetic_only", "real_100")) > 0:
        assert ratio["ci95"][0] < ratio["value"] < ratio["ci95"][1]
    else:  # 2-step detectors may score 0: a ratio of 0 has no log-scale interval
        assert ratio["ci95"] is None and "ratio_to_real_100_ci95" in arms["synthetic_only"]
    # 2-step detectors read no validation die right: every headline arm has a full misread sheet
    assert set(report["misread_sheets"]) == {
        "synthetic_only",
        "real_100",
        "real_10",
        "synthetic_to_10",
        "synthetic_to_100",
    }
    sheet = report["misread_sheets"]["real_100"]
    assert sheet["misread"] > 0 and (out / sheet["file"]).stat().st_size > 0
    assert f"![real_100 misreads]({sheet['file']})" in markdown
    low, high = report["headline"]["synthetic_to_10_minus_real_10_points"]["ci95"]
    assert (
        "synthetic_to_10_minus_real_10_points: **" in markdown
        and f"[95% CI {low:.1f}, {high:.1f}]" in markdown
    )
    assert row.startswith("| real_100 | 2 | 4 + 3 |")  # seeds finished, real train + validation images


def test_fine_tunes_start_from_their_seeds_pretraining(run: tuple[Path, list[str]]) -> None:
    out, _ = run
    for seed in (0, 1):
        assert (out / "arms" / "synthetic_only" / f"seed{seed}" / "best.pt").exists()
        assert (out / "arms" / "control_only" / f"seed{seed}" / "best.pt").exists()
        result = json.loads((out / "arms" / "synthetic_to_10" / f"seed{seed}" / "result.json").read_text())
        assert result["steps"] >= 1


def test_every_arm_is_scored_on_real_validation(run: tuple[Path, list[str]]) -> None:
    out, _ = run
    report = json.loads((out / "report.json").read_text())
    for name, arm in report["arms"].items():
        assert arm["real_val_map"]["n"] == 2, name
        for seed in arm["seeds"]:
            assert (out / "arms" / name / f"seed{seed['seed']}" / "real_val.json").exists()
    assert "real val mAP" in (out / "report.md").read_text()


def weight_dependent_oracle(model, dataset, tta: str = "none") -> Detections:
    """The true boxes, each shifted sideways by a fraction of its width set by the model's weights and
    its own index: every checkpoint scores its own mAP, well inside (0, 1), where 2-step detectors all
    score 0, and in fine steps (each box crosses the IoU thresholds at its own weights)."""
    weights = torch.cat([tensor.flatten().double() for tensor in model.state_dict().values()])
    base = float(weights.abs().sum() * 1e4 % 1.0)
    boxes, scores, labels = {}, {}, {}
    for sample in dataset.samples:
        moved = sample.boxes.astype(float).copy()
        shift = 0.05 + (base + 0.618 * np.arange(len(moved))) % 1.0 * 0.4  # IoU 0.43-0.90
        moved[:, [0, 2]] += (shift * (moved[:, 2] - moved[:, 0]))[:, None]
        boxes[sample.image_id], labels[sample.image_id] = moved, sample.labels.copy()
        scores[sample.image_id] = np.linspace(1.0, 0.5, len(moved))
    return Detections(boxes, scores, labels)


def test_a_run_chosen_on_real_validation_scores_it_again_as_training_scored_its_best_checkpoint(
    real_coco: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the photo as it is (`--tta none`), the benchmark's real-validation score of a run is the
    score training gave the checkpoint it kept: the same photos, the same weights (best.pt), the same
    evaluation. Each checkpoint here scores differently, so scoring another checkpoint, another set or
    another way would not match."""
    monkeypatch.setattr(train_module, "predict", weight_dependent_oracle)
    monkeypatch.setattr(scoring, "predict", weight_dependent_oracle)
    monkeypatch.setenv("SCENESMITH_CACHE", str(tmp_path / "cache"))
    args = ["benchmark", "--real", str(real_coco), "--arms", "real_100,real_10", "--seeds", "1"]
    args += ["--val-count", "3", "--tta", "none", *TINY_TRAIN, "--max-steps", "4", "--patience", "4"]
    assert run_cli([*args, "--out", str(tmp_path / "run")]) == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    kept_before_the_last = []
    for name in ("real_100", "real_10"):
        (seed,) = report["arms"][name]["seeds"]
        result = json.loads((tmp_path / "run" / "arms" / name / "seed0" / "result.json").read_text())
        curve = [point["val_map"] for point in result["curve"]]
        assert curve.count(max(curve)) == 1 and 0 < max(curve) < 1, curve  # one best checkpoint
        kept_before_the_last.append(curve.index(max(curve)) < len(curve) - 1)
        assert seed["real_val"]["map"] == pytest.approx(seed["best_val_map"], abs=1e-9) == max(curve)
        assert 0 < seed["test"]["map"] < 1
    assert any(kept_before_the_last)  # else scoring the last weights instead of best.pt would pass too


def test_every_test_die_is_counted_once_per_seed_in_the_reading_matrix(
    run: tuple[Path, list[str]], real_coco: Path
) -> None:
    out, _ = run
    report = json.loads((out / "report.json").read_text())
    coco = json.loads((real_coco / "annotations.json").read_text())
    test_ids = {image["id"] for image in coco["images"] if image["split"] == "test"}
    test_dice = sum(a["image_id"] in test_ids and not a.get("iscrowd", 0) for a in coco["annotations"])
    reading = report["arms"]["synthetic_to_10"]["test_reading"]
    assert reading["classes"][-1] == "missed"
    assert sum(map(sum, reading["matrix"])) == 2 * test_dice
    assert "## How the test dice were read" in (out / "report.md").read_text()
    assert (out / "reading.png").stat().st_size > 0


def test_rerun_resumes_without_retraining(
    run: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nor predicting again what finished runs already predicted: the misread sheets are drawn once."""
    out, args = run
    drawn = []
    monkeypatch.setattr(scoring, "misread_sheet", lambda *a: drawn.append(a) or 0)
    results = sorted((out / "arms").glob("*/seed*/result.json"))
    stamps = [p.stat().st_mtime_ns for p in results]
    report_before = json.loads((out / "report.json").read_text())
    before = report_before["arms"]
    # A score cached before the reading matrix existed is recomputed from the same checkpoint.
    old_score = out / "arms" / "real_10" / "seed0" / "test.json"
    current = json.loads(old_score.read_text())
    old_score.write_text(json.dumps({k: v for k, v in current.items() if k != "reading"}))
    assert run_cli(args) == 0
    assert [p.stat().st_mtime_ns for p in results] == stamps
    assert json.loads(old_score.read_text()) == current
    after = json.loads((out / "report.json").read_text())
    assert {n: a["map"]["values"] for n, a in after["arms"].items()} == {
        n: a["map"]["values"] for n, a in before.items()
    }
    assert not drawn and after["misread_sheets"] == report_before["misread_sheets"]
    assert set(after["misread_sheets"]) >= {"real_100", "synthetic_to_10"}


def test_changed_settings_in_the_same_run_folder_are_refused(
    run: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, args = run
    changed = [*args]
    changed[changed.index("--max-steps") + 1] = "3"
    assert run_cli(changed) == 2
    assert "different settings (train)" in capsys.readouterr().err


def test_a_rules_iteration_copies_the_real_only_runs_instead_of_retraining(
    run: tuple[Path, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out, args = run
    monkeypatch.setenv("SCENESMITH_CACHE", str(tmp_path / "cache"))  # the shared cache keeps one set
    iteration = [*args, "--set", "objects.dice.count=2", "--real-arms-from", str(out)]
    iteration[iteration.index("--out") + 1] = str(tmp_path / "iteration")
    iteration[iteration.index("--sweep")] = "--arms=real_100,real_10,synthetic_only"
    assert run_cli(iteration) == 0
    report = json.loads((tmp_path / "iteration" / "report.json").read_text())
    original = json.loads((out / "report.json").read_text())
    for arm in ("real_100", "real_10"):
        assert report["arms"][arm]["map"]["values"] == original["arms"][arm]["map"]["values"]
        assert all(seed["copied_from"] for seed in report["arms"][arm]["seeds"])
    assert not any(seed["copied_from"] for seed in report["arms"]["synthetic_only"]["seeds"])
    assert report["synthetic"]["folder"] != original["synthetic"]["folder"]  # another rendered set
    markdown = (tmp_path / "iteration" / "report.md").read_text()
    assert f"Copied, not retrained here, from `{out.resolve()}`: real_100 seed 0" in markdown

    other_schedule = [*iteration]
    other_schedule[other_schedule.index("--max-steps") + 1] = "3"
    other_schedule[other_schedule.index("--out") + 1] = str(tmp_path / "other")
    capsys.readouterr()
    assert run_cli(other_schedule) == 2
    assert "other settings (train); only the synthetic settings may differ" in capsys.readouterr().err


def test_a_finetune_recipe_trains_only_the_fine_tunes_at_that_rate_share_and_average(
    run: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A recipe trial (rate, synthetic share, weight average, each unlike the defaults) borrows the
    real-only runs and the pretrainings; it trains the fine-tunes alone."""
    out, args = run
    monkeypatch.setenv("SCENESMITH_CACHE", str(tmp_path / "cache"))
    lend = ["--real-arms-from", str(out), "--pretrainings-from", str(out)]
    recipe = [*args, "--finetune-learning-rate", "0.001", "--finetune-synthetic-share", "0.25", *lend]
    recipe += ["--finetune-ema", "0.9"]
    recipe[recipe.index("--out") + 1] = str(tmp_path / "recipe")
    recipe[recipe.index("--sweep")] = "--arms=real_10,synthetic_only,synthetic_to_10"
    assert run_cli(recipe) == 0
    arms = tmp_path / "recipe" / "arms"
    rate = {
        arm: json.loads((arms / arm / "seed0" / "result.json").read_text())["config"]["learning_rate"]
        for arm in ("real_10", "synthetic_only", "synthetic_to_10")
    }
    default = json.loads((out / "report.json").read_text())["train_config"]["learning_rate"]
    assert rate == {"real_10": default, "synthetic_only": default, "synthetic_to_10": 0.001}
    replayed = json.loads((arms / "synthetic_to_10" / "seed0" / "result.json").read_text())
    assert replayed["replay_images_per_batch"] == 1  # a quarter of a batch of two, at least one
    assert replayed["ema_decay"] == 0.9
    report = json.loads((tmp_path / "recipe" / "report.json").read_text())
    assert report["finetune_learning_rate"] == 0.001
    original = json.loads((out / "report.json").read_text())
    for lent in ("real_10", "synthetic_only"):
        assert all(seed["copied_from"] for seed in report["arms"][lent]["seeds"])
        assert report["arms"][lent]["map"]["values"] == original["arms"][lent]["map"]["values"]
    assert not any(seed["copied_from"] for seed in report["arms"]["synthetic_to_10"]["seeds"])
    markdown = (tmp_path / "recipe" / "report.md").read_text()
    assert (
        f"Fine-tunes: learning rate 0.001 (pretrainings: {default:g}); 25% of each batch replayed" in markdown
    )
    assert "scored and saved as a moving average of their weights (decay 0.9)." in markdown


def test_an_annealing_folder_anneals_the_runs_it_borrows_and_scores_them_again(
    run: tuple[Path, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Runs lent by a folder without an anneal are annealed where they land; the scores they brought
    were made from their old weights, so they are made again."""
    out, args = run
    lender = tmp_path / "lender"
    shutil.copytree(out, lender)
    for arm in ("real_10", "synthetic_only"):
        stale = lender / "arms" / arm / "seed0" / "test.json"
        stale.write_text(json.dumps({**json.loads(stale.read_text()), "map": 7.0}))
    monkeypatch.setenv("SCENESMITH_CACHE", str(tmp_path / "cache"))
    trial = [
        *args,
        "--anneal-steps",
        "2",
        "--real-arms-from",
        str(lender),
        "--pretrainings-from",
        str(lender),
    ]
    trial[trial.index("--out") + 1] = str(tmp_path / "annealed")
    trial[trial.index("--sweep")] = "--arms=real_10,synthetic_only,synthetic_to_10"

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt  # the trial stopped after borrowing, before any anneal

    with monkeypatch.context() as patch:
        patch.setattr(runner, "train_arm", stopped)
        assert run_cli(trial) == 130
        # --report-only never trains: the borrowed runs still owe their anneal, so none can be reported
        assert run_cli([*trial, "--report-only"]) == 2
    assert "runs still owed their anneal" in capsys.readouterr().out
    assert run_cli(trial) == 0
    report = json.loads((tmp_path / "annealed" / "report.json").read_text())
    for arm in ("real_10", "synthetic_only", "synthetic_to_10"):
        assert 7.0 not in report["arms"][arm]["map"]["values"]
        for seed in report["arms"][arm]["seeds"]:
            assert seed["anneal"]["from_step"] == 2 and seed["steps"] == 4
            assert seed["stopped_by"] == "step_cap"  # the search reached the cap; the anneal is extra
    assert all(seed["copied_from"] for seed in report["arms"]["real_10"]["seeds"])
    assert "Every arm ends with an anneal of 2 steps" in (tmp_path / "annealed" / "report.md").read_text()


def test_self_training_labels_only_the_pool_photos_its_draw_leaves_out_and_labels_them_once(
    run: tuple[Path, list[str]], real_coco: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The teacher (synthetic → 10%, same seed) trains in the trial's folder; it labels the pool photos
    outside the draw (never validation or test ones), once; the student counts no more labelled photos."""
    out, args = run
    monkeypatch.setenv("SCENESMITH_CACHE", str(tmp_path / "cache"))
    trial = [*args, "--self-train", "--pseudo-min-centre", "0.05", "--pretrainings-from", str(out)]
    trial[trial.index("--out") + 1] = str(tmp_path / "selftrain")
    trial[trial.index("--sweep")] = "--arms=real_100,synthetic_to_10_selftrain"
    assert run_cli(trial) == 0
    folder = tmp_path / "selftrain"
    coco = json.loads((real_coco / "annotations.json").read_text())
    train_ids = [image["id"] for image in coco["images"] if image["split"] == "train"]
    pool, validation = split_validation(train_ids, 3, 0)
    report = json.loads((folder / "report.json").read_text())
    student = report["arms"]["synthetic_to_10_selftrain"]
    assert (
        student["labelled_real_images"] == report["arms"]["synthetic_to_10"]["labelled_real_images"] == 1 + 3
    )
    assert student["unlabelled_real_images"] == 3 and student["teacher"] == "synthetic_to_10"
    for seed in (0, 1):
        run_dir = folder / "arms" / "synthetic_to_10_selftrain" / f"seed{seed}"
        labelled = {int(i) for i in json.loads((run_dir / "pseudo_labels.json").read_text())["images"]}
        drawn = set(draw_fraction(pool, 0.10, seed))
        assert labelled == set(pool) - drawn and not labelled & set(validation)
        trained_on = student["seeds"][seed]["train_image_ids"]
        assert sorted(trained_on) == sorted(pool)  # the draw with its true labels, the rest pseudo-labelled
        assert (folder / "arms" / "synthetic_to_10" / f"seed{seed}" / "best.pt").is_file()  # trained here
    quality = student["seeds"][0]["pseudo_labels"]["validation_quality"]
    assert quality["true_dice"] > 0 and 0 <= quality["die_recall"] <= 1
    assert json.loads((folder / "config.json").read_text())["pseudo_min_centre"] == 0.05
    markdown = (folder / "report.md").read_text()
    assert (
        "Self-training (`synthetic_to_10_selftrain`): synthetic_to_10 of the same seed labels the 3"
        in markdown
    )
    assert "| synthetic_to_10_selftrain | 2 | 1 + 3 (+ 3 unlabelled) |" in markdown
    assert "synthetic_to_10_selftrain_minus_synthetic_to_10_points" in report["headline"]
    sheet = report["pseudo_label_sheets"]["synthetic_to_10_selftrain"]
    assert (folder / sheet).stat().st_size > 0 and f"]({sheet})" in markdown

    labels = folder / "arms" / "synthetic_to_10_selftrain" / "seed0" / "pseudo_labels.json"
    stamp = labels.stat().st_mtime_ns
    assert run_cli(trial) == 0
    assert labels.stat().st_mtime_ns == stamp

    # An archive keeps the labels (the teacher's weights are not archived): a restored folder reports them.
    archive, restored = tmp_path / "archive", tmp_path / "restored"
    assert run_cli(["archive", str(folder), str(archive)]) == 0
    assert run_cli(["archive", str(restored), str(archive), "--restore"]) == 0
    report_only = [*trial, "--report-only"]
    report_only[report_only.index("--out") + 1] = str(restored)
    assert run_cli(report_only) == 0
    assert "Self-training (`synthetic_to_10_selftrain`)" in (restored / "report.md").read_text()


def _hues(arms: Path) -> dict[str, float]:
    """The hue jitter each arm's seed 0 trained with (the presets differ most there)."""
    return {
        arm: json.loads((arms / arm / "seed0" / "result.json").read_text())["config"]["augment"][
            "hue_degrees"
        ]
        for arm in ("real_10", "synthetic_only", "synthetic_to_10")
    }


def test_the_defaults_are_the_recipe_measured_best_on_dice(run: tuple[Path, list[str]]) -> None:
    """Renders take the strong augmentation, real photos the standard one; fine-tunes run at a quarter
    of the pretraining's rate and replay renders (strongly augmented) in half of each batch."""
    out, _ = run
    assert _hues(out / "arms") == {"real_10": 8.0, "synthetic_only": 180.0, "synthetic_to_10": 8.0}
    fine_tune = json.loads((out / "arms" / "synthetic_to_10" / "seed0" / "result.json").read_text())
    assert fine_tune["config"]["learning_rate"] == 0.0005
    assert fine_tune["replay_images_per_batch"] == 1  # half of a batch of two
    assert fine_tune["replay_augment"]["hue_degrees"] == 180.0
    assert json.loads((out / "report.json").read_text())["synthetic_augment"] == "strong"
    assert "take the `strong` augmentation (colour 0.4, hue_degrees 180.0" in (out / "report.md").read_text()


def test_a_standard_synthetic_augmentation_retrains_the_pretraining_and_its_fine_tune_replay(
    run: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An augmentation trial borrows the real-only runs (the photos' augmentation is the same); the
    renders (pretraining and replayed images) take the photos' standard preset."""
    out, args = run
    monkeypatch.setenv("SCENESMITH_CACHE", str(tmp_path / "cache"))
    trial = [*args, "--synthetic-augment", "standard", "--finetune-synthetic-share", "0.5"]
    trial += ["--real-arms-from", str(out)]
    trial[trial.index("--out") + 1] = str(tmp_path / "standard")
    trial[trial.index("--sweep")] = "--arms=real_10,synthetic_only,synthetic_to_10"
    assert run_cli(trial) == 0
    arms = tmp_path / "standard" / "arms"
    assert _hues(arms) == {"real_10": 8.0, "synthetic_only": 8.0, "synthetic_to_10": 8.0}
    fine_tune = json.loads((arms / "synthetic_to_10" / "seed0" / "result.json").read_text())
    assert fine_tune["replay_augment"]["hue_degrees"] == 8.0
    report = json.loads((tmp_path / "standard" / "report.json").read_text())
    assert report["synthetic_augment"] == "standard"
    assert all(seed["copied_from"] for seed in report["arms"]["real_10"]["seeds"])
    assert not any(seed["copied_from"] for seed in report["arms"]["synthetic_only"]["seeds"])
    assert (
        "take the real photos' `standard` augmentation" in (tmp_path / "standard" / "report.md").read_text()
    )


def test_report_only_reports_the_finished_runs_and_trains_nothing(
    run: tuple[Path, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Mid-sweep: one seed of real_50 and every synthetic_to_5 run still to train."""
    out, args = run
    partial = tmp_path / "partial"
    shutil.copytree(out, partial)
    shutil.rmtree(partial / "arms" / "real_50" / "seed1")
    shutil.rmtree(partial / "arms" / "synthetic_to_5")
    (partial / "report.json").unlink()
    report_only = [*args, "--report-only"]
    report_only[report_only.index("--out") + 1] = str(partial)
    assert run_cli(report_only) == 0
    assert not (partial / "arms" / "real_50" / "seed1").exists()  # nothing trained
    assert not (partial / "arms" / "synthetic_to_5").exists()
    report = json.loads((partial / "report.json").read_text())
    assert report["arms"]["real_50"]["map"]["n"] == 1 and "synthetic_to_5" not in report["arms"]
    assert (
        report["arms"]["real_100"]["map"]["values"]
        == json.loads((out / "report.json").read_text())["arms"]["real_100"]["map"]["values"]
    )
    (short,) = [w for w in report["warnings"] if w.startswith("Not every arm")]
    assert "real_50 (1)" in short and "synthetic_to_5 (0)" in short

    report_only[report_only.index("--out") + 1] = str(tmp_path / "nothing")
    capsys.readouterr()
    assert run_cli(report_only) == 2
    assert "no benchmark runs here to report" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()

    report_only[report_only.index("--out") + 1] = str(partial)
    monkeypatch.setenv("SCENESMITH_CACHE", str(tmp_path / "empty_cache"))  # not the cache the runs used
    assert run_cli(report_only) == 2
    assert "--report-only renders nothing" in capsys.readouterr().err
    assert not (tmp_path / "empty_cache" / "synthetic").exists() or not any(
        (tmp_path / "empty_cache" / "synthetic").iterdir()
    )


def _rescored_copy(out: Path, args: list[str], copy: Path, *scoring: str) -> list[str]:
    """Copy the run folder `out` to `copy` and report it with another `scoring`, which must retrain
    nothing. Returns the report-only command."""
    shutil.copytree(out, copy)
    trained = {p: p.stat().st_mtime_ns for p in copy.glob("arms/*/seed*/best.pt")}
    report_only = [*args, "--report-only", *scoring]
    report_only[report_only.index("--out") + 1] = str(copy)
    assert run_cli(report_only) == 0
    assert {p: p.stat().st_mtime_ns for p in copy.glob("arms/*/seed*/best.pt")} == trained
    return report_only


def test_another_tta_rescores_finished_runs_from_their_checkpoints_and_an_archive_refuses_it(
    run: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test-time augmentation changes no training: a finished run is scored again from its best.pt.
    An archive keeps no weights of most runs, so asking it for another augmentation is an error, not
    a report that mixes two kinds of score."""
    out, args = run

    def tta_of(folder: Path, name: str) -> set[str | None]:
        """The test-time augmentations of a folder's cached scores (None: the control's, unscored)."""
        return {(json.loads(p.read_text()) or {}).get("tta") for p in folder.glob(f"arms/*/seed*/{name}")}

    assert tta_of(out, "test.json") == {"dihedral", None}
    assert json.loads((out / "report.json").read_text())["tta"] == "dihedral"
    assert "`--tta dihedral`" in (out / "report.md").read_text()

    plain = tmp_path / "plain"
    report_only = _rescored_copy(out, args, plain, "--tta", "none")
    assert tta_of(plain, "test.json") == tta_of(plain, "real_val.json") == {"none", None}
    report = json.loads((plain / "report.json").read_text())
    assert report["tta"] == "none" and "`--tta none`" in (plain / "report.md").read_text()
    assert report["arms"]["real_100"]["map"]["n"] == 2

    archive, restored = tmp_path / "archive", tmp_path / "restored"
    assert run_cli(["archive", str(out), str(archive)]) == 0
    assert run_cli(["archive", str(restored), str(archive), "--restore"]) == 0
    report_only[report_only.index("--out") + 1] = str(restored)
    capsys.readouterr()
    assert run_cli(report_only) == 2
    error = capsys.readouterr().err
    assert "scored with --tta dihedral" in error and "pass --tta dihedral" in error and ".json" in error


def test_box_calibration_rescores_the_runs_with_real_labels_and_an_archive_keeps_its_factors(
    run: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each run that learned from labelled real photos fits its box factor on the real validation
    photos once, from its checkpoint, and scores test and validation with it; synthetic-only keeps its
    boxes. An archive keeps the factors, so a restored folder reports the same scores without weights,
    and refuses to report them uncalibrated."""
    out, args = run
    calibrated = tmp_path / "calibrated"
    report_only = _rescored_copy(out, args, calibrated, "--box-calibration", "validation")
    fitted = {p.parent.parent.name for p in calibrated.glob("arms/*/seed*/box_factor.json")}
    assert {"real_100", "real_10", "synthetic_to_10", "synthetic_to_100"} <= fitted
    assert not fitted & {"synthetic_only", "control_only"}
    for arm in fitted:
        for record in (calibrated / "arms" / arm).glob("seed*/box_factor.json"):
            seed_dir, factor = record.parent, json.loads(record.read_text())["factor"]
            for name in ("test.json", "real_val.json"):
                assert json.loads((seed_dir / name).read_text())["box_factor"] == factor
    synthetic_only = json.loads((calibrated / "arms/synthetic_only/seed0/test.json").read_text())
    assert synthetic_only["box_factor"] is None
    report = json.loads((calibrated / "report.json").read_text())
    assert report["box_calibration"] == "validation"
    assert "`--box-calibration validation`" in (calibrated / "report.md").read_text()

    archive, restored = tmp_path / "archive", tmp_path / "restored"
    assert run_cli(["archive", str(calibrated), str(archive)]) == 0
    assert run_cli(["archive", str(restored), str(archive), "--restore"]) == 0
    report_only[report_only.index("--out") + 1] = str(restored)
    assert run_cli(report_only) == 0
    again = json.loads((restored / "report.json").read_text())["arms"]
    assert {arm: entry.get("map") for arm, entry in again.items()} == {
        arm: entry.get("map") for arm, entry in report["arms"].items()
    }
    capsys.readouterr()
    assert run_cli(report_only[:-1] + ["none"]) == 2
    error = capsys.readouterr().err
    assert "scored with --box-calibration validation" in error
    assert "pass --box-calibration validation" in error


def test_a_report_of_pretrainings_alone_has_no_fraction_plot(
    run: tuple[Path, list[str]], tmp_path: Path
) -> None:
    """No arm trains on a real fraction: no empty plot, no link to one, no plot left from a report before."""
    out, args = run
    pretrainings = tmp_path / "pretrainings"
    shutil.copytree(out, pretrainings)
    assert (pretrainings / "fractions.png").is_file()  # the full report's
    report_only = [*args, "--report-only", "--arms", "synthetic_only"]
    report_only[report_only.index("--out") + 1] = str(pretrainings)
    assert run_cli(report_only) == 0
    assert not (pretrainings / "fractions.png").exists()
    markdown = (pretrainings / "report.md").read_text()
    assert "| synthetic_only |" in markdown and "fractions.png" not in markdown and "bars.png" in markdown
    assert {p.name for p in pretrainings.glob("misreads_*.jpg")} <= {"misreads_synthetic_only.jpg"}
    # Restored from an archive with no seed-0 weights to draw with: the earlier predictions picture was
    # kept, linked and published as this report's.
    assert "predictions.jpg" in markdown
    (pretrainings / "arms" / "synthetic_only" / "seed0" / "best.pt").unlink()
    assert run_cli(report_only) == 0
    assert not (pretrainings / "predictions.jpg").exists()
    assert not list(pretrainings.glob("misreads_*.jpg"))  # the arms --arms left out drew none either
    assert "predictions.jpg" not in (pretrainings / "report.md").read_text()
    assert json.loads((pretrainings / "report.json").read_text())["prediction_sheet"] is None


def test_an_archive_keeps_the_scores_and_pretrainings_and_a_lost_run_folder_resumes_from_it(
    run: tuple[Path, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run folder is lost; the archive (scores + pretrainings' weights) is restored into a new one."""
    out, args = run
    archive = tmp_path / "archive"
    assert run_cli(["archive", str(out), str(archive)]) == 0
    assert not list(archive.rglob("state.pt"))
    assert json.loads((archive / "inputs.json").read_text()) == json.loads((out / "inputs.json").read_text())
    kept_weights = sorted(p.parent.parent.name for p in archive.rglob("best.pt"))
    assert kept_weights == ["control_only"] * 2 + ["synthetic_only"] * 2  # the pretrainings
    assert len(list(archive.glob("arms/*/seed*/result.json"))) == len(
        list(out.glob("arms/*/seed*/result.json"))
    )

    restored = tmp_path / "restored"
    assert run_cli(["archive", str(restored), str(archive), "--restore"]) == 0
    shutil.rmtree(restored / "arms" / "synthetic_to_5" / "seed1")  # one fine-tune never finished
    old_score = restored / "arms" / "real_50" / "seed0" / "test.json"  # scored before the test-set draws
    old_score.write_text(
        json.dumps({k: v for k, v in json.loads(old_score.read_text()).items() if k != "map_image_resamples"})
    )
    report_only = [*args, "--report-only"]
    report_only[report_only.index("--out") + 1] = str(restored)
    assert run_cli(report_only) == 0
    original = json.loads((out / "report.json").read_text())["arms"]
    report = json.loads((restored / "report.json").read_text())["arms"]
    assert report["real_100"]["map"]["values"] == original["real_100"]["map"]["values"]
    assert report["synthetic_to_5"]["map"]["n"] == 1
    assert report["real_50"]["map"]["ci95_over"] == "seeds"  # no weights to score it again: kept as it is
    assert "Over the seeds alone for real_50" in (restored / "report.md").read_text()

    pretraining = restored / "arms" / "synthetic_only" / "seed1" / "result.json"
    stamp = pretraining.stat().st_mtime_ns
    resume = [*args]
    resume[resume.index("--out") + 1] = str(restored)
    assert run_cli(resume) == 0
    assert pretraining.stat().st_mtime_ns == stamp  # the fine-tune started from the restored weights
    assert (restored / "arms" / "synthetic_to_5" / "seed1" / "best.pt").is_file()
    assert json.loads((restored / "report.json").read_text())["arms"]["synthetic_to_5"]["map"]["n"] == 2

    capsys.readouterr()  # restoring never overwrites a finished run, nor mixes two configurations
    assert run_cli(["archive", str(restored), str(archive), "--restore"]) == 0
    assert "restored 0 finished runs" in capsys.readouterr().out
    (archive / "config.json").write_text("{}")
    assert run_cli(["archive", str(restored), str(archive), "--restore"]) == 2
    assert "holds runs of other benchmark settings" in capsys.readouterr().err


def test_real_data_without_split_gives_a_clear_error(
    real_coco: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coco = json.loads((real_coco / "annotations.json").read_text())
    for image in coco["images"]:
        image.pop("split")
    bad = real_coco / "no_split.json"
    bad.write_text(json.dumps(coco))
    code = run_cli(
        [
            "benchmark",
            "--real",
            str(bad),
            "--arms",
            "real_100",
            "--control-scene",
            "none",
            "--out",
            str(tmp_path / "run"),
        ]
    )
    assert code == 2
    assert "no_split.json" in capsys.readouterr().err


def test_adapter_arms_train_on_the_adapted_set_and_report_the_gain(
    run: tuple[Path, list[str]], real_coco: Path
) -> None:
    out, args = run
    cache = out.parent / "cache"
    (synthetic,) = (cache / "synthetic").glob("dice_tray_*")
    model = out.parent / "fda"
    fit = ["adapt", "train", "--synthetic", str(synthetic), "--real", str(real_coco / "annotations.json"),
           "--method", "fda", "--option", "beta=0.05", "--out", str(model)]  # fmt: skip
    assert run_cli(fit) == 0
    assert run_cli([*args, "--adapter", str(model)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["arms"]["adapted_fda_only"]["synthetic_images"] == 6
    assert report["arms"]["adapted_fda_to_10"]["pretrained_from"] == "adapted_fda_only"
    assert "adapted_fda_only_minus_synthetic_only_points" in report["headline"]
    after_finetune = report["headline"]["adapted_fda_to_10_minus_synthetic_to_10_points"]
    expected = (
        report["arms"]["adapted_fda_to_10"]["map"]["mean"] - report["arms"]["synthetic_to_10"]["map"]["mean"]
    )
    assert after_finetune["value"] == pytest.approx(100 * expected) and after_finetune["target"] is None
    markdown = (out / "report.md").read_text()
    assert "- adapted_fda_to_10_minus_synthetic_to_10_points: **" in markdown
    assert "(target None)" not in markdown
    (adapted,) = (cache / "adapted").glob("dice_tray_*_fda_*")
    assert json.loads((adapted / "manifest.json").read_text())["adapter"]["method"] == "fda"
    assert (adapted / "masks").is_dir() and len(list((adapted / "meta").glob("*.json"))) == 6
    # the label check: synthetic_only seed 0 read every rendered die before and after the adapter
    kept = report["adapted"]["adapted:fda"]["labels_kept"]
    dice = len(json.loads((adapted / "annotations.json").read_text())["annotations"])
    assert kept["objects"] == dice and kept["adapted_folder"] == str(adapted)
    assert json.loads((out / "labels_kept_fda.json").read_text()) == kept


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        (["--real", "{tmp}/no_such.json"], "no_such.json: no such COCO file"),
        (["--adapter", "{tmp}/not_an_adapter"], "not_an_adapter: not an adapter"),
        (["--scene", "conveyor_parts"], "scene 'conveyor_parts' labels"),
        (["--arms", "real_7"], "unknown arm"),
        (
            ["--fraction", "100", "--self-train", ""],
            "--self-train labels the pool photos that --fraction 100",
        ),
    ],
)
def test_a_bad_input_fails_before_the_run_folder_or_a_render_exists(
    real_coco: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mistake: list[str],
    message: str,
) -> None:
    """A mistyped path must not leave a config.json that refuses the corrected command, nor cost a render."""
    (tmp_path / "not_an_adapter").mkdir()
    monkeypatch.setenv("SCENESMITH_CACHE", str(tmp_path / "cache"))
    good = {"--real": str(real_coco), "--scene": "dice_tray", "--arms": "synthetic_only"}
    given = dict(zip(mistake[::2], (m.format(tmp=tmp_path) for m in mistake[1::2]), strict=True))
    options = [item for pair in {**good, **given}.items() for item in pair if item]  # "": a flag
    tiny = ["--synthetic", "6", "--val-count", "3", *TINY_RENDER]
    code = run_cli(["benchmark", *options, *tiny, "--out", str(tmp_path / "run")])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    assert not (tmp_path / "cache").exists()


def test_an_adapter_fitted_on_the_test_photos_is_refused_before_any_work(
    real_coco: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Copies of the test photos in a folder with no COCO file say nothing about splits, so `adapt train
    --split none` takes them; the benchmark must still not let that adapter's arms score on them."""
    coco = json.loads((real_coco / "annotations.json").read_text())
    photos = tmp_path / "photos"
    photos.mkdir()
    for image in coco["images"]:
        if image["split"] == "test":
            shutil.copy(real_coco / image["file_name"], photos / f"copy_{image['id']}.png")
    model = tmp_path / "fda"
    fit = ["adapt", "train", "--synthetic", str(real_coco), "--real", str(photos), "--split", "none",
           "--method", "fda", "--out", str(model)]  # fmt: skip
    assert run_cli(fit) == 0
    monkeypatch.setenv("SCENESMITH_CACHE", str(tmp_path / "cache"))
    code = run_cli(["benchmark", "--real", str(real_coco), "--scene", "dice_tray", "--arms", "synthetic_only",
                    "--synthetic", "6", "--val-count", "3", *TINY_RENDER, "--adapter", str(model),
                    "--out", str(tmp_path / "run")])  # fmt: skip
    assert code == 2
    assert f"--adapter {model}: fitted on 3 of the real test photos" in capsys.readouterr().err
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()
