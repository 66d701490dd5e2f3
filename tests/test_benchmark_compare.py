"""`scenesmith compare`: paired per-seed differences between two benchmark runs, on hand-made reports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scenesmith.benchmark.compare import compare_reports, markdown
from scenesmith.cli import main
from scenesmith.errors import UserError


def _seed(seed: int, test_map: float, val_map: float | None, ids: list[int], best: float = 0.0) -> dict:
    record = {
        "seed": seed,
        "train_image_ids": ids,
        "best_val_map": best,
        "test": {"map": test_map, "die_map50": 0.9},
    }
    if val_map is not None:
        record["real_val"] = {"map": val_map}
    return record


def _report(arms: dict[str, dict], val_images: int = 40) -> dict:
    return {"command": "scenesmith benchmark ...", "real_val_images": val_images, "arms": arms}


def _run(arm: str, seeds: list[dict], real_fraction: float = 0.1) -> dict:
    """A report holding one arm."""
    return _report({arm: {"real_fraction": real_fraction, "seeds": seeds}})


def test_paired_seeds_give_mean_difference_and_count_of_seeds_that_improved() -> None:
    before = _run(
        "synthetic_to_10",
        [_seed(0, 0.30, 0.40, [1, 2]), _seed(1, 0.35, 0.45, [3, 4]), _seed(2, 0.40, 0.50, [5, 6])],
    )
    after = _run(
        "synthetic_to_10",
        [_seed(0, 0.32, 0.46, [1, 2]), _seed(1, 0.34, 0.44, [3, 4]), _seed(2, 0.43, 0.53, [5, 6])],
    )

    result = compare_reports(before, after)["arms"]["synthetic_to_10"]

    assert result["real val mAP"]["mean_delta"] == pytest.approx((0.06 - 0.01 + 0.03) / 3)
    assert result["real val mAP"]["improved"] == 2
    assert result["test mAP"]["mean_delta"] == pytest.approx((0.02 - 0.01 + 0.03) / 3)
    assert result["test die AP50"]["mean_delta"] == pytest.approx(0.0)
    assert result["test die AP50"]["improved"] == 0


def test_the_delta_of_an_map_has_an_interval_over_the_paired_seeds_and_the_scored_photos() -> None:
    """A rules change worth exactly +0.02 on every seed and every draw of the photos: [+0.02, +0.02];
    one whose seeds disagree: an interval that spans 0, however positive the mean."""
    photos = np.random.default_rng(0).normal(0, 0.04, 200)

    def seed(k: int, val_map: float) -> dict:
        record = _seed(k, 0.3, val_map, [k])
        record["real_val"]["map_image_resamples"] = list(val_map + photos)
        return record

    before = _run("synthetic_only", [seed(0, 0.30), seed(1, 0.34), seed(2, 0.38)], real_fraction=0.0)
    steady = _run("synthetic_only", [seed(0, 0.32), seed(1, 0.36), seed(2, 0.40)], real_fraction=0.0)
    result = compare_reports(before, steady)["arms"]["synthetic_only"]
    assert result["real val mAP"]["delta_ci95"] == pytest.approx([0.02, 0.02])
    assert result["test mAP"]["delta_ci95"] is None  # these test scores have no draws
    assert result["real val reading"]["delta_ci95"] is None  # draws are of the mAP only

    mixed = _run("synthetic_only", [seed(0, 0.38), seed(1, 0.31), seed(2, 0.35)], real_fraction=0.0)
    low, high = compare_reports(before, mixed)["arms"]["synthetic_only"]["real val mAP"]["delta_ci95"]
    assert low < 0 < high


def test_seed_drawn_on_other_images_is_shown_but_left_out_of_the_difference() -> None:
    before = _run("real_10", [_seed(0, 0.30, 0.40, [1, 2]), _seed(1, 0.30, 0.40, [3, 4])])
    after = _run("real_10", [_seed(0, 0.50, 0.60, [1, 2]), _seed(1, 0.90, 0.90, [7, 8])])

    result = compare_reports(before, after)["arms"]["real_10"]["real val mAP"]

    assert result["paired_seeds"] == 1
    assert result["mean_delta"] == pytest.approx(0.2)
    assert [row["unpaired_draw"] for row in result["seeds"]] == [False, True]


def test_reading_accuracy_on_real_val_is_compared_and_missing_in_old_reports() -> None:
    seeds = [_seed(0, 0.1, 0.1, []), _seed(1, 0.1, 0.1, [])]
    before = _run("synthetic_only", seeds, real_fraction=0.0)
    after = _run("synthetic_only", [_seed(0, 0.1, 0.1, []), _seed(1, 0.1, 0.1, [])], real_fraction=0.0)
    for seed, (old, new) in enumerate(((0.4, 0.7), (None, 0.8))):
        if old is not None:
            before["arms"]["synthetic_only"]["seeds"][seed]["real_val"]["reading"] = {"accuracy": old}
        after["arms"]["synthetic_only"]["seeds"][seed]["real_val"]["reading"] = {"accuracy": new}

    result = compare_reports(before, after)["arms"]["synthetic_only"]["real val reading"]

    assert result["paired_seeds"] == 1 and result["improved"] == 1
    assert result["mean_delta"] == pytest.approx(0.3)
    assert result["seeds"][1]["before"] is None and result["seeds"][1]["after"] == pytest.approx(0.8)


def test_old_reports_without_real_val_fall_back_to_best_val_only_where_it_was_real_validation() -> None:
    before = _report(
        {
            "synthetic_to_10": {"real_fraction": 0.1, "seeds": [_seed(0, 0.3, None, [1], best=0.41)]},
            "synthetic_only": {"real_fraction": 0.0, "seeds": [_seed(0, 0.05, None, [], best=0.8)]},
        }
    )
    after = _report(
        {
            "synthetic_to_10": {"real_fraction": 0.1, "seeds": [_seed(0, 0.3, 0.43, [1])]},
            "synthetic_only": {"real_fraction": 0.0, "seeds": [_seed(0, 0.06, 0.10, [])]},
        }
    )

    arms = compare_reports(before, after)["arms"]

    assert arms["synthetic_to_10"]["real val mAP"]["mean_delta"] == pytest.approx(0.02)
    # synthetic_only chose on synthetic validation: its best_val_map is not a real-validation score
    assert arms["synthetic_only"]["real val mAP"]["seeds"][0]["before"] is None
    assert arms["synthetic_only"]["real val mAP"]["mean_delta"] is None


def test_runs_on_different_validation_splits_are_refused() -> None:
    with pytest.raises(UserError, match="different real validation or test photos"):
        compare_reports(_report({}, val_images=40), _report({}, val_images=30))
    # As many photos from another split seed: the ids tell them apart (older reports have no ids).
    before, after = _report({}, val_images=2), _report({}, val_images=2)
    before["real_val_image_ids"], after["real_val_image_ids"] = [3, 7], [3, 8]
    with pytest.raises(UserError, match="real_val_image_ids differ"):
        compare_reports(before, after)
    del before["real_val_image_ids"]
    compare_reports(before, after)


def test_cli_prints_the_table_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for name, score in (("a", 0.3), ("b", 0.4)):
        run = tmp_path / name
        run.mkdir()
        arms = {
            "real_10": {"real_fraction": 0.1, "seeds": [_seed(0, score, score, [1])]},
            name: {"seeds": []},
        }
        (run / "report.json").write_text(json.dumps(_report(arms)))

    with pytest.raises(SystemExit) as exit_info:
        main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json", str(tmp_path / "c.json")])

    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "| real_10 | real val mAP | 0.300 → 0.400 | +0.100 | n/a | 1/1 |" in out  # no image draws
    assert "Arms only in before: a." in out and "Arms only in after: b." in out
    assert json.loads((tmp_path / "c.json").read_text())["arms"]["real_10"]["test mAP"]["improved"] == 1


def test_cli_names_the_missing_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", str(tmp_path), str(tmp_path)])

    assert exit_info.value.code == 2
    assert f"{tmp_path / 'report.json'}: no benchmark report here" in capsys.readouterr().err


def test_runs_scored_with_different_test_time_augmentation_are_compared_under_a_warning() -> None:
    """Comparing the same runs scored plainly and with `--tta dihedral` measures the augmentation; any
    other comparison across it would credit the change with the augmentation's gain."""
    seeds = [_seed(0, 0.30, 0.40, [1, 2])]
    plain, averaged = _run("synthetic_to_10", seeds), _run("synthetic_to_10", seeds)
    averaged["tta"] = "dihedral"  # `plain` is a report from before the option: scored as the photos are
    warning = "**Scored differently:** before with `--tta none`, after with `--tta dihedral`"
    assert warning in markdown(compare_reports(plain, averaged), "a", "b")
    assert "Scored differently" not in markdown(compare_reports(averaged, averaged), "a", "b")


def test_runs_scored_with_and_without_box_calibration_are_compared_under_a_warning() -> None:
    """Calibrated boxes lift every run with real labels by a few points: a comparison across the setting
    would credit the change with that gain."""
    seeds = [_seed(0, 0.30, 0.40, [1, 2])]
    plain, calibrated = _run("synthetic_to_10", seeds), _run("synthetic_to_10", seeds)
    calibrated["box_calibration"] = "validation"  # `plain` is from before the option: boxes as trained
    text = markdown(compare_reports(plain, calibrated), "a", "b")
    assert "before with `--box-calibration none`, after with `--box-calibration validation`" in text
    assert "--tta" not in text
