"""The adaptation study summary reads the targets off the `gap` and `adapt check` files correctly."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "publish_adaptation.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("publish_adaptation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gap(auc: float, ci: list[float], bands: tuple[float, float] | None = None) -> dict:
    stat = {"mean_a": 1.0, "mean_b": 1.0, "wasserstein": 0.1, "normalised": 0.2}
    measured = (
        {}
        if bands is None
        else {
            "classifier_bands": {
                "layout": {"auc": bands[0], "cells": 16},
                "texture": {"auc": bands[1], "cells": 32},
            }
        }
    )
    return measured | {
        "a": {"source": "/cache/synthetic/dice_set", "split": None, "images": 12, "crops": 30},
        "classifier_images": {"auc": auc, "ci95": ci},
        "classifier_crops": {"auc": auc, "ci95": ci},
        "kid": {"a_vs_b": {"mean": 0.01, "sd": 0.001}},
        "low_level": {"brightness": stat, "radial_spectrum": {"mean_abs_log10_gap": 0.3}},
        "label_distances": [{"statistic": "box_aspect", "normalised": 0.8}],
    }


def _check(ratio: float, copies: int, contrast: float = 1.0) -> dict:
    spread = {"min": 0.2, "median": 0.7}
    return {
        "label_alignment": {"ratio": ratio, "outline_contrast_ratio": contrast},
        "no_copy": {
            "near_copies": [{"image": "x"}] * copies,
            "nearest_distance": spread,
            "real_to_real_nearest_distance": spread,
        },
    }


def _write(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_targets_need_a_large_drop_with_separate_intervals_and_aligned_labels(tmp_path: Path) -> None:
    _write(tmp_path / "gap_none" / "gap.json", _gap(0.99, [0.97, 1.0]))
    studies = {
        "good": (_gap(0.70, [0.62, 0.78], bands=(0.97, 0.61)), _check(0.95, 0)),
        "overlapping": (_gap(0.84, [0.70, 0.975]), _check(0.95, 0)),  # drop 0.15 but intervals overlap
        "small": (_gap(0.95, [0.90, 0.96]), _check(0.80, 2, contrast=0.69)),
    }
    for method, (gap, check) in studies.items():
        _write(tmp_path / "models" / method / "adapter.json", {"method": method, "options": {}})
        _write(tmp_path / f"gap_{method}" / "gap.json", gap)
        _write(tmp_path / f"check_{method}.json", check)
    _write(tmp_path / "models" / "unmeasured" / "adapter.json", {"method": "unmeasured"})

    script = _load_script()
    summary = script.collect(tmp_path)
    adapters = summary["adapters"]
    assert set(adapters) == {"good", "overlapping", "small"}
    assert adapters["good"]["auc_target"]["met"] and adapters["good"]["alignment_met"]
    assert not adapters["overlapping"]["auc_target"]["met"]
    assert abs(adapters["overlapping"]["auc_target"]["drop"] - 0.15) < 1e-9
    assert not adapters["small"]["auc_target"]["met"] and not adapters["small"]["alignment_met"]
    assert adapters["small"]["near_copies"] == 2
    text = script.markdown(summary, "cmd")
    assert "| good | 0.700 [0.620, 0.780] | +0.290 (yes) | 0.970 / 0.610 |" in text
    assert "| none | 0.990 [0.970, 1.000] | — | — |" in text  # a gap measured before the bands existed
    assert "on a 16×16 grid of cell means only" in text
    assert "| 0.800 (below target) | 0.69 | 2 |" in text  # a faded outline, told apart from a moved one
    assert "Synthetic set: `dice_set` (12 images)" in text  # which renders the study measured


def test_the_targets_are_recorded_in_the_benchmark_results_with_the_arm_gain(tmp_path: Path) -> None:
    """Only an adapter the benchmark trained gets a gain; the benchmark's own keys stay as they were."""
    study = {
        "before": {"image_auc": 0.99},
        "adapters": {
            method: {
                "auc_target": {"drop": 0.2, "met": True},
                "label_alignment": 0.95,
                "alignment_met": True,
                "outline_contrast": 0.98,
                "near_copies": 0,
            }
            for method in ("fda", "sensor")
        },
    }
    bench = {
        "headline": {
            "adapted_fda_only_minus_synthetic_only_points": {"value": 4.9, "target": 3.0},
            "adapted_fda_to_10_minus_synthetic_to_10_points": {"value": 0.9, "target": None},
        }
    }
    _write(tmp_path / "dice_adapt.json", study)
    _write(tmp_path / "dice.json", bench)
    _load_script().record_in_benchmark(tmp_path / "dice.json", tmp_path / "dice_adapt.json")
    recorded = json.loads((tmp_path / "dice.json").read_text())
    assert recorded["headline"] == bench["headline"]
    adaptation = recorded["domain_adaptation"]
    assert adaptation["study"] == "dice_adapt.json" and adaptation["image_auc_before"] == 0.99
    assert adaptation["adapters"]["fda"]["adapted_only_minus_synthetic_only_points"] == 4.9
    assert adaptation["adapters"]["sensor"]["adapted_only_minus_synthetic_only_points"] is None
    assert adaptation["adapters"]["fda"]["adapted_to_10_minus_synthetic_to_10_points"] == 0.9
    assert adaptation["adapters"]["sensor"]["adapted_to_10_minus_synthetic_to_10_points"] is None
    assert adaptation["adapters"]["sensor"]["image_auc_drop_met"]
