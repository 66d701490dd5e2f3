"""`scenesmith gap A B`: how distinguishable two image sets are, and in what.

Why several measures: a single number says whether the gap closed, not where it is. The classifier
two-sample test (on whole images and on object crops) is the headline — a held-out AUC with a
confidence interval, 0.5 = indistinguishable. KID on a fixed encoder tracks the same gap on a scale
comparable across runs (reported beside KID between two halves of A, the noise floor). Low-level
statistics and the label-distribution distances of `scenesmith stats` say what to change.
All measures see the sets after the same resize/JPEG pipeline (`gap_data`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from scenesmith.annotate.atomic import atomic_save, atomic_write_json, atomic_write_text
from scenesmith.annotate.stats import compare, compute_stats
from scenesmith.domain_adapt.encoder import ENCODER_VERSION, encode, load_encoder
from scenesmith.domain_adapt.gap_bands import LAYOUT_CELLS, TEXTURE_CELLS, layout_band, texture_band
from scenesmith.domain_adapt.gap_classifier import two_sample_test
from scenesmith.domain_adapt.gap_data import IMAGE_SIZE, JPEG_QUALITY, load_image_set
from scenesmith.domain_adapt.gap_stats import compare_low_level, kid, per_image_statistics
from scenesmith.errors import UserError

MIN_CROPS = 20  # fewer object crops than this per set: the crop test is skipped (and says so)
CLASSIFIER_IMAGE_SIZE = 128
# Classifier tests per measure: their spread goes into the interval, since one classifier's draw can
# move the AUC by more than the bootstrap over images shows (`gap_classifier`).
CLASSIFIER_REPEATS = 3


def _downsize(images: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])


def measure_gap(
    a: Path,
    b: Path,
    split_a: str | None = None,
    split_b: str | None = None,
    max_images: int | None = 400,
    seed: int = 0,
    steps: int = 300,
    folds: int = 5,
    repeats: int = CLASSIFIER_REPEATS,
) -> dict:
    """Every gap measure between sets A and B, as one JSON-able report; each classifier test runs
    `repeats` times (see `gap_classifier.two_sample_test`)."""
    if folds < 2:  # one fold trains on nothing and reports AUC 0 as if it were a measurement
        raise UserError(f"folds={folds}: the held-out AUC needs at least 2 folds")
    if repeats < 1:
        raise UserError(f"repeats={repeats}: the classifier test must run at least once")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    set_a = load_image_set(a, split_a, max_images, rng)
    set_b = load_image_set(b, split_b, max_images, rng)
    report: dict = {
        "a": {"source": str(a), "split": split_a, "images": len(set_a.images), "crops": len(set_a.crops)},
        "b": {"source": str(b), "split": split_b, "images": len(set_b.images), "crops": len(set_b.crops)},
        "preprocessing": {"short_side": IMAGE_SIZE, "centre_crop": IMAGE_SIZE, "jpeg_quality": JPEG_QUALITY},
        "seed": seed,
    }
    fewest = min(len(set_a.images), len(set_b.images))
    if folds > fewest:  # a fold without a test image of a set trains a classifier for nothing
        raise UserError(f"--folds {folds}: more folds than images in the smaller set ({fewest})")
    small_a, small_b = (_downsize(s.images, CLASSIFIER_IMAGE_SIZE) for s in (set_a, set_b))
    report["classifier_images"] = two_sample_test(small_a, small_b, steps, folds, seed, repeats=repeats)
    report["classifier_bands"] = {
        "layout": {"cells": LAYOUT_CELLS}
        | two_sample_test(layout_band(small_a), layout_band(small_b), steps, folds, seed, repeats=repeats),
        "texture": {"cells": TEXTURE_CELLS}
        | two_sample_test(texture_band(small_a), texture_band(small_b), steps, folds, seed, repeats=repeats),
    }
    if min(len(set_a.crops), len(set_b.crops)) >= MIN_CROPS:
        crop_groups = (set_a.crop_images, set_b.crop_images)
        report["classifier_crops"] = two_sample_test(
            set_a.crops, set_b.crops, steps, folds, seed, groups=crop_groups, repeats=repeats
        )
    else:
        report["classifier_crops"] = {"skipped": f"fewer than {MIN_CROPS} labelled object crops in a set"}
    encoder = load_encoder()
    features_a, features_b = encode(encoder, set_a.images), encode(encoder, set_b.images)
    half = rng.permutation(len(features_a))
    report["kid"] = {
        "encoder_version": ENCODER_VERSION,
        "a_vs_b": kid(features_a, features_b, rng),
        "a_half_vs_half": kid(features_a[half[::2]], features_a[half[1::2]], rng),
    }
    report["low_level"] = compare_low_level(
        per_image_statistics(set_a.images), per_image_statistics(set_b.images)
    )
    if all(s.dataset is not None and s.dataset.annotations for s in (set_a, set_b)):  # both carry boxes
        distances = compare(compute_stats(set_a.dataset), compute_stats(set_b.dataset))
        report["label_distances"] = [
            {"statistic": d.statistic, "kind": d.kind, "raw": d.raw, "normalised": d.normalised}
            for d in distances
        ]
    report["seconds"] = time.perf_counter() - started
    return report


def summary_line(report: dict) -> str:
    c, bands = report["classifier_images"], report["classifier_bands"]
    return (
        f"image AUC {c['auc']:.3f} [{c['ci95'][0]:.3f}, {c['ci95'][1]:.3f}] (0.5 = indistinguishable); "
        f"layout band {bands['layout']['auc']:.3f}, texture band {bands['texture']['auc']:.3f}"
    )


def markdown(report: dict) -> str:
    def auc_row(name: str, c: dict) -> str:
        if "skipped" in c:
            return f"| {name} | skipped: {c['skipped']} |"
        interval = f"[{c['ci95'][0]:.3f}, {c['ci95'][1]:.3f}]"
        repeats = c.get("repeats", 1)  # reports made before repeats existed ran one classifier
        runs = f"{repeats} classifiers, mean" if repeats > 1 else "one classifier"
        return f"| {name} | {c['auc']:.3f} {interval} ({c['images_per_set']} per set; {runs}) |"

    k = report["kid"]
    bands = report["classifier_bands"]
    layout, texture = bands["layout"]["cells"], bands["texture"]["cells"]
    lines = [
        f"# Gap: `{report['a']['source']}` vs `{report['b']['source']}`",
        "",
        f"{report['a']['images']} vs {report['b']['images']} images, after the same resize/JPEG pipeline.",
        "",
        "| classifier two-sample test | held-out AUC [95% CI] |",
        "|---|---|",
        auc_row("whole images", report["classifier_images"]),
        auc_row(f"layout band ({layout}×{layout} cell means)", bands["layout"]),
        auc_row(f"texture band (minus {texture}×{texture} cell means)", bands["texture"]),
        auc_row("object crops", report["classifier_crops"]),
        "",
        f"The layout band keeps only where things are and their tones and tint (a cell is "
        f"{CLASSIFIER_IMAGE_SIZE // layout} px of the classifier's {CLASSIFIER_IMAGE_SIZE} px: objects "
        "that small show only as a cell's tone). What is where, the scene rules decide; an appearance "
        "adapter can change only the tones. The texture band keeps only noise, grain, edges and the "
        "insides of small objects: what an adapter can reach.",
        "",
        f"KID (encoder v{k['encoder_version']}): A↔B {k['a_vs_b']['mean']:.4f} ± {k['a_vs_b']['sd']:.4f}; "
        f"two halves of A {k['a_half_vs_half']['mean']:.4f} ± {k['a_half_vs_half']['sd']:.4f}.",
        "",
        "| low-level statistic | mean A | mean B | W1 ÷ pooled sd |",
        "|---|---|---|---|",
    ]
    for key, value in report["low_level"].items():
        if key != "radial_spectrum":
            lines.append(
                f"| {key} | {value['mean_a']:.3f} | {value['mean_b']:.3f} | {value['normalised']:.3f} |"
            )
    spectrum = report["low_level"]["radial_spectrum"]
    lines += [
        "",
        f"Radial power spectrum: mean |Δ log10 power| {spectrum['mean_abs_log10_gap']:.3f}; "
        f"slope A {spectrum['slope_a']:.2f}, B {spectrum['slope_b']:.2f}.",
        "",
        "![gap](gap.png)",
        "",
    ]
    if "label_distances" in report:
        lines += ["| label statistic (largest first) | normalised distance |", "|---|---|"]
        lines += [f"| {d['statistic']} | {d['normalised']:.3f} |" for d in report["label_distances"][:10]]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    figure = Figure(figsize=(10, 4))
    FigureCanvasAgg(figure)
    spectrum_ax, auc_ax = figure.subplots(1, 2)
    s = report["low_level"]["radial_spectrum"]
    spectrum_ax.plot(s["frequency_cycles_per_px"], s["log10_power_a"], label="A")
    spectrum_ax.plot(s["frequency_cycles_per_px"], s["log10_power_b"], label="B")
    spectrum_ax.set(xscale="log", xlabel="cycles / px", ylabel="log10 power", title="radial power spectrum")
    spectrum_ax.legend()
    candidates = [
        ("images", report["classifier_images"]),
        ("layout", report["classifier_bands"]["layout"]),
        ("texture", report["classifier_bands"]["texture"]),
        ("crops", report["classifier_crops"]),
    ]
    tests = [(name, c) for name, c in candidates if "auc" in c]
    for i, (_, c) in enumerate(tests):
        auc_ax.bar(i, c["auc"], yerr=[[c["auc"] - c["ci95"][0]], [c["ci95"][1] - c["auc"]]], capsize=6)
    auc_ax.axhline(0.5, ls="--", color="grey")
    auc_ax.set(xticks=range(len(tests)), xticklabels=[n for n, _ in tests], ylim=(0, 1), title="domain AUC")
    figure.tight_layout()
    atomic_save(path, lambda tmp: figure.savefig(tmp, dpi=100, format="png"))


def write_gap_report(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    plot(report, out / "gap.png")
    atomic_write_json(out / "gap.json", report)
    atomic_write_text(out / "gap.md", markdown(report))
