"""Bring a published benchmark report's intervals up to the current method, in its JSON and Markdown.

Why: reports written before 2026-12-06 carry a percentile bootstrap over 3 seeds, which covers about
80%, and no ratio intervals; their runs keep every score and test-image draw, so the intervals follow
without retraining. Every summary, ratio and headline number is recomputed from the report's own runs
by the code that writes new reports (`report.aggregate`, `report.headline`), the Markdown is written
again by `report.markdown` (picture links renamed by `benchmark.publish`, as on publishing), and the
intervals as first published are kept: under `intervals_as_first_published` in the JSON, and in a table
at the end of the Markdown.
Usage: python scripts/recompute_intervals.py benchmark/results/dice.json [more.json ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from scenesmith.annotate.atomic import atomic_write_json, atomic_write_text
from scenesmith.benchmark.publish import published_markdown
from scenesmith.benchmark.report import aggregate, headline, markdown

# What `aggregate` computes from the runs; every other key of an arm is its description.
COMPUTED = {
    "map",
    "map50",
    "die_map",
    "die_map50",
    "per_class_ap",
    "real_val_map",
    "test_reading",
    "test_box_scale",
    "steps",
    "train_seconds",
    "seeds",
    "runs_stopped_by_step_cap",
    "ratio_to_real_100",
    "ratio_to_real_100_ci95",
}


def recompute(report: dict) -> dict:
    """The report with its arms and headline recomputed from its runs; the old intervals kept."""
    records = [run for arm in report["arms"].values() for run in arm["seeds"]]
    infos = {
        name: {k: v for k, v in arm.items() if k not in COMPUTED} for name, arm in report["arms"].items()
    }
    old = report.get("intervals_as_first_published") or {
        "arms": {name: arm["map"]["ci95"] for name, arm in report["arms"].items()},
        "headline": {key: value.get("ci95") for key, value in report["headline"].items() if "ci95" in value},
    }
    arms = aggregate(records, infos)
    # Every published report has the default headline fraction, 10%.
    return {
        **report,
        "arms": arms,
        "headline": headline(arms, "10", records),
        "intervals_as_first_published": old,
    }


def first_published_table(report: dict) -> list[str]:
    """Old and current 95% intervals side by side, for the end of the Markdown."""
    old = report["intervals_as_first_published"]
    lines = [
        "",
        "## Intervals as first published",
        "",
        "This report first carried 95% intervals from a percentile bootstrap over its 3 seeds, which cannot",
        "reach past the seeds' own range and held the true mean only about 80% of the time. Everything above",
        "was recomputed from the same runs with the current method (`scripts/recompute_intervals.py`).",
        "",
        "| | as first published | now |",
        "|---|---|---|",
    ]
    for name, interval in old["arms"].items():
        now = report["arms"][name]["map"]["ci95"]
        lines.append(
            f"| {name} mAP | [{interval[0]:.3f}, {interval[1]:.3f}] | [{now[0]:.3f}, {now[1]:.3f}] |"
        )
    for key, interval in old["headline"].items():
        now = report["headline"].get(key, {}).get("ci95")
        if interval and now:
            lines.append(f"| {key} | [{interval[0]:.2f}, {interval[1]:.2f}] | [{now[0]:.2f}, {now[1]:.2f}] |")
    return lines


def main(paths: list[Path]) -> None:
    for path in paths:
        report = recompute(json.loads(path.read_text()))
        atomic_write_json(path, report)
        text = published_markdown(markdown(report), path.stem)
        atomic_write_text(path.with_suffix(".md"), "\n".join([text, *first_published_table(report)]) + "\n")
        print(f"recomputed {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main([Path(arg) for arg in sys.argv[1:]])
