"""The 95% intervals of a published benchmark report recomputed with the corrected method
(`benchmark/intervals.py`, 2026-12-06), next to the ones it was published with: a Markdown table.

Why: reports written before then used a percentile bootstrap over 3 seeds, which covers about 80%;
their runs keep every score and test-image draw, so the corrected intervals follow without retraining.
Usage: python scripts/recompute_intervals.py benchmark/results/dice.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from scenesmith.benchmark.report import arm_ratio_interval, difference_interval, summarize

DIFFERENCES = {
    "synthetic_to_10_minus_real_10_points": ("synthetic_to_10", "real_10"),
    "synthetic_to_10_minus_control_to_10_points": ("synthetic_to_10", "control_to_10"),
    "adapted_fda_only_minus_synthetic_only_points": ("adapted_fda_only", "synthetic_only"),
    "adapted_fda_to_10_minus_synthetic_to_10_points": ("adapted_fda_to_10", "synthetic_to_10"),
}


def main(path: Path) -> None:
    report = json.loads(path.read_text())
    records = [run for arm in report["arms"].values() for run in arm["seeds"]]
    print("| arm | mean | old 95% CI | new 95% CI |\n|---|---|---|---|")
    for name, arm in report["arms"].items():
        draws = [run["test"].get("map_image_resamples") for run in arm["seeds"]]
        new = summarize([run["test"]["map"] for run in arm["seeds"]], None if None in draws else draws)
        (old_low, old_high), (low, high) = arm["map"]["ci95"], new["ci95"]
        print(f"| {name} | {new['mean']:.3f} | [{old_low:.3f}, {old_high:.3f}] | [{low:.3f}, {high:.3f}] |")
    print("\n| headline difference (points) | value | old 95% CI | new 95% CI |\n|---|---|---|---|")
    for key, (arm, other) in DIFFERENCES.items():
        published = report["headline"].get(key)
        if published is None or arm not in report["arms"] or other not in report["arms"]:
            continue
        (old_low, old_high), (low, high) = published["ci95"], difference_interval(records, arm, other)
        value = published["value"]
        print(f"| {key} | {value:.2f} | [{old_low:.1f}, {old_high:.1f}] | [{low:.1f}, {high:.1f}] |")
    print("\n| ratio to real-100% | value | 95% CI (none was published) |\n|---|---|---|")
    for name in ("synthetic_only", "synthetic_to_10"):
        if name in report["arms"] and "real_100" in report["arms"]:
            low, high = arm_ratio_interval(report["arms"][name], report["arms"]["real_100"])
            value = report["arms"][name]["ratio_to_real_100"]["map"]
            print(f"| {name} | {value:.3f} | [{low:.2f}, {high:.2f}] |")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
