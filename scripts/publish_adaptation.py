"""Gather one domain-adaptation study into benchmark/results/NAME_adapt.{json,md}.

Why a script: the study is a handful of `scenesmith adapt check` and `scenesmith gap` outputs (one
per adapter, plus the gap before adaptation), and the issue's targets compare them to each other.
Copying the numbers by hand invites mistakes; this reads the files the commands wrote and nothing
else.

Expected layout of STUDY (what scripts/adaptation_study.sh writes):
  gap_none/gap.json                 gap of the plain synthetic set to the real train split
  models/<method>/adapter.json      each fitted adapter
  check_<method>.json               `adapt check` (label alignment, no-copy)
  gap_<method>/gap.json             gap of the adapted set to the real train split

Usage: python scripts/publish_adaptation.py STUDY NAME [--command TEXT]
       python scripts/publish_adaptation.py --record NAME   (what publish_benchmark.py does)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scenesmith.annotate.atomic import atomic_write_text

AUC_DROP_TARGET = 0.15
ALIGNMENT_TARGET = 0.9
RESULTS = Path(__file__).resolve().parent.parent / "benchmark" / "results"


def _gap_summary(gap: dict) -> dict:
    # studies measured before the band test existed have no bands: None, drawn as "—"
    layout, texture = (gap.get("classifier_bands", {}).get(band, {}) for band in ("layout", "texture"))
    return {
        "image_auc": gap["classifier_images"]["auc"],
        "image_auc_ci95": gap["classifier_images"]["ci95"],
        "layout_auc": layout.get("auc"),
        "layout_cells": layout.get("cells"),
        "texture_auc": texture.get("auc"),
        "texture_cells": texture.get("cells"),
        "crop_auc": gap["classifier_crops"]["auc"],
        "crop_auc_ci95": gap["classifier_crops"]["ci95"],
        "kid": gap["kid"]["a_vs_b"]["mean"],
        "kid_sd": gap["kid"]["a_vs_b"]["sd"],
        "low_level_normalised": {
            name: value["normalised"] for name, value in gap["low_level"].items() if "normalised" in value
        },
        "spectrum_mean_abs_log10_gap": gap["low_level"]["radial_spectrum"]["mean_abs_log10_gap"],
        "largest_label_distances": gap["label_distances"][:5],
    }


def _auc_target(before: dict, after: dict) -> dict:
    """Drop of the image AUC, and whether it is ≥ the target with the two intervals apart."""
    drop = before["image_auc"] - after["image_auc"]
    apart = after["image_auc_ci95"][1] < before["image_auc_ci95"][0]
    return {"drop": drop, "intervals_apart": apart, "met": drop >= AUC_DROP_TARGET and apart}


def collect(study: Path) -> dict:
    gap_none = json.loads((study / "gap_none" / "gap.json").read_text())
    before = _gap_summary(gap_none)
    adapters = {}
    for model in sorted((study / "models").glob("*/adapter.json")):
        method = model.parent.name
        gap_path, check_path = study / f"gap_{method}" / "gap.json", study / f"check_{method}.json"
        if not (gap_path.exists() and check_path.exists()):
            continue
        fitted = json.loads(model.read_text())
        check = json.loads(check_path.read_text())
        after = _gap_summary(json.loads(gap_path.read_text()))
        alignment = check["label_alignment"]["ratio"]
        adapters[method] = {
            "options": fitted.get("options", {}),
            "steps": fitted.get("steps"),
            "gap": after,
            "auc_target": _auc_target(before, after),
            "label_alignment": alignment,
            "alignment_met": alignment >= ALIGNMENT_TARGET,
            "outline_contrast": check["label_alignment"]["outline_contrast_ratio"],
            "near_copies": len(check["no_copy"]["near_copies"]),
            "nearest_real_distance": check["no_copy"]["nearest_distance"],
            "real_to_real_nearest_distance": check["no_copy"]["real_to_real_nearest_distance"],
        }
    synthetic = {"folder": Path(gap_none["a"]["source"]).name, "images": gap_none["a"]["images"]}
    return {"synthetic": synthetic, "before": before, "adapters": adapters}


def _interval(value: float, ci: list[float]) -> str:
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def _bands(gap: dict) -> str:
    """The layout and texture band AUCs of one gap, or a dash for a gap measured before the bands."""
    if gap["layout_auc"] is None:
        return "—"
    return f"{gap['layout_auc']:.3f} / {gap['texture_auc']:.3f}"


def markdown(summary: dict, command: str) -> str:
    before = summary["before"]
    lines = [
        "# Domain adaptation on dice: gap to the real train photos, before and after each adapter",
        "",
        f"Command: `{command}`" if command else "",
        "",
        f"Synthetic set: `{summary['synthetic']['folder']}` ({summary['synthetic']['images']} images); "
        "real: the train split.",
        "",
        f"Targets: image-classifier AUC lower by ≥ {AUC_DROP_TARGET} with the 95% intervals apart; "
        f"label alignment (adapted ÷ original) ≥ {ALIGNMENT_TARGET}; no near-copies of real photos.",
        "",
        "| set | image AUC [95% CI] | AUC drop (target met) | layout / texture band AUC | "
        "crop AUC [95% CI] | KID ± sd | label alignment | outline contrast | near-copies | "
        "nearest real photo min / median |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| none | {_interval(before['image_auc'], before['image_auc_ci95'])} | — | {_bands(before)} | "
        f"{_interval(before['crop_auc'], before['crop_auc_ci95'])} | {before['kid']:.4f} | 1 | 1 | — | — |",
    ]
    for method, row in summary["adapters"].items():
        gap, target, near = row["gap"], row["auc_target"], row["nearest_real_distance"]
        steps = f" ({row['steps']} steps)" if row.get("steps") else ""
        lines.append(
            f"| {method}{steps} | {_interval(gap['image_auc'], gap['image_auc_ci95'])} | "
            f"{target['drop']:+.3f} ({'yes' if target['met'] else 'no'}) | {_bands(gap)} | "
            f"{_interval(gap['crop_auc'], gap['crop_auc_ci95'])} | {gap['kid']:.4f} ± {gap['kid_sd']:.4f} | "
            f"{row['label_alignment']:.3f} ({'ok' if row['alignment_met'] else 'below target'}) | "
            f"{row['outline_contrast']:.2f} | "
            f"{row['near_copies']} | {near['min']:.3f} / {near['median']:.3f} |"
        )
    stats = list(before["low_level_normalised"])
    with_bands = [g for g in (before, *(r["gap"] for r in summary["adapters"].values())) if g["layout_cells"]]
    if with_bands:
        layout, texture = with_bands[0]["layout_cells"], with_bands[0]["texture_cells"]
        lines += [
            "",
            f"Bands: the image test again on a {layout}×{layout} grid of cell means only (layout: what is "
            f"where, which the scene rules decide, and its tones) and on what a {texture}×{texture} grid's "
            "means remove (texture: what an adapter can reach).",
        ]
    lines += [
        "",
        "Outline contrast: the median grey gradient on the labelled instance outlines, adapted ÷ original: "
        "how much of each outline is left where the mask puts it (fading, blurring and moving all lower "
        "it). Label alignment counts only the outlines still above the edge detector's fixed thresholds.",
        "",
        "Low-level statistics, Wasserstein distance ÷ pooled sd (0 = same distribution):",
        "",
        "| set | " + " | ".join(stats) + " |",
        "|---|" + "---|" * len(stats),
        "| none | " + " | ".join(f"{before['low_level_normalised'][s]:.2f}" for s in stats) + " |",
    ]
    for method, row in summary["adapters"].items():
        values = row["gap"]["low_level_normalised"]
        lines.append(f"| {method} | " + " | ".join(f"{values[s]:.2f}" for s in stats) + " |")
    return "\n".join(lines) + "\n"


def record_in_benchmark(bench_path: Path, adapt_path: Path) -> None:
    """Copy each adapter's targets into the benchmark's results file (NAME.json), as the issue asks,
    with the adapted-arm gain from the benchmark's headline where that adapter was trained.

    Why here: both publishers call it (a new study, or a new benchmark run), so NAME.json is never left
    with the other one's stale numbers, and the study's format is read in one place.
    """
    bench, adapt = json.loads(bench_path.read_text()), json.loads(adapt_path.read_text())
    per_adapter = {}
    for method, study in adapt["adapters"].items():
        gain = bench["headline"].get(f"adapted_{method}_only_minus_synthetic_only_points")
        after = bench["headline"].get(f"adapted_{method}_to_10_minus_synthetic_to_10_points")
        per_adapter[method] = {
            "image_auc_drop": study["auc_target"]["drop"],
            "image_auc_drop_met": study["auc_target"]["met"],
            "label_alignment": study["label_alignment"],
            "label_alignment_met": study["alignment_met"],
            "outline_contrast": study["outline_contrast"],
            "near_copies": study["near_copies"],
            "adapted_only_minus_synthetic_only_points": None if gain is None else gain["value"],
            "adapted_to_10_minus_synthetic_to_10_points": None if after is None else after["value"],
        }
    bench["domain_adaptation"] = {
        "study": adapt_path.name,
        "image_auc_before": adapt["before"]["image_auc"],
        "adapters": per_adapter,
    }
    atomic_write_text(bench_path, json.dumps(bench, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, nargs="?", help="omit with --record")
    parser.add_argument("name")
    parser.add_argument("--command", default="", help="the command that produced the study, for the record")
    parser.add_argument(
        "--record", action="store_true", help="only record NAME_adapt.json's targets in NAME.json"
    )
    args = parser.parse_args()
    bench_path, adapt_path = RESULTS / f"{args.name}.json", RESULTS / f"{args.name}_adapt.json"
    if not args.record:
        if args.study is None:
            parser.error("STUDY is required unless --record")
        summary = collect(args.study)
        summary["command"] = args.command
        atomic_write_text(adapt_path, json.dumps(summary, indent=2) + "\n")
        atomic_write_text(RESULTS / f"{args.name}_adapt.md", markdown(summary, args.command))
        print(f"published {args.study} → {RESULTS / args.name}_adapt.{{json,md}}")
    if bench_path.exists() and adapt_path.exists():
        record_in_benchmark(bench_path, adapt_path)
        print(f"recorded the adapters' targets in {bench_path}")


if __name__ == "__main__":
    main()
